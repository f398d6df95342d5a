"""Training-window assembly and the out-of-time split: pure functions over DataFrames."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd

from retrain.errors import DataValidationError

WEEK_COLUMN = "_week"


def window_weeks(week: dt.date, n_weeks: int) -> list[dt.date]:
    """The N ISO weeks ending with `week` (oldest first)."""
    return [week - dt.timedelta(weeks=i) for i in range(n_weeks - 1, -1, -1)]


def assemble_window(batches: dict[dt.date, pd.DataFrame]) -> pd.DataFrame:
    """Concatenate weekly batches, tagging each row with its ISO week (Monday date)."""
    if not batches:
        raise DataValidationError("training window is empty: no landed weeks")
    parts = [b.assign(**{WEEK_COLUMN: w.isoformat()}) for w, b in sorted(batches.items())]
    return pd.concat(parts, ignore_index=True)


def split_out_of_time(frame: pd.DataFrame, holdout_weeks: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training part = older weeks; holdout = the newest `holdout_weeks` weeks."""
    weeks = sorted(frame[WEEK_COLUMN].unique())
    if len(weeks) <= holdout_weeks:
        raise DataValidationError(
            f"need more than {holdout_weeks} landed week(s) for an out-of-time holdout; "
            f"the window has {len(weeks)}: {weeks}"
        )
    holdout = set(weeks[-holdout_weeks:])
    mask = frame[WEEK_COLUMN].isin(holdout)
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)


def lineage_hash(partitions: dict[str, str]) -> str:
    """One hash for the exact set of input partitions (key -> sha256) a run read."""
    h = hashlib.sha256()
    for key in sorted(partitions):
        h.update(f"{key}={partitions[key]}\n".encode())
    return h.hexdigest()
