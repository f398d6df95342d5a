"""Daily store-sales forecasting (the Rossmann model): a regression family with time-series features.

Inputs per landed ISO week: `batch` (daily rows of every store: Store, DayOfWeek, Date, Sales,
Customers, Open, Promo, StateHoliday, SchoolHoliday) and the store table (`stores`, landed
every week so a run reads the version current for its week).

A run's rows are built in three steps, each checked by its own validation stage:

1. raw: the newest batch (the shared weekly-batch suite) and the store table (its suite);
2. processed: every partition the run needs (window + `history_weeks` earlier weeks, so the
   first window day has 60+ days of history) concatenated, typed, merged with the store
   table; checked for types, duplicate Store/Date, contiguous dates per store, rows in
   their landing week, DayOfWeek consistent with Date;
3. features: engineered_features(horizon) on every processed row (at horizon 1 they include
   the 32 standard features, ENGINEERED_FEATURES), then only the window's open days with
   Sales > 0 kept (the history rows only feed lags); checked for infinities, nulls where no
   null can arise, expected columns.

Sales history (retrain.families.sales.history) is computed on a dense day x store grid (a day
missing for a store is NaN there, never the neighbouring row) at `data.forecast_horizon_days`
(default 7): lag k >= horizon reads day d - k, every rolling window ends at day d - horizon, so
no feature of a day uses sales newer than the horizon allows.

The model predicts Sales (one sklearn Pipeline: ordinal-encode categoricals, pass numbers
through with their NaNs, then the regressor); RMSPE is the metric (lower is better) and
cross-validation holds out the newest weeks of the training part, one week per fold, with a
gap of at least the horizon before each (SalesForecastFamily.cv_splits).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from retrain.config import ModelConfig
from retrain.errors import MissingInputError
from retrain.families.sales.history import (  # noqa: F401  (re-exported)
    AHEAD_FEATURES,
    DEFAULT_HORIZON_DAYS,
    LAGS,
    ROLLING_WINDOWS,
    STORE_FEATURES,
    YEARLY_FEATURES,
    extra_features,
    history_days,
    lag_features,
    lag_of,
    sales_history,
)

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

CALENDAR_FEATURES = (
    "year", "month", "week_of_year", "day", "day_of_year", "quarter", "is_month_start", "is_month_end",
    "is_quarter_start", "is_quarter_end", "is_weekend", "season",
)
PROMO_FEATURES = (
    "promo2_active_month", "promo2_weeks_since", "promo_interval_jan", "promo_interval_feb",
    "promo_interval_mar",
)
COMPETITION_FEATURES = ("competition_distance_log", "has_competition", "competition_age_months")
LAG_FEATURES = tuple(f"sales_lag_{k}" for k in LAGS)
ROLLING_FEATURES = tuple(f"sales_roll_{stat}_{w}" for w in ROLLING_WINDOWS for stat in ("mean", "std"))
ENGINEERED_FEATURES = CALENDAR_FEATURES + PROMO_FEATURES + COMPETITION_FEATURES + LAG_FEATURES + ROLLING_FEATURES
assert len(ENGINEERED_FEATURES) == 32

MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec")
_INTERVAL_INDICATORS = {
    "promo_interval_jan": "Jan,Apr,Jul,Oct",
    "promo_interval_feb": "Feb,May,Aug,Nov",
    "promo_interval_mar": "Mar,Jun,Sept,Dec",
}
WEEK_COLUMN = "_week"
DEFAULT_HISTORY_WEEKS = 9  # 63 days before the window: covers lag 28 and the 60-day rolling window


class UnusableBatch(MissingInputError):
    """Landed data that cannot be read as sales data (wrong types, duplicate days).

    A MissingInputError, so the trigger step treats the week as unreadable and routes it to
    validation, which fails with the full report instead of the run crashing in a feature.
    """


# ---------------------------------------------------------------------------- config helpers
def history_weeks(cfg: ModelConfig) -> int:
    return int(cfg.data.extra.get("history_weeks", DEFAULT_HISTORY_WEEKS))


def forecast_horizon(cfg: ModelConfig) -> int:
    """`data.forecast_horizon_days`: how many days ahead the model forecasts (default 7: a
    Monday forecast of the whole week from data up to the Sunday before). No feature of a day
    reads sales newer than that many days; a configured lag below it is a config error."""
    from retrain.errors import ConfigError
    from retrain.families.sales.history import MAX_HORIZON_DAYS

    value = cfg.data.extra.get("forecast_horizon_days", DEFAULT_HORIZON_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HORIZON_DAYS:
        raise ConfigError(f"{cfg.source_path}: data.forecast_horizon_days must be an integer in "
                          f"1..{MAX_HORIZON_DAYS}, not {value!r}")
    too_recent = [f for f in cfg.data.features if (lag_of(f) or value) < value]
    if too_recent:
        raise ConfigError(f"{cfg.source_path}: {too_recent} read sales less than forecast_horizon_days={value} "
                          "days old; remove them or lower the horizon")
    return value


def stores_input(cfg: ModelConfig) -> tuple[str, str]:
    """(landing object name, format) of the store table."""
    spec = cfg.data.extra.get("stores_input") or {}
    return str(spec.get("name", "stores")), str(spec.get("format", cfg.data.format))


def _suite(cfg: ModelConfig, key: str) -> Path:
    from retrain.config import expectations_dir
    from retrain.errors import ConfigError

    name = cfg.data.extra.get(key)
    if not name:
        raise ConfigError(f"{cfg.source_path}: data.{key} is not set")
    return expectations_dir() / str(name)


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


# ---------------------------------------------------------------------------- features
def iso_week_monday(year: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Monday of ISO week (year, week) as datetime64[D]; NaN inputs give NaT."""
    year = np.asarray(year, dtype=float)
    week = np.asarray(week, dtype=float)
    out = np.full(year.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~(np.isnan(year) | np.isnan(week))
    jan4 = (year[ok].astype(np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]") + 3
    week1_monday = jan4 - ((jan4.astype(np.int64) - 4) % 7)  # day 4 (1970-01-05) was a Monday
    out[ok] = week1_monday + (week[ok].astype(np.int64) - 1) * 7
    return out


def _interval_month_mask(interval: pd.Series) -> np.ndarray:
    """12-bit month mask per row from PromoInterval ("Jan,Apr,Jul,Oct"...), parsed once per distinct value."""
    codes, uniques = pd.factorize(interval, use_na_sentinel=True)
    masks = np.zeros(len(uniques) + 1, dtype=np.int64)  # last slot: NaN -> no months
    for i, value in enumerate(uniques):
        for part in str(value).split(","):
            name = part.strip()[:3].title()
            if name in {m[:3] for m in MONTH_ABBR}:
                masks[i] |= 1 << [m[:3] for m in MONTH_ABBR].index(name)
    return masks[np.where(codes < 0, len(uniques), codes)]


def engineered_features(horizon: int = 1) -> tuple[str, ...]:
    """Every feature engineer_features() adds at `horizon`: the standard ones the horizon
    allows (lags k >= horizon) plus the yearly, store-level and calendar-ahead ones."""
    return (CALENDAR_FEATURES + PROMO_FEATURES + COMPETITION_FEATURES + lag_features(horizon) + ROLLING_FEATURES
            + extra_features())


def engineer_features(frame: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """The processed frame plus engineered_features(horizon), same rows and order; at horizon 1
    these include the 32 standard features (ENGINEERED_FEATURES).

    `frame` must be typed (Processed.require_typed()) with unique (Store, Date).
    """
    if frame["Date"].isna().any() or frame["Store"].isna().any():
        raise UnusableBatch("rows without a Store or a Date cannot be placed in a store's history")
    dup = frame.duplicated(["Store", "Date"])
    if dup.any():
        raise UnusableBatch(
            f"{int(dup.sum())} duplicate Store/Date rows, e.g. "
            f"{frame.loc[dup, ['Store', 'Date']].head(3).astype(str).to_dict('records')}"
        )
    date = frame["Date"]
    month = date.dt.month.to_numpy()
    year = date.dt.year.to_numpy()
    new: dict[str, np.ndarray] = {
        "year": year,
        "month": month,
        "week_of_year": date.dt.isocalendar().week.to_numpy(dtype=np.int64),
        "day": date.dt.day.to_numpy(),
        "day_of_year": date.dt.day_of_year.to_numpy(),
        "quarter": date.dt.quarter.to_numpy(),
        "is_month_start": date.dt.is_month_start.to_numpy(dtype=np.int64),
        "is_month_end": date.dt.is_month_end.to_numpy(dtype=np.int64),
        "is_quarter_start": date.dt.is_quarter_start.to_numpy(dtype=np.int64),
        "is_quarter_end": date.dt.is_quarter_end.to_numpy(dtype=np.int64),
        "is_weekend": (date.dt.day_of_week >= 5).to_numpy(dtype=np.int64),
        "season": (month % 12) // 3,  # 0 winter (Dec-Feb), 1 spring, 2 summer, 3 autumn
    }

    # Promo2: continuing promotion in the months of PromoInterval, once started
    day_np = date.to_numpy().astype("datetime64[D]")
    start = iso_week_monday(frame["Promo2SinceYear"].to_numpy(float), frame["Promo2SinceWeek"].to_numpy(float))
    in_promo2 = (frame["Promo2"].to_numpy() == 1) & ~np.isnat(start)
    started = in_promo2 & (day_np >= np.where(np.isnat(start), day_np, start))
    weeks_since = np.where(started, (day_np - np.where(started, start, day_np)).astype(np.int64) // 7, 0)
    month_mask = _interval_month_mask(frame["PromoInterval"])
    new["promo2_active_month"] = (started & (((month_mask >> (month - 1)) & 1) == 1)).astype(np.int64)
    new["promo2_weeks_since"] = weeks_since.astype(np.int64)
    interval = frame["PromoInterval"].astype("str")
    for name, value in _INTERVAL_INDICATORS.items():
        new[name] = (interval == value).to_numpy(dtype=np.int64)

    # Competition: distance (log), whether a competitor is open on the day, months since it opened
    distance = frame["CompetitionDistance"].to_numpy(float)
    opened = frame["CompetitionOpenSinceYear"].to_numpy(float) * 12 + frame["CompetitionOpenSinceMonth"].to_numpy(float) - 1
    age = (year * 12 + month - 1) - opened  # NaN when the opening date is unknown
    new["competition_distance_log"] = np.log1p(distance)
    new["has_competition"] = (~np.isnan(distance) & (np.isnan(age) | (age >= 0))).astype(np.int64)
    new["competition_age_months"] = np.where(np.isnan(age), np.nan, np.maximum(age, 0.0))

    new.update(sales_history(frame, horizon))
    features = pd.DataFrame({name: new[name] for name in engineered_features(horizon)}, index=frame.index)
    return pd.concat([frame, features], axis=1)


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


def model_rows(featured: pd.DataFrame, first_week: dt.date) -> pd.DataFrame:
    """Rows a model trains and is scored on: the window's open days with Sales > 0."""
    keep = (featured[WEEK_COLUMN] >= first_week.isoformat()) & (featured["Open"] == 1) & (featured["Sales"] > 0)
    return featured[keep].reset_index(drop=True)

