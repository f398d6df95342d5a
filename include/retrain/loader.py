"""Reads landing partitions for one run and remembers exactly what it read (data lineage)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from retrain.config import ModelConfig
from retrain.errors import MissingInputError
from retrain.frames import from_bytes
from retrain.keys import Keys
from retrain.storage import ObjectNotFound, S3Store, sha256_hex


class LandingLoader:
    def __init__(self, store: S3Store, keys: Keys, cfg: ModelConfig):
        self.store, self.keys, self.cfg = store, keys, cfg
        self.lineage: dict[str, str] = {}  # key -> sha256 of every partition read

    def read(self, week: dt.date, name: str = "batch", fmt: str | None = None) -> pd.DataFrame:
        """One landing object; missing or unreadable -> MissingInputError naming the key."""
        fmt = fmt or self.cfg.data.format
        key = self.keys.landing(week, fmt, name)
        try:
            data = self.store.get_bytes(key)
        except ObjectNotFound as exc:
            raise MissingInputError(f"landing batch s3://{self.store.bucket}/{key} does not exist") from exc
        self.lineage[key] = sha256_hex(data)
        return from_bytes(data, fmt, name=f"s3://{self.store.bucket}/{key}")

    def exists(self, week: dt.date, name: str = "batch", fmt: str | None = None) -> bool:
        return self.store.exists(self.keys.landing(week, fmt or self.cfg.data.format, name))

    def batch(self, week: dt.date) -> pd.DataFrame:
        return self.read(week)

    def batches(self, weeks: list[dt.date], required: dt.date) -> dict[dt.date, pd.DataFrame]:
        """The landed weeks among `weeks`; `required` (the run's week) must be there."""
        out = {}
        for week in weeks:
            if week == required or self.exists(week):
                out[week] = self.read(week)
        return out
