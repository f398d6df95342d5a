"""Daily store-sales forecasting (the Rossmann model): a regression family with time-series features.

Inputs per landed ISO week: `batch` (daily rows of every store) and the store table (`stores`).
A run's rows are built in three steps, each checked by its own validation stage (`checks`):

1. raw: the newest batch (the shared weekly-batch suite) and the store table (its suite);
2. processed (`processing`): every partition the run needs (window + `history_weeks` earlier
   weeks, so the first window day has 60+ days of history) concatenated, typed, merged with
   the store table; checked for types, duplicate Store/Date, contiguous dates per store, rows
   in their landing week, DayOfWeek consistent with Date;
3. features (this module): engineered_features(horizon) on every processed row (at horizon 1
   they include the 32 standard features, ENGINEERED_FEATURES), then only the window's open
   days with Sales > 0 kept (the history rows only feed lags); checked for infinities, nulls
   where no null can arise, expected columns.

The family's own `data` keys (history_weeks, forecast_horizon_days, the store table and the
suites) are read in `settings`.

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

import numpy as np
import pandas as pd

from retrain.families.sales.history import (  # noqa: F401  (re-exported)
    AHEAD_FEATURES,
    DEFAULT_HORIZON_DAYS,
    EVENT_CAP_DAYS,
    EVENT_FEATURES,
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
from retrain.families.sales.processing import (  # noqa: F401  (re-exported: sales.features.X keeps working)
    NUMERIC_INPUTS,
    SALES_COLUMNS,
    STORE_COLUMNS,
    STORE_NUMERIC,
    WEEK_COLUMN,
    Processed,
    UnusableBatch,
    clean_stores,
    process,
    read_processed,
    read_stores,
)
from retrain.families.sales.settings import (  # noqa: F401  (re-exported)
    DEFAULT_HISTORY_WEEKS,
    forecast_horizon,
    history_weeks,
    stores_input,
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


def model_rows(featured: pd.DataFrame, first_week: dt.date) -> pd.DataFrame:
    """Rows a model trains and is scored on: the window's open days with Sales > 0."""
    keep = (featured[WEEK_COLUMN] >= first_week.isoformat()) & (featured["Open"] == 1) & (featured["Sales"] > 0)
    return featured[keep].reset_index(drop=True)
