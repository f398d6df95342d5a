"""Sales-history features at an explicit forecast horizon, on a calendar-aligned day x store grid.

A weekly forecast is made on Monday for Monday..Sunday from data up to the Sunday before, so
its days are 1..7 days ahead. With horizon h, no feature of day d reads sales newer than
d - h: lags are k >= h days back, and every rolling window ends at d - h. The same model
then serves every day of the coming week (h = 7, the default), and the gate's holdout and
the trigger's performance check, which score rows built here, score at that horizon.

The grid has one row per calendar day and one column per store. A day a store has no row
(a refurbishment closure, a store not yet open) is NaN there, so lag 7 after a six-month
gap is missing, never the sales of the last row before the gap.

Calendar inputs of the forecast week itself (Open, StateHoliday of the day before and the
day after) are known ahead (the opening and holiday plan), so they are not sales history
and carry no horizon.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LAGS = (1, 7, 14, 28)
YEAR_LAG = 364  # 52 weeks: the same weekday last year
ROLLING_WINDOWS = (7, 14, 28, 60)
DOW_WEEKS = 12
PROMO_WINDOW = 91
YEARLY_FEATURES = ("sales_lag_364", "sales_last_year_week_mean", "sales_roll_mean_364", "sales_seasonal_estimate")
STORE_FEATURES = ("sales_dow_mean_12w", "sales_promo_ratio_91")
AHEAD_FEATURES = ("closed_yesterday", "closed_tomorrow", "holiday_yesterday", "holiday_tomorrow")
# Distance to the plan's events: sales rise before a holiday or a closure and stay off after one for
# several days (Easter, Ascension, Whit Monday, a store reopening after refurbishment); one day of
# "yesterday/tomorrow" sees only the edge. "since" reads the past plan; "until" looks ahead only to
# the Sunday of the day's own week (the plan a weekly batch carries), NaN when no event is left in it.
EVENTS = ("holiday", "school_holiday", "closed")
EVENT_FEATURES = tuple(f"days_{way}_{event}" for event in EVENTS for way in ("since", "until"))
EVENT_CAP_DAYS = 15  # "long ago": effects of an event fade within two weeks
DEFAULT_HORIZON_DAYS = 7
MAX_HORIZON_DAYS = 28


def lag_features(horizon: int) -> tuple[str, ...]:
    """The standard lags a forecast `horizon` days ahead may use (k >= horizon)."""
    return tuple(f"sales_lag_{k}" for k in LAGS if k >= horizon)


def rolling_features() -> tuple[str, ...]:
    return tuple(f"sales_roll_{stat}_{w}" for w in ROLLING_WINDOWS for stat in ("mean", "std"))


def extra_features() -> tuple[str, ...]:
    return YEARLY_FEATURES + STORE_FEATURES + AHEAD_FEATURES + EVENT_FEATURES


def history_days(horizon: int) -> int:
    """Days of history before the first window day that the features read."""
    return YEAR_LAG + horizon + max(ROLLING_WINDOWS)


def lag_of(name: str) -> int | None:
    """k of a `sales_lag_k` feature, None for any other name."""
    prefix = "sales_lag_"
    return int(name[len(prefix):]) if name.startswith(prefix) and name[len(prefix):].isdigit() else None


def _shifted(grid: np.ndarray, days: int) -> np.ndarray:
    """Row d holds grid[d - days] (NaN before the start)."""
    out = np.full_like(grid, np.nan)
    if days < len(grid):
        out[days:] = grid[: len(grid) - days]
    return out


def _roll(grid: np.ndarray, window: int, min_periods: int, stat: str = "mean") -> np.ndarray:
    rolling = pd.DataFrame(grid).rolling(window, min_periods=min_periods)
    return getattr(rolling, stat)().to_numpy()


def sales_history(frame: pd.DataFrame, horizon: int = 1) -> dict[str, np.ndarray]:
    """History features of every row of `frame` (typed, unique Store/Date), vectorised."""
    if not 1 <= horizon <= MAX_HORIZON_DAYS:
        raise ValueError(f"forecast horizon must be 1..{MAX_HORIZON_DAYS} days, not {horizon}")
    day0 = frame["Date"].min()
    day = (frame["Date"] - day0).dt.days.to_numpy()
    store_code, stores = pd.factorize(frame["Store"], sort=True)
    n_days, n_stores = int(day.max()) + 1, len(stores)

    def grid_of(values: np.ndarray) -> np.ndarray:
        g = np.full((n_days, n_stores), np.nan)
        g[day, store_code] = values
        return g

    is_open = frame["Open"].to_numpy() == 1
    sales = frame["Sales"].to_numpy(dtype=np.float64)
    grid = grid_of(sales)
    # rolling statistics describe open days; a closed day (Sales 0) is not a low-sales day
    open_grid = grid_of(np.where(is_open, sales, np.nan))

    def at_rows(g: np.ndarray) -> np.ndarray:
        return g[day, store_code]

    out: dict[str, np.ndarray] = {}
    for k in (*(k for k in LAGS if k >= horizon), YEAR_LAG):
        out[f"sales_lag_{k}"] = at_rows(_shifted(grid, k))
    recent = _shifted(open_grid, horizon)  # newest day a feature may read: d - horizon
    for w in ROLLING_WINDOWS:
        out[f"sales_roll_mean_{w}"] = at_rows(_roll(recent, w, 1))
        out[f"sales_roll_std_{w}"] = at_rows(_roll(recent, w, 2, "std"))
    out["sales_roll_mean_364"] = at_rows(_roll(recent, 364, 28))

    # last year: the week around the same weekday 52 weeks ago, and the level before it
    ly_week = _roll(_shifted(open_grid, YEAR_LAG - 3), 7, 1)
    ly_level = _roll(_shifted(open_grid, YEAR_LAG + horizon), 28, 7)
    out["sales_last_year_week_mean"] = at_rows(ly_week)
    with np.errstate(invalid="ignore", divide="ignore"):
        seasonal = _roll(recent, 28, 7) * ly_week / ly_level
    out["sales_seasonal_estimate"] = at_rows(np.where(np.isfinite(seasonal), seasonal, np.nan))

    # store x weekday level: the same weekday in the last 12 weeks the horizon allows
    first = math.ceil(horizon / 7)
    total, count = np.zeros_like(open_grid), np.zeros_like(open_grid)
    for j in range(first, first + DOW_WEEKS):
        past = _shifted(open_grid, 7 * j)
        total += np.nan_to_num(past)
        count += ~np.isnan(past)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["sales_dow_mean_12w"] = at_rows(np.where(count > 0, total / np.maximum(count, 1), np.nan))

    # store promo lift: mean sales on promo days / on other open days, last 91 days
    promo = grid_of(frame["Promo"].to_numpy(dtype=np.float64))
    promo_recent = _shifted(promo, horizon)
    on = _roll(np.where(promo_recent == 1, recent, np.nan), PROMO_WINDOW, 5)
    off = _roll(np.where(promo_recent == 0, recent, np.nan), PROMO_WINDOW, 5)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["sales_promo_ratio_91"] = at_rows(np.where(off > 0, on / off, np.nan))

    # the opening and holiday plan around the day (known ahead)
    closed = grid_of((~is_open).astype(np.float64))
    holiday = grid_of((frame["StateHoliday"].astype("str") != "0").to_numpy(dtype=np.float64))
    out["closed_yesterday"] = at_rows(_shifted(closed, 1))
    out["holiday_yesterday"] = at_rows(_shifted(holiday, 1))
    tomorrow = np.full_like(closed, np.nan)
    tomorrow[:-1] = closed[1:]
    out["closed_tomorrow"] = at_rows(tomorrow)
    tomorrow = np.full_like(holiday, np.nan)
    tomorrow[:-1] = holiday[1:]
    out["holiday_tomorrow"] = at_rows(tomorrow)

    # a day without a row (the 180 stores' half-year gap) counts as closed: the reopening is an event
    flags = {"holiday": holiday == 1, "school_holiday": grid_of(frame["SchoolHoliday"].to_numpy(np.float64)) == 1,
             "closed": (closed == 1) | np.isnan(closed)}
    weekday = (day0.dayofweek + np.arange(n_days)) % 7
    for event, flag in flags.items():
        out[f"days_since_{event}"] = at_rows(_days_since(flag, EVENT_CAP_DAYS))
        out[f"days_until_{event}"] = at_rows(_days_until_in_week(flag, weekday))
    return out


def _days_since(flags: np.ndarray, cap: int) -> np.ndarray:
    """Row d: days since the newest flagged day at or before d (0 on one), `cap` if none within it."""
    out = np.empty(flags.shape, dtype=np.float64)
    run = np.full(flags.shape[1], float(cap))
    for d in range(len(flags)):
        run = np.where(flags[d], 0.0, np.minimum(run + 1.0, cap))
        out[d] = run
    return out


def _days_until_in_week(flags: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Row d: days until the next flagged day from d to the Sunday of d's week (0 on one), else NaN."""
    out = np.empty(flags.shape, dtype=np.float64)
    run = np.full(flags.shape[1], np.nan)
    for d in range(len(flags) - 1, -1, -1):
        if weekday[d] == 6:  # Sunday: next week's plan is not in this week's batch
            run = np.full(flags.shape[1], np.nan)
        run = np.where(flags[d], 0.0, run + 1.0)
        out[d] = run
    return out
