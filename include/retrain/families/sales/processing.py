"""Step 2 of a sales run's rows: the landed weeks typed, concatenated and merged with the store table.

Inputs per landed ISO week: `batch` (daily rows of every store: Store, DayOfWeek, Date, Sales,
Customers, Open, Promo, StateHoliday, SchoolHoliday) and the store table (`stores`, landed
every week so a run reads the version current for its week). A value of the wrong type is
collected (and becomes NaN), not raised, so the processed-data validation reports them all;
a missing column is a KeyError naming the partition (a schema break).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retrain.config import ModelConfig
from retrain.errors import MissingInputError
from retrain.families.sales.settings import history_weeks, stores_input

SALES_COLUMNS = (
    "Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo", "StateHoliday", "SchoolHoliday",
)
STORE_COLUMNS = (
    "Store", "StoreType", "Assortment", "CompetitionDistance", "CompetitionOpenSinceMonth",
    "CompetitionOpenSinceYear", "Promo2", "Promo2SinceWeek", "Promo2SinceYear", "PromoInterval",
)
NUMERIC_INPUTS = ("Store", "DayOfWeek", "Sales", "Customers", "Open", "Promo", "SchoolHoliday")
STORE_NUMERIC = (
    "Store", "CompetitionDistance", "CompetitionOpenSinceMonth", "CompetitionOpenSinceYear",
    "Promo2", "Promo2SinceWeek", "Promo2SinceYear",
)
WEEK_COLUMN = "_week"


class UnusableBatch(MissingInputError):
    """Landed data that cannot be read as sales data (wrong types, duplicate days).

    A MissingInputError, so the trigger step treats the week as unreadable and routes it to
    validation, which fails with the full report instead of the run crashing in a feature.
    """


# ---------------------------------------------------------------------------- processing
@dataclass
class Processed:
    """Batches typed, concatenated and merged with the store table; `type_problems` lists
    columns whose values could not be converted (those values are NaN in `frame`)."""

    frame: pd.DataFrame
    type_problems: dict[str, dict] = field(default_factory=dict)
    newest_week: str = ""

    def require_typed(self) -> pd.DataFrame:
        if self.type_problems:
            raise UnusableBatch("sales data has values of the wrong type: " + "; ".join(
                f"{col}: {p['bad_count']} values are not {p['expected']} (column type {p['dtype']}), "
                f"e.g. {p['examples']!r}" for col, p in self.type_problems.items()))
        return self.frame


def _examples(values: pd.Series, limit: int = 5) -> list:
    return [v.item() if hasattr(v, "item") else v for v in pd.unique(values)[:limit]]


def _to_number(frame: pd.DataFrame, col: str, problems: dict, integer: bool = True) -> None:
    raw = frame[col]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        num = raw
    else:
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna()
        if bad.any():
            problems[col] = {"expected": "numeric", "dtype": str(raw.dtype), "bad_count": int(bad.sum()),
                             "examples": _examples(raw[bad])}
    if integer and not num.isna().any():
        frame[col] = num.astype(np.int64) if (num % 1 == 0).all() else num.astype(np.float64)
    else:
        frame[col] = num.astype(np.float64)


def clean_stores(raw: pd.DataFrame) -> pd.DataFrame:
    """The store table typed (numbers numeric, codes str); KeyError for a missing column."""
    missing = [c for c in STORE_COLUMNS if c not in raw.columns]
    if missing:
        raise KeyError(f"{', '.join(missing)} (store table)")
    stores = raw[list(STORE_COLUMNS)].copy()
    problems: dict = {}
    for col in STORE_NUMERIC:
        _to_number(stores, col, problems, integer=col in ("Store", "Promo2"))
    if problems:
        raise UnusableBatch(f"store table has values of the wrong type: {problems}")
    for col in ("StoreType", "Assortment", "PromoInterval"):
        stores[col] = stores[col].astype("str")
    return stores


def process(batches: dict[dt.date, pd.DataFrame], stores: pd.DataFrame) -> Processed:
    """Concatenate the landed weeks (tagged with their week), type them, merge the store table.

    Raises KeyError naming the partition when a batch lacks a column (a schema break), and
    UnusableBatch when the store table is unusable; wrong-typed sales values are collected in
    `type_problems` (and become NaN) so validation can report them all.
    """
    if not batches:
        raise MissingInputError("no landed weeks to process")
    parts = []
    for week, batch in sorted(batches.items()):
        missing = [c for c in SALES_COLUMNS if c not in batch.columns]
        if missing:
            raise KeyError(f"{', '.join(missing)} (week={week.isoformat()} batch)")
        parts.append(batch[list(SALES_COLUMNS)].assign(**{WEEK_COLUMN: week.isoformat()}))
    frame = pd.concat(parts, ignore_index=True)
    problems: dict = {}
    for col in NUMERIC_INPUTS:
        _to_number(frame, col, problems)
    raw_date = frame["Date"]
    frame["Date"] = pd.to_datetime(raw_date.astype("str"), format="%Y-%m-%d", errors="coerce") \
        if not pd.api.types.is_datetime64_any_dtype(raw_date) else raw_date.astype("datetime64[ns]")
    bad_date = frame["Date"].isna() & raw_date.notna()
    if bad_date.any():
        problems["Date"] = {"expected": "a YYYY-MM-DD date", "dtype": str(raw_date.dtype),
                            "bad_count": int(bad_date.sum()), "examples": _examples(raw_date[bad_date])}
    # StateHoliday is "0"/"a"/"b"/"c"; a CSV week without holidays reads it as integer 0.
    holiday = frame["StateHoliday"]
    frame["StateHoliday"] = holiday.where(holiday.isna(), holiday.astype("str")).astype("str")
    typed_stores = clean_stores(stores)
    if frame["Store"].dtype == np.float64:  # unparsable ids: keep the rows, their checks fail
        typed_stores = typed_stores.assign(Store=typed_stores["Store"].astype(np.float64))
    merged = frame.merge(typed_stores, on="Store", how="left", validate="many_to_one")
    merged = merged.sort_values(["Date", "Store"], kind="stable").reset_index(drop=True)
    return Processed(merged, problems, newest_week=max(b.isoformat() for b in batches))


# ---------------------------------------------------------------------------- reading
def read_stores(loader, cfg: ModelConfig, week: dt.date) -> pd.DataFrame:
    """The store table landed with the run's week (the version current for that week)."""
    name, fmt = stores_input(cfg)
    return loader.read(week, name=name, fmt=fmt)


def read_processed(loader, cfg: ModelConfig, week: dt.date, n_weeks: int) -> Processed:
    """The run's `n_weeks` newest weeks plus the feature history, processed. The run's week
    must be landed; earlier weeks that were never landed are simply absent."""
    from retrain.core.features import window_weeks

    stores = read_stores(loader, cfg, week)
    batches = loader.batches(window_weeks(week, n_weeks + history_weeks(cfg)), required=week)
    return process(batches, stores)
