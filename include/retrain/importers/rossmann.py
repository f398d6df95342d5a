"""Lands real Rossmann-format extracts (daily sales + store table) in the landing layout.

    retrain data import --model rossmann --sales train.parquet --stores store.csv [--from D --to D]

Same objects as the synthetic generator lands (retrain.keys): per ISO week
`landing/<model>/week=<monday>/batch.<data.format>` and the store table
`<stores input>.<format>` beside it. Real quirks handled on purpose:

* StateHoliday mixes 0 and "0" in the published CSV: read as text, 0 -> "0";
* a partial last week (the extract ends before Sunday) is not landed: a run on it would
  train and score on part of a week; the report names it;
* stores with no rows for a week or more inside the range (180 stores from 2014-07-01 to
  2014-12-31 in the real data) are reported by count and store id; their weeks are landed
  as they are, the features read NaN across the gap.

Pure planning (`plan_import`) is separate from the one effectful function (`land_import`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from retrain.errors import MissingInputError
from retrain.families.sales.processing import SALES_COLUMNS, STORE_COLUMNS
from retrain.keys import week_start

REFERENCE_DIR = Path(__file__).resolve().parents[4] / "shared" / "reference"
REFERENCE_SALES = REFERENCE_DIR / "rossmann_sales_2013-01-01_2015-06-14.parquet"
REFERENCE_STORES = REFERENCE_DIR / "rossmann_store.csv"
MIN_ABSENCE_DAYS = 7  # shorter holes are data problems validation reports, not closures


@dataclass
class Absence:
    """Stores without rows over the same stretch of days."""

    first: dt.date
    last: dt.date
    stores: list[int]

    def message(self) -> str:
        return (f"{len(self.stores)} stores have no rows from {self.first} to {self.last} "
                f"(stores {', '.join(map(str, self.stores))}); their lags and rolling windows read no "
                "sales across the gap")


@dataclass
class ImportPlan:
    weeks: dict[dt.date, pd.DataFrame]
    notes: dict[dt.date, str] = field(default_factory=dict)
    skipped: dict[dt.date, str] = field(default_factory=dict)
    absences: list[Absence] = field(default_factory=list)

    def warnings(self) -> list[str]:
        return [a.message() for a in self.absences] + [f"week {w}: not landed: {why}" for w, why in
                                                       sorted(self.skipped.items())]


def reference_files() -> tuple[Path, Path]:
    """The shared reference files, or MissingInputError saying where they were looked for."""
    missing = [p for p in (REFERENCE_SALES, REFERENCE_STORES) if not p.is_file()]
    if missing:
        raise MissingInputError(
            f"the real Rossmann reference data is not here: {', '.join(map(str, missing))}. Put the "
            "shared reference folder beside this clone (../shared/reference/) or pass your own "
            "Rossmann-format extracts: retrain data import --model rossmann --sales FILE --stores FILE")
    return REFERENCE_SALES, REFERENCE_STORES


def read_table(path: Path | str) -> pd.DataFrame:
    """A parquet or CSV extract; CSV codes (StateHoliday, PromoInterval) stay text."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no such file: {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"StateHoliday": "str", "PromoInterval": "str"}, low_memory=False)


def normalise_sales(raw: pd.DataFrame) -> pd.DataFrame:
    """The extract in the landed batch's columns and types (Date as YYYY-MM-DD text)."""
    missing = [c for c in SALES_COLUMNS if c not in raw.columns]
    if missing:
        raise KeyError(f"{', '.join(missing)} (sales extract)")
    frame = raw[list(SALES_COLUMNS)].copy()
    frame["Date"] = pd.to_datetime(frame["Date"]).dt.strftime("%Y-%m-%d").astype("str")
    # the published CSV mixes 0 and "0": one spelling of "no holiday"
    holiday = frame["StateHoliday"].astype("str").str.strip()
    frame["StateHoliday"] = holiday.where(holiday != "0.0", "0").astype("str")
    for col in ("Store", "DayOfWeek", "Sales", "Customers", "Open", "Promo", "SchoolHoliday"):
        frame[col] = pd.to_numeric(frame[col], errors="raise").astype(np.int64)
    return frame.sort_values(["Date", "Store"], kind="stable").reset_index(drop=True)


def absences(sales: pd.DataFrame, min_days: int = MIN_ABSENCE_DAYS) -> list[Absence]:
    """Stretches of `min_days`+ days in which a store of the extract has no rows, grouped."""
    dates = pd.to_datetime(sales["Date"])
    ordered = pd.DataFrame({"Store": sales["Store"], "Date": dates}).sort_values(["Store", "Date"])
    step = ordered.groupby("Store")["Date"].diff().dt.days
    holes = ordered[step > min_days].assign(days=step[step > min_days] - 1)  # min_days+ missing
    groups: dict[tuple[dt.date, dt.date], list[int]] = {}
    for row in holes.itertuples():
        last = (row.Date - pd.Timedelta(days=1)).date()
        first = (row.Date - pd.Timedelta(days=int(row.days))).date()
        groups.setdefault((first, last), []).append(int(row.Store))
    # a store without rows up to the extract's end (or from its start) is absent too
    span = ordered.groupby("Store")["Date"].agg(["min", "max"])
    start, end = dates.min(), dates.max()
    for store_id, row in span.iterrows():
        if (end - row["max"]).days >= min_days:
            groups.setdefault(((row["max"] + pd.Timedelta(days=1)).date(), end.date()), []).append(int(store_id))
        if (row["min"] - start).days >= min_days:
            groups.setdefault((start.date(), (row["min"] - pd.Timedelta(days=1)).date()), []).append(int(store_id))
    return [Absence(f, last, sorted(s)) for (f, last), s in sorted(groups.items())]


def plan_import(sales: pd.DataFrame, start: dt.date | None = None, end: dt.date | None = None) -> ImportPlan:
    """Which ISO weeks to land, each week's rows, and what the user must be told."""
    frame = normalise_sales(sales)
    if start is not None:
        frame = frame[frame["Date"] >= start.isoformat()]
    if end is not None:
        frame = frame[frame["Date"] <= end.isoformat()]
    if frame.empty:
        raise MissingInputError(f"the sales extract has no rows between {start} and {end}")
    days = pd.to_datetime(frame["Date"])
    mondays = (days - pd.to_timedelta(days.dt.dayofweek, unit="D")).dt.date
    plan = ImportPlan(weeks={}, absences=absences(frame))
    last_day = days.max().date()
    for monday, rows in frame.groupby(mondays.to_numpy(), sort=True):
        present = rows["Date"].nunique()
        if monday == week_start(last_day) and present < 7:
            plan.skipped[monday] = (f"partial week: the extract ends on {last_day} ({present} of 7 days); "
                                    "land it again when the week is complete")
            continue
        plan.weeks[monday] = rows.reset_index(drop=True)
        if present < 7:
            plan.notes[monday] = f"first week of the extract: {present} of 7 days (history only)"
    return plan


def land_import(store, cfg, plan: ImportPlan, stores: pd.DataFrame) -> list[dict]:
    """Write every planned week's batch and the store table (the only S3 effect here)."""
    from retrain.config import Settings
    from retrain.core.frames import to_bytes
    from retrain.families.sales.settings import stores_input
    from retrain.keys import Keys

    missing = [c for c in STORE_COLUMNS if c not in stores.columns]
    if missing:
        raise KeyError(f"{', '.join(missing)} (store table)")
    keys = Keys(cfg.name, Settings.from_env().prefix)
    stores_name, stores_fmt = stores_input(cfg)
    table_bytes = to_bytes(stores[list(STORE_COLUMNS)], stores_fmt)
    written = []
    for monday, rows in sorted(plan.weeks.items()):
        key = keys.landing(monday, cfg.data.format)
        store.put_bytes(key, to_bytes(rows, cfg.data.format))
        store.put_bytes(keys.landing(monday, stores_fmt, stores_name), table_bytes)
        written.append({"week": monday.isoformat(), "rows": len(rows), "stores": int(rows["Store"].nunique()),
                        "note": plan.notes.get(monday, "real week"), "key": key})
    return written
