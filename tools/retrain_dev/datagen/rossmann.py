"""Synthetic Rossmann store sales: a store table shaped like the real one and daily sales rows.

The real Kaggle table (1,115 stores) and training data (2013-01-01..2015-07-31, 1,017,209
rows) cannot ship with the bundle, so tests, the demo and the benchmark use this generator.
Sales follow the structure forecasting models exploit on the real data:

* store level from store type and assortment (type b sells most), a per-store level and trend;
* day-of-week profile (Monday peak, Saturday low, Sunday closed except a few stores),
  month profile (January dip, December peak) and payday days at the turn of the month;
* chain-wide promotions Monday-Friday in alternating weeks (about +30%), Promo2 months (+2%);
* German public holidays per state (StateHoliday a / b Easter / c Christmas): stores closed,
  the day before busier; school holidays per state (+2%); the Christmas run-up (+25..45%);
* a competitor opening nearby lowers sales, the more the closer it is;
* 180 of 1,115 stores closed for refurbishment from 2014-07-01 to 2014-12-31 (no rows),
  which brings the full range to ~1,017,000 rows like the real data;
* a weekly per-store shock and daily noise; closed days have Sales 0 and Customers 0.

Everything is deterministic: store attributes come from the seed, each week's draws from
(seed, week), so a week generated alone equals the same week cut from a long range, and a
subset of stores (`--stores N`) is the first N stores of the full data. All draws are
vectorised over stores x days (no per-row Python).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from retrain.families.sales import SALES_COLUMNS, STORE_COLUMNS, iso_week_monday

N_STORES = 1115
FULL_START = dt.date(2013, 1, 1)
FULL_END = dt.date(2015, 7, 31)

PROMO_INTERVALS = ("Jan,Apr,Jul,Oct", "Feb,May,Aug,Nov", "Mar,Jun,Sept,Dec")

# Above this, a daily store total is implausible (the real maximum is 41,551); the raw
# suite's Sales range uses the same bound, so injected outliers land above it.
MAX_PLAUSIBLE_SALES = 100_000
SEED_OUTLIERS = (1_250_000, 1_100_000, 1_500_000)

REFURBISHMENT = (dt.date(2014, 7, 1), dt.date(2014, 12, 31))
REFURBISHED_SHARE = 180 / 1115

# ---------------------------------------------------------------------------- store table
# Shares taken from the real table, so the synthetic one looks like it.
_TYPES = np.array(["a", "b", "c", "d"])
_TYPE_P = np.array([602, 17, 148, 348]) / 1115
_ASSORT = np.array(["a", "b", "c"])
_ASSORT_GIVEN_TYPE = np.array([[381, 0, 221], [7, 9, 1], [77, 0, 71], [128, 0, 220]], dtype=float)
_COMP_YEARS = np.array([1900, 1961, 1990, 1994, 1995, 1998, *range(1999, 2016)])
_COMP_YEAR_COUNTS = np.array([1, 1, 5, 2, 2, 1, 8, 10, 16, 27, 19, 22, 62, 47, 48, 54, 54, 55, 54, 82, 83, 70, 38])
_COMP_MONTH_COUNTS = np.array([14, 41, 70, 94, 44, 50, 67, 39, 125, 61, 92, 64])
_PROMO2_YEARS = np.arange(2009, 2016)
_PROMO2_YEAR_COUNTS = np.array([73, 64, 128, 81, 120, 95, 10])
_INTERVAL_P = np.array([335, 130, 106]) / 571


def _store_rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, 7_919, stream])


def generate_store_table(n_stores: int = N_STORES, seed: int = 42) -> pd.DataFrame:
    """A store table with the real table's columns, dtypes and NaN pattern.

    Draws are made for all 1,115 stores and the first `n_stores` kept, so a small table is
    a prefix of the full one. Missing values appear where the real table has them:
    CompetitionDistance (3 stores), CompetitionOpenSince* (~32%), Promo2Since* and
    PromoInterval exactly where Promo2 == 0.
    """
    if not 1 <= n_stores <= N_STORES:
        raise ValueError(f"n_stores must be in [1, {N_STORES}], not {n_stores}")
    rng = _store_rng(seed, 0)
    n = N_STORES
    type_idx = rng.choice(4, size=n, p=_TYPE_P)
    cdf = np.cumsum(_ASSORT_GIVEN_TYPE / _ASSORT_GIVEN_TYPE.sum(axis=1, keepdims=True), axis=1)
    assort_idx = (rng.random(n)[:, None] >= cdf[type_idx, :-1]).sum(axis=1)

    distance = np.clip(np.round(np.exp(rng.normal(np.log(2325.0), 1.3, n)) / 10.0) * 10.0, 20.0, 75_860.0)
    distance[rng.choice(n, size=3, replace=False)] = np.nan
    comp_known = (rng.random(n) >= 354 / 1115) & ~np.isnan(distance)
    comp_year = rng.choice(_COMP_YEARS, size=n, p=_COMP_YEAR_COUNTS / _COMP_YEAR_COUNTS.sum()).astype(float)
    comp_month = (rng.choice(12, size=n, p=_COMP_MONTH_COUNTS / _COMP_MONTH_COUNTS.sum()) + 1).astype(float)
    comp_year[~comp_known] = np.nan
    comp_month[~comp_known] = np.nan

    promo2 = (rng.random(n) < 571 / 1115).astype(np.int64)
    p2_year = rng.choice(_PROMO2_YEARS, size=n, p=_PROMO2_YEAR_COUNTS / _PROMO2_YEAR_COUNTS.sum()).astype(float)
    p2_week = rng.integers(1, 51, size=n).astype(float)
    interval = np.array(PROMO_INTERVALS, dtype=object)[rng.choice(3, size=n, p=_INTERVAL_P)]
    off = promo2 == 0
    p2_year[off] = np.nan
    p2_week[off] = np.nan
    interval[off] = np.nan

    table = pd.DataFrame(
        {
            "Store": np.arange(1, n + 1, dtype=np.int64),
            "StoreType": pd.array(_TYPES[type_idx], dtype="str"),
            "Assortment": pd.array(_ASSORT[assort_idx], dtype="str"),
            "CompetitionDistance": distance,
            "CompetitionOpenSinceMonth": comp_month,
            "CompetitionOpenSinceYear": comp_year,
            "Promo2": promo2,
            "Promo2SinceWeek": p2_week,
            "Promo2SinceYear": p2_year,
            "PromoInterval": pd.array(interval, dtype="str"),
        },
        columns=list(STORE_COLUMNS),
    )
    return table.head(n_stores).reset_index(drop=True)


# ---------------------------------------------------------------------------- calendar
# 12 German states with their regional public holidays and school-holiday offsets.
_STATES = ("NW", "BY", "BW", "HE", "NI", "SH", "RP", "SN", "ST", "TH", "BE", "HH")
_STATE_P = np.array([0.29, 0.16, 0.13, 0.10, 0.08, 0.05, 0.05, 0.04, 0.03, 0.03, 0.02, 0.02])
_EPIPHANY = {"BY", "BW", "ST"}
_CORPUS_CHRISTI = {"NW", "BY", "BW", "HE", "RP"}
_ASSUMPTION = {"BY"}
_REFORMATION = {"SN", "ST", "TH"}
_ALL_SAINTS = {"NW", "BY", "BW", "RP"}
_REPENTANCE = {"SN"}


def easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def _year_calendar(year: int) -> tuple[dict, dict]:
    """(holidays, school) for one year: {(state, date): code}, {state: set of school-holiday dates}."""
    e = easter(year)
    national = {
        dt.date(year, 1, 1): "a", e - dt.timedelta(days=2): "b", e + dt.timedelta(days=1): "b",
        dt.date(year, 5, 1): "a", e + dt.timedelta(days=39): "a", e + dt.timedelta(days=50): "a",
        dt.date(year, 10, 3): "a", dt.date(year, 12, 25): "c", dt.date(year, 12, 26): "c",
    }
    nov23 = dt.date(year, 11, 23)
    regional = [
        (dt.date(year, 1, 6), _EPIPHANY), (e + dt.timedelta(days=60), _CORPUS_CHRISTI),
        (dt.date(year, 8, 15), _ASSUMPTION), (dt.date(year, 10, 31), _REFORMATION),
        (dt.date(year, 11, 1), _ALL_SAINTS), (nov23 - dt.timedelta(days=(nov23.weekday() - 2) % 7 or 7), _REPENTANCE),
    ]
    holidays: dict = {}
    school: dict = {}
    for s_idx, state in enumerate(_STATES):
        for day, code in national.items():
            holidays[(state, day)] = code
        for day, states in regional:
            if state in states:
                holidays[(state, day)] = "a"
        days: set = set()

        def span(first: dt.date, n_days: int, _days=days) -> None:
            _days.update(first + dt.timedelta(days=i) for i in range(n_days))

        # summer: 6 weeks, start rotating between late June and early August by state and year
        summer = dt.date(year, 6, 22) + dt.timedelta(weeks=(s_idx * 5 + year * 3) % 7)
        span(summer, 44)
        span(e - dt.timedelta(days=8 + (s_idx % 3) * 2), 15)  # Easter holidays
        span(dt.date(year, 10, 5) + dt.timedelta(weeks=(s_idx + year) % 3), 12)  # autumn
        span(dt.date(year, 12, 22), 10)  # Christmas holidays (into January)
        span(dt.date(year, 1, 1), 6)
        if state in ("BY", "BW"):
            span(e + dt.timedelta(days=49), 12)  # Whitsun holidays
        school[state] = days
    return holidays, school


def _calendar_arrays(dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(state holiday code per state x day as str array, school holiday flag per state x day)."""
    codes = np.full((len(_STATES), len(dates)), "0", dtype=object)
    school = np.zeros((len(_STATES), len(dates)), dtype=np.int64)
    for j, ts in enumerate(dates):
        day = ts.date()
        holidays, school_days = _year_calendar(day.year)
        for s_idx, state in enumerate(_STATES):
            code = holidays.get((state, day))
            if code is not None:
                codes[s_idx, j] = code
            if day in school_days[state] or code is not None:
                school[s_idx, j] = 1
    return codes, school


def promo_week(monday: dt.date) -> bool:
    """Chain-wide promotions run Monday-Friday every other ISO week."""
    return (monday.toordinal() // 7) % 2 == 0


# ---------------------------------------------------------------------------- hidden store effects
_TYPE_EFFECT = {"a": 0.0, "b": 0.38, "c": 0.02, "d": 0.03}
_ASSORT_EFFECT = {"a": 0.0, "b": -0.12, "c": 0.08}
_BASKET = {"a": 9.6, "b": 5.1, "c": 9.9, "d": 11.2}
_DOW_EFFECT = np.array([0.16, 0.03, -0.01, -0.02, 0.04, -0.12, 0.10])  # Monday..Sunday (log)
_MONTH_EFFECT = np.array([-0.06, -0.05, -0.01, 0.0, 0.0, 0.01, 0.02, -0.02, -0.03, -0.02, 0.03, 0.14])


@dataclass(frozen=True)
class _Hidden:
    """Per-store latent parameters (all 1,115 stores, indexed by Store - 1)."""

    state: np.ndarray
    level: np.ndarray
    trend: np.ndarray
    promo_lift: np.ndarray
    sunday_open: np.ndarray
    refurbished: np.ndarray
    comp_sensitivity: np.ndarray


@lru_cache(maxsize=8)
def _hidden(seed: int) -> _Hidden:
    rng = _store_rng(seed, 1)
    n = N_STORES
    refurbished = np.zeros(n, dtype=bool)
    refurbished[rng.choice(n, size=round(n * REFURBISHED_SHARE), replace=False)] = True
    return _Hidden(
        state=rng.choice(len(_STATES), size=n, p=_STATE_P),
        level=rng.normal(np.log(5400.0), 0.33, n),
        trend=rng.normal(0.02, 0.03, n),
        promo_lift=np.clip(rng.normal(0.30, 0.07, n), 0.1, 0.5),
        sunday_open=rng.random(n) < 0.03,
        refurbished=refurbished,
        comp_sensitivity=np.clip(rng.normal(0.14, 0.04, n), 0.02, 0.3),
    )


# ---------------------------------------------------------------------------- weekly sales
@dataclass(frozen=True)
class WeekSpec:
    """What one landed week looks like; the defaults are a normal week."""

    drop_columns: tuple[str, ...] = ()  # schema break (e.g. the Store column missing)
    outliers: tuple[float, ...] = ()  # Sales values far above MAX_PLAUSIBLE_SALES on open days
    sales_as_text: bool = False  # the feed switched Sales to German-formatted text ("5.263,00")
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "drop_columns", tuple(self.drop_columns))
        object.__setattr__(self, "outliers", tuple(float(v) for v in self.outliers))
        unknown = sorted(set(self.drop_columns) - set(SALES_COLUMNS))
        if unknown:
            raise ValueError(f"drop_columns {unknown} are not columns of the sales data")


def generate_days(start: dt.date, end: dt.date, stores: pd.DataFrame | None = None, seed: int = 42) -> pd.DataFrame:
    """Daily sales rows of every store for start..end (inclusive), sorted by Date then Store.

    `stores` is the store table (default: the synthetic one of all 1,115 stores); the real
    table works too. Draws are made per ISO week, so any range cuts the same rows.
    """
    if stores is None:
        stores = generate_store_table(N_STORES, seed)
    first = start - dt.timedelta(days=start.weekday())
    parts = []
    monday = first
    while monday <= end:
        parts.append(_week_frame(monday, stores, seed))
        monday += dt.timedelta(weeks=1)
    frame = pd.concat(parts, ignore_index=True)
    mask = (frame["Date"] >= start.isoformat()) & (frame["Date"] <= end.isoformat())
    return frame[mask].reset_index(drop=True)


def generate_week(monday: dt.date, spec: WeekSpec | None = None, stores: pd.DataFrame | None = None,
                  seed: int = 42) -> pd.DataFrame:
    """One landed weekly batch (Monday..Sunday, all stores), with the spec's data problems."""
    if isinstance(monday, dt.datetime):
        monday = monday.date()
    if monday.weekday() != 0:
        raise ValueError(f"{monday} is not a Monday")
    spec = spec or WeekSpec()
    if stores is None:
        stores = generate_store_table(N_STORES, seed)
    frame = _week_frame(monday, stores, seed)
    if spec.outliers:
        rng = np.random.default_rng([seed, monday.toordinal(), 99])
        open_rows = np.flatnonzero(frame["Open"].to_numpy() == 1)
        rows = np.sort(rng.choice(open_rows, size=min(len(spec.outliers), len(open_rows)), replace=False))
        sales = frame["Sales"].to_numpy().copy()
        sales[rows] = np.asarray(spec.outliers[: len(rows)], dtype=np.int64)
        frame["Sales"] = sales
    if spec.sales_as_text:
        frame["Sales"] = german_number_text(frame["Sales"])
    return frame.drop(columns=list(spec.drop_columns))


def german_number_text(values: pd.Series) -> pd.Series:
    """5263 -> '5.263,00': what an export with German locale settings writes."""
    text = pd.Series(values).map("{:,.2f}".format)  # vectorised formatting of the whole column
    return text.str.replace(",", "_", regex=False).str.replace(".", ",", regex=False).str.replace(
        "_", ".", regex=False
    ).astype("str")


def _week_frame(monday: dt.date, stores: pd.DataFrame, seed: int) -> pd.DataFrame:
    """All stores x 7 days of one ISO week, vectorised (rows: day-major, then store)."""
    hidden = _hidden(seed)
    store_ids = stores["Store"].to_numpy(dtype=np.int64)
    if store_ids.min() < 1 or store_ids.max() > N_STORES:
        raise ValueError(f"store ids must be in [1, {N_STORES}]")
    h = store_ids - 1
    n = len(store_ids)
    dates = pd.date_range(monday, periods=7, freq="D")
    codes_by_state, school_by_state = _calendar_arrays(dates)
    state = hidden.state[h]
    holiday = codes_by_state[state]  # (n, 7)
    school = school_by_state[state]
    is_holiday = holiday != "0"

    # Every draw for all 1,115 stores in a fixed order, then the requested stores picked:
    # a subset of stores sees exactly the rows the full data has for them.
    rng = np.random.default_rng([seed, monday.toordinal()])
    week_shock = rng.normal(0.0, 0.03, N_STORES)[h]
    noise = rng.normal(0.0, 0.07, (N_STORES, 7))[h]
    u_closed = rng.random((N_STORES, 7))[h]
    u_holiday_open = rng.random((N_STORES, 7))[h]
    customer_noise = rng.normal(0.0, 0.04, (N_STORES, 7))[h]

    dow = np.arange(7)
    month = dates.month.to_numpy()
    dom = dates.day.to_numpy()
    years = (dates - pd.Timestamp(FULL_START)).days.to_numpy() / 365.25

    is_sunday = (dow == 6)[None, :]
    open_ = ~(is_sunday & ~hidden.sunday_open[h][:, None])
    open_ &= ~(is_holiday & (u_holiday_open > 0.04))
    open_ &= u_closed >= 0.003

    promo_on = promo_week(monday)
    promo = np.broadcast_to(((dow < 5) & promo_on)[None, :], (n, 7)).astype(np.int64)

    stype = stores["StoreType"].astype(str).to_numpy()
    assort = stores["Assortment"].astype(str).to_numpy()
    type_eff = pd.Series(_TYPE_EFFECT).reindex(stype).fillna(0.0).to_numpy()
    assort_eff = pd.Series(_ASSORT_EFFECT).reindex(assort).fillna(0.0).to_numpy()
    basket = pd.Series(_BASKET).reindex(stype).fillna(9.6).to_numpy()

    # competition: active once opened; closer competitors hurt more
    dist = stores["CompetitionDistance"].to_numpy(dtype=float)
    c_year = stores["CompetitionOpenSinceYear"].to_numpy(dtype=float)
    c_month = stores["CompetitionOpenSinceMonth"].to_numpy(dtype=float)
    open_months = np.where(np.isnan(c_year), -1e9, c_year * 12 + np.nan_to_num(c_month, nan=1.0) - 1)
    row_months = (dates.year.to_numpy() * 12 + month - 1)[None, :]
    comp_active = (row_months >= open_months[:, None]) & ~np.isnan(dist)[:, None]
    comp_eff = -hidden.comp_sensitivity[h][:, None] * np.exp(-np.nan_to_num(dist, nan=1e9) / 4000.0)[:, None]
    comp_eff = np.where(comp_active, comp_eff, 0.0)

    # Promo2: +2% in the months of the store's interval once it started
    p2 = stores["Promo2"].to_numpy(dtype=np.int64) == 1
    p2_start = iso_week_monday(stores["Promo2SinceYear"].to_numpy(dtype=float),
                                stores["Promo2SinceWeek"].to_numpy(dtype=float))
    interval = stores["PromoInterval"].astype(object).to_numpy()
    first_month = np.select(
        [interval == PROMO_INTERVALS[0], interval == PROMO_INTERVALS[1], interval == PROMO_INTERVALS[2]],
        [1, 2, 3], default=0,
    )
    in_month = (first_month[:, None] > 0) & (((month[None, :] - first_month[:, None]) % 3) == 0)
    started = dates.to_numpy().astype("datetime64[D]")[None, :] >= p2_start[:, None]
    p2_eff = np.where(p2[:, None] & in_month & started, 0.02, 0.0)

    # calendar: Christmas run-up, day before a closing holiday, payday, school holidays
    season = np.zeros(7)
    for j, ts in enumerate(dates):
        if ts.month == 12 and 14 <= ts.day <= 23:
            season[j] = 0.25 + 0.02 * (ts.day - 14)
        elif ts.month == 12 and ts.day == 24:
            season[j] = 0.1
        elif ts.month == 12 and ts.day == 31:
            season[j] = -0.1
    pre_holiday = np.zeros((n, 7))
    next_codes, _ = _calendar_arrays(pd.date_range(monday + dt.timedelta(days=1), periods=7, freq="D"))
    pre_holiday[next_codes[state] != "0"] = 0.12
    payday = np.where((dom <= 3) | (dom >= 28), 0.03, 0.0)

    log_sales = (
        hidden.level[h][:, None]
        + type_eff[:, None]
        + assort_eff[:, None]
        + hidden.trend[h][:, None] * years[None, :]
        + _DOW_EFFECT[None, :]
        + _MONTH_EFFECT[month - 1][None, :]
        + season[None, :]
        + payday[None, :]
        + promo * hidden.promo_lift[h][:, None]
        + 0.02 * school
        + comp_eff
        + p2_eff
        + pre_holiday
        + week_shock[:, None]
        + noise
    )
    sales = np.where(open_, np.round(np.exp(log_sales)), 0).astype(np.int64)
    customers = np.where(open_, np.round(sales / basket[:, None] * np.exp(customer_noise)), 0).astype(np.int64)

    frame = pd.DataFrame(
        {
            "Store": np.tile(store_ids, 7),
            "DayOfWeek": np.repeat(dow + 1, n).astype(np.int64),
            "Date": np.repeat(dates.strftime("%Y-%m-%d").to_numpy(), n),
            "Sales": sales.T.ravel(),
            "Customers": customers.T.ravel(),
            "Open": open_.T.ravel().astype(np.int64),
            "Promo": promo.T.ravel(),
            "StateHoliday": holiday.T.ravel().astype(str),
            "SchoolHoliday": school.T.ravel(),
        },
        columns=list(SALES_COLUMNS),
    )
    frame["Date"] = frame["Date"].astype("str")
    frame["StateHoliday"] = frame["StateHoliday"].astype("str")
    # refurbished stores have no rows while closed for refurbishment
    refurb = hidden.refurbished[frame["Store"].to_numpy() - 1]
    in_refurb = (frame["Date"] >= REFURBISHMENT[0].isoformat()) & (frame["Date"] <= REFURBISHMENT[1].isoformat())
    return frame[~(refurb & in_refurb.to_numpy())].reset_index(drop=True)


# ---------------------------------------------------------------------------- scenarios
SCENARIOS: dict[str, str] = {
    "stable": "normal weeks: no data problems",
    "dataops": "the DataOps story: w1 initial deployment, w2 routine week, w3 three implausible Sales "
    "values (1,250,000 / 1,100,000 / 1,500,000: warning, the run continues), w4 Sales exported as "
    "German-formatted text (schema type change: stops), w5 the Store column missing (stops at step 1)",
    "missing_store_week_N": "the Store column is missing in week N",
    "outliers_week_N": "three implausible Sales values in week N",
    "sales_as_text_week_N": "Sales exported as text ('5.263,00') in week N",
}
SCENARIOS["demo"] = SCENARIOS["dataops"]

_WEEK_N = re.compile(r"^(missing_store|outliers|sales_as_text)_week_(\d+)$")


def _problem(kind: str) -> WeekSpec:
    if kind == "missing_store":
        return WeekSpec(drop_columns=("Store",), note="schema break: the Store column is missing")
    if kind == "outliers":
        return WeekSpec(outliers=SEED_OUTLIERS, note="3 implausible Sales values: warning, run continues")
    return WeekSpec(sales_as_text=True, note="schema type change: Sales exported as text")


def scenario(name: str, weeks: int) -> list[WeekSpec]:
    """The specs of weeks 1..`weeks` of a named scenario (see SCENARIOS)."""
    if weeks < 0:
        raise ValueError(f"weeks must be >= 0, not {weeks}")
    if name == "stable":
        return [WeekSpec(note="normal week") for _ in range(weeks)]
    if name in ("dataops", "demo"):
        story = {
            1: WeekSpec(note="initial deployment"),
            2: WeekSpec(note="routine week"),
            3: _problem("outliers"),
            4: _problem("sales_as_text"),
            5: _problem("missing_store"),
        }
        return [story.get(w, WeekSpec(note="normal week")) for w in range(1, weeks + 1)]
    match = _WEEK_N.match(name)
    if match is None or int(match.group(2)) < 1:
        raise ValueError(f"unknown scenario {name!r}; valid: {', '.join(SCENARIOS)} (N is a week number >= 1)")
    kind, at = match.group(1), int(match.group(2))
    return [_problem(kind) if w == at else WeekSpec(note="normal week") for w in range(1, weeks + 1)]


_scenario_specs = scenario  # land_weeks() has a parameter named `scenario`


# ---------------------------------------------------------------------------- landing
def required_history_weeks(cfg) -> int:
    """Weeks a first run reads before its own: the training window plus the feature history."""
    from retrain.families.sales import history_weeks

    return cfg.data.window_weeks - 1 + history_weeks(cfg)


def land_weeks(store, cfg, start: dt.date, weeks: int, scenario: str = "stable", seed: int = 42,
               history_weeks: int = 0, stores: int | None = None, store_table: pd.DataFrame | None = None,
               ) -> list[dict]:
    """Land `history_weeks` normal weeks before `start`, then the scenario's weeks.

    Two objects per ISO week: `batch.<data.format>` (daily sales of all stores) and the store
    table `<stores input>.<format>` (landed every week, so a run reads the version current
    for its week). At least `required_history_weeks(cfg)` history weeks are landed, so the
    first run has its full window and lag history.
    """
    from retrain.config import Settings
    from retrain.core.frames import to_bytes
    from retrain.families.sales import stores_input
    from retrain.keys import Keys, week_start

    first = week_start(start)
    if first != start:
        raise ValueError(f"--start must be a Monday (ISO week start); {start} is not, use {first}")
    table = store_table if store_table is not None else generate_store_table(stores or N_STORES, seed)
    history_weeks = max(int(history_weeks), required_history_weeks(cfg))
    specs = [WeekSpec(note="history (normal week)")] * history_weeks + _scenario_specs(scenario, weeks)
    keys = Keys(cfg.name, Settings.from_env().prefix)
    stores_name, stores_fmt = stores_input(cfg)
    table_bytes = to_bytes(table, stores_fmt)
    written = []
    for i, spec in enumerate(specs):
        week = first + dt.timedelta(weeks=i - history_weeks)
        frame = generate_week(week, spec, stores=table, seed=seed)
        key = keys.landing(week, cfg.data.format)
        store.put_bytes(key, to_bytes(frame, cfg.data.format))
        store.put_bytes(keys.landing(week, stores_fmt, stores_name), table_bytes)
        written.append({"week": week.isoformat(), "rows": len(frame), "note": spec.note, "key": key,
                        "scenario_week": i - history_weeks + 1})
    return written
