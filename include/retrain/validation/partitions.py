"""Raw-batch validation of one landing partition, recorded once per content.

A partition is validated for its exact bytes: the record is keyed on (model, week, sha256 of
the bytes) under `Keys.partition_validation`, so it is reused while the bytes are unchanged
(and while the suite file is unchanged) and validated again when either changes. The newest
batch is validated every week by evaluate_triggers (skip weeks included); validate_data
reuses that record and validates every older partition of the window it has not seen yet.

Problems are named in the batch's own terms before the suite runs: "empty batch" (0 bytes),
"batch unreadable" (cannot be decoded), "batch too large" (size/row limits), "no rows"
(a header only), and duplicate rows of the batch's key columns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import MissingInputError
from retrain.validation.report import CRITICAL, CheckResult, ValidationReport, distinct_examples

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import ModelConfig
    from retrain.keys import Keys
    from retrain.pipeline.loader import LandingLoader
    from retrain.storage import S3Store

STAGE = "raw batch"


UNDECODED = ("batch_not_empty", "batch_readable", "batch_has_rows", "batch_within_limits")


def decoded(report: ValidationReport) -> bool:
    """False when the batch never became a frame (empty, unreadable, header only, too large)."""
    return not any(r.expectation_type in UNDECODED for r in report.critical_failures)


def suite_fingerprint(suite_path: Path | str) -> str:
    return hashlib.sha256(Path(suite_path).read_bytes()).hexdigest()


class PartitionRecords:
    """Validation records of landing partitions, keyed on (model, week, content sha256)."""

    def __init__(self, store: S3Store, keys: Keys):
        self.store, self.keys = store, keys

    def key(self, week: dt.date, sha256: str, name: str = "batch") -> str:
        return self.keys.partition_validation(week, name, sha256)

    def validated(self, week: dt.date, sha256: str, name: str = "batch",
                  suite_sha256: str | None = None) -> dict | None:
        """The record of these exact bytes (and this suite, if given), or None if never validated."""
        from retrain.storage import ObjectNotFound

        try:
            record = self.store.get_json(self.key(week, sha256, name))
        except ObjectNotFound:
            return None
        if suite_sha256 is not None and record.get("suite_sha256") != suite_sha256:
            return None
        return record

    def save(self, record: dict) -> str:
        key = self.key(dt.date.fromisoformat(record["week"]), record["sha256"], record["name"])
        self.store.put_json(key, record)
        return key


def _check(name: str, success: bool, message: str, severity: str = CRITICAL, **kw: Any) -> CheckResult:
    return CheckResult(expectation_type=name, severity=severity, success=success, message=message,
                       source="batch", **kw)


def key_columns(cfg: ModelConfig) -> list[str]:
    """The columns that identify one row of a batch (e.g. Store + Date)."""
    return [c for c in (cfg.data.id_column, cfg.data.timestamp_column) if c]


def duplicate_rows(frame: pd.DataFrame, columns: list[str]) -> CheckResult | None:
    """Rows repeating an earlier row's key, counted in this batch; None when a key column is
    missing (the suite's column check reports that)."""
    if not columns or any(c not in frame.columns for c in columns):
        return None
    dup = frame.duplicated(columns, keep="first")
    n = int(dup.sum())
    what = " and ".join(columns)
    examples = distinct_examples(frame.loc[dup, columns].astype(str).agg(" / ".join, axis=1).head(50))
    message = (f"{n} duplicate rows in this week's batch (same {what} as an earlier row); examples: {examples}"
               if n else f"no duplicate {what} in this week's batch")
    return _check("batch_rows_unique", not n, message, kwargs={"columns": columns}, observed_value=n,
                  unexpected_count=n, unexpected_percent=round(100.0 * n / len(frame), 4) if len(frame) else None,
                  unexpected_examples=examples)


def evaluate_bytes(loader: LandingLoader, data: bytes, key: str, fmt: str, cfg: ModelConfig,
                   suite_path: Path | str) -> ValidationReport:
    """The raw-batch report of one partition's bytes (pre-checks, then the GX suite)."""
    from retrain.pipeline.loader import InputTooLarge
    from retrain.validation.suite import run_suite

    uri = loader.uri(key)
    meta: dict[str, Any] = {"key": key, "bytes": len(data)}
    if not data:
        return ValidationReport(STAGE, [_check("batch_not_empty", False, f"empty batch: {uri} is 0 bytes")], meta)
    try:
        frame = loader.decode(data, key, fmt)
    except InputTooLarge as exc:
        return ValidationReport(STAGE, [_check("batch_within_limits", False, str(exc))], meta)
    except MissingInputError as exc:
        return ValidationReport(STAGE, [_check("batch_readable", False, f"batch unreadable: {exc}")], meta)
    if len(frame) == 0:
        cols = [str(c) for c in frame.columns]
        return ValidationReport(STAGE, [_check("batch_has_rows", False, f"no rows: {uri} has a header "
                                               f"({len(cols)} columns) but no rows", observed_value=0)],
                                {**meta, "rows": 0, "columns": cols})
    report = run_suite(frame, suite_path, stage=STAGE)
    extra = duplicate_rows(frame, key_columns(cfg))
    if extra is not None:
        report.results.append(extra)
    report.meta.update(meta)
    return report


def validate_partition(loader: LandingLoader, cfg: ModelConfig, week: dt.date, suite_path: Path | str,
                       records: PartitionRecords, run: dict | None = None,
                       name: str = "batch") -> tuple[ValidationReport, dict | None]:
    """(report, record) of one landing partition: its stored record when these bytes were
    validated with this suite before, else a fresh validation, recorded.

    A missing partition propagates as MissingInputError; an object refused by its size (HEAD)
    has no content hash and so no record.
    """
    from retrain.pipeline.loader import InputTooLarge

    fmt = cfg.data.format
    key = loader.keys.landing(week, fmt, name)
    try:
        data = loader.fetch(week, name, fmt)
    except InputTooLarge as exc:
        return ValidationReport(STAGE, [_check("batch_within_limits", False, str(exc))], {"key": key}), None
    digest = loader.lineage[key]
    suite_sha = suite_fingerprint(suite_path)
    record = records.validated(week, digest, name, suite_sha)
    if record is not None:
        return ValidationReport.from_dict(record["report"]), record
    report = evaluate_bytes(loader, data, key, fmt, cfg, suite_path)
    record = {
        "model": cfg.name, "week": week.isoformat(), "name": name, "key": key, "sha256": digest,
        "etag": loader.partitions[key].get("etag"), "size": len(data),
        "suite": Path(suite_path).name, "suite_sha256": suite_sha,
        "passed": report.passed, "status": report.status, "validated_by": run or {},
        "report": report.to_dict(),
    }
    record["record_key"] = records.save(record)
    return report, record


def summary(report: ValidationReport, record: dict | None) -> dict:
    """A small dict for decision.json / XCom / outcome.json."""
    return {
        "status": report.status,
        "passed": report.passed,
        "critical_failures": [f"{r.label}: {r.message}" for r in report.critical_failures],
        "warnings": [f"{r.label}: {r.message}" for r in report.warnings],
        "sha256": record.get("sha256") if record else None,
        "record_key": record.get("record_key") if record else None,
    }


def window_partitions_stage(loader: LandingLoader, cfg: ModelConfig, suite_path: Path | str,
                            records: PartitionRecords, newest: dt.date, run: dict | None = None) -> ValidationReport:
    """One result per older `batch` partition the loader read: its bytes' raw-batch verdict.

    A critical failure of any week fails the stage; an older week's warnings were reported the
    week it landed and are only mentioned here.
    """
    results = []
    older = sorted((p["week"], k) for k, p in loader.partitions.items()
                   if p["name"] == "batch" and p["week"] != newest.isoformat())
    for week_iso, key in older:
        report, record = validate_partition(loader, cfg, dt.date.fromisoformat(week_iso), suite_path, records, run)
        sha = (record or {}).get("sha256", "")[:12]
        where = f"week {week_iso} ({key}, sha256 {sha}…)"
        if not report.passed:
            text = "; ".join(f"{r.label}: {r.message}" for r in report.critical_failures)
            results.append(_check("window_partition_valid", False, f"{where}: {text}", column=None,
                                  kwargs={"week": week_iso, "key": key}))
        else:
            note = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
            results.append(_check("window_partition_valid", True, f"{where}: {report.status}{note}",
                                  kwargs={"week": week_iso, "key": key}))
    return ValidationReport("window partitions", results, {"partitions": len(results)})
