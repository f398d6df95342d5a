"""Reads landing partitions for one run and remembers exactly what it read (data lineage).

Three guarantees, because landing data is written by others and can change at any time:

* bounded: an object larger than `data.max_batch_bytes` (HEAD, before the download) or a
  parquet file whose footer announces more than `data.max_batch_rows` rows or
  `data.max_batch_uncompressed_bytes` is refused before it is decoded (`InputTooLarge`);
* consistent: one loader never hands out two different contents for the same key;
* pinned: given the partitions a validation read (`pinned`: key -> sha256), the loader reads
  exactly those bytes, or fails closed naming the partition that changed (`PartitionChanged`).
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd

from retrain.config import ModelConfig
from retrain.core.frames import from_bytes
from retrain.errors import DataValidationError, DeterministicError, MissingInputError
from retrain.keys import Keys, week_start
from retrain.storage import ObjectNotFound, S3Store, sha256_hex


class PartitionChanged(DeterministicError):
    """A landing partition's bytes differ from the ones validation read: never trained on."""


class InputTooLarge(DataValidationError):
    """A landing object exceeds the configured size/row limits; refused before decoding."""


def limits(cfg: ModelConfig) -> dict[str, int]:
    """The configured bounds (data.max_batch_*; positive integers, checked by retrain.config)."""
    return {name: getattr(cfg.data, name)
            for name in ("max_batch_bytes", "max_batch_rows", "max_batch_uncompressed_bytes")}


def _decoded_estimate(row_group) -> int:
    """Bytes a row group takes once decoded, at least: the footer's uncompressed size, or 8 bytes
    per value (strings: their length from the column statistics), whichever is larger. Run-length
    and dictionary encoding make the uncompressed size of repetitive data tiny; the values are not."""
    rows = int(row_group.num_rows)
    per_value = 0
    for j in range(row_group.num_columns):
        col = row_group.column(j)
        width = 8
        stats = col.statistics
        if col.physical_type == "BYTE_ARRAY" and stats is not None and stats.has_min_max:
            width += max(len(str(stats.min)), len(str(stats.max)))
        per_value += width
    return max(int(row_group.total_byte_size), rows * per_value)


def check_parquet_footer(data: bytes, uri: str, bounds: dict[str, int]) -> dict:
    """Rows and uncompressed size as the footer states them, refused above the limits.

    Reads only the footer (no column is decoded); an unreadable footer is a MissingInputError.
    """
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception as exc:  # broad ok: pyarrow raises many types for a corrupt footer; bytes are in memory (no I/O)
        raise MissingInputError(f"{uri} is not readable as parquet: {exc}") from exc
    rows = int(meta.num_rows)
    uncompressed = sum(_decoded_estimate(meta.row_group(i)) for i in range(meta.num_row_groups))
    if rows > bounds["max_batch_rows"]:
        raise InputTooLarge(f"batch too large: {uri} holds {rows:,} rows (parquet footer), "
                            f"more than data.max_batch_rows={bounds['max_batch_rows']:,}; refused before decoding")
    if uncompressed > bounds["max_batch_uncompressed_bytes"]:
        raise InputTooLarge(
            f"batch too large: {uri} decodes to at least {uncompressed:,} bytes (parquet footer, {len(data):,} bytes "
            f"stored), more than data.max_batch_uncompressed_bytes={bounds['max_batch_uncompressed_bytes']:,}; "
            "refused before decoding")
    return {"rows": rows, "uncompressed_bytes": uncompressed}


class LandingLoader:
    def __init__(self, store: S3Store, keys: Keys, cfg: ModelConfig, pinned: dict[str, str] | None = None):
        self.store, self.keys, self.cfg = store, keys, cfg
        self.lineage: dict[str, str] = {}  # key -> sha256 of every partition read
        self.partitions: dict[str, dict] = {}  # key -> {week, name, format, sha256, size, etag}
        self.pinned = dict(pinned) if pinned is not None else None

    def uri(self, key: str) -> str:
        return f"s3://{self.store.bucket}/{key}"

    def fetch(self, week: dt.date, name: str = "batch", fmt: str | None = None) -> bytes:
        """The object's bytes, size-checked (HEAD) before the download and pin-checked after."""
        fmt = fmt or self.cfg.data.format
        key = self.keys.landing(week, fmt, name)
        uri = self.uri(key)
        if self.pinned is not None and key not in self.pinned:
            raise PartitionChanged(f"landing partition {uri} was not read by this run's validation: "
                                   "it is not part of the validated window (re-run validate_data)")
        info = self.store.head(key)
        if info is None:
            if self.pinned is not None:
                raise PartitionChanged(f"landing partition {uri} was validated but no longer exists "
                                       "(re-run validate_data)")
            raise MissingInputError(f"landing batch {uri} does not exist")
        bound = limits(self.cfg)["max_batch_bytes"]
        if info.size > bound:
            raise InputTooLarge(f"batch too large: {uri} is {info.size:,} bytes, more than "
                                f"data.max_batch_bytes={bound:,}; refused before download")
        try:
            data, etag = self.store.get_with_etag(key)
        except ObjectNotFound as exc:
            raise MissingInputError(f"landing batch {uri} does not exist") from exc
        if len(data) > bound:  # replaced by a larger object between HEAD and GET
            raise InputTooLarge(f"batch too large: {uri} is {len(data):,} bytes, more than "
                                f"data.max_batch_bytes={bound:,}")
        digest = sha256_hex(data)
        if self.pinned is not None and digest != self.pinned[key]:
            raise PartitionChanged(
                f"landing partition {uri} changed after validation: validated sha256 {self.pinned[key][:16]}…, "
                f"now {digest[:16]}…; refusing to use bytes that were not validated (re-run validate_data)")
        if key in self.lineage and self.lineage[key] != digest:
            raise PartitionChanged(f"landing partition {uri} changed while this task was reading it "
                                   f"(sha256 {self.lineage[key][:16]}… then {digest[:16]}…)")
        self.lineage[key] = digest
        self.partitions[key] = {"week": week_start(week).isoformat(), "name": name, "format": fmt,
                                "sha256": digest, "size": len(data), "etag": etag}
        return data

    def decode(self, data: bytes, key: str, fmt: str) -> pd.DataFrame:
        """Bytes -> frame, parquet refused above the footer limits before decoding."""
        uri = self.uri(key)
        if fmt == "parquet":
            self.partitions.get(key, {}).update(check_parquet_footer(data, uri, limits(self.cfg)))
        return from_bytes(data, fmt, name=uri)

    def read(self, week: dt.date, name: str = "batch", fmt: str | None = None) -> pd.DataFrame:
        """One landing object; missing or unreadable -> MissingInputError naming the key."""
        fmt = fmt or self.cfg.data.format
        data = self.fetch(week, name, fmt)
        return self.decode(data, self.keys.landing(week, fmt, name), fmt)

    def exists(self, week: dt.date, name: str = "batch", fmt: str | None = None) -> bool:
        key = self.keys.landing(week, fmt or self.cfg.data.format, name)
        if self.pinned is not None:  # the validated window, not whatever landed since
            return key in self.pinned
        return self.store.exists(key)

    def batch(self, week: dt.date) -> pd.DataFrame:
        return self.read(week)

    def batches(self, weeks: list[dt.date], required: dt.date) -> dict[dt.date, pd.DataFrame]:
        """The landed weeks among `weeks`; `required` (the run's week) must be there."""
        out = {}
        for week in weeks:
            if week == required or self.exists(week):
                out[week] = self.read(week)
        return out
