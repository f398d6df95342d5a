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
3. features: the 32 standard features (ENGINEERED_FEATURES) on every processed row, then
   only the window's open days with Sales > 0 kept (the history rows only feed lags);
   checked for infinities, nulls where no null can arise, expected columns.

Lags and rolling statistics are computed on a dense day x store grid (a day missing for a
store is NaN there, never the neighbouring row): lag k reads day d - k, the rolling windows
end at day d - 1 (shift before rolling), so no feature of a day uses that day or a later one.

The model predicts Sales directly (one sklearn Pipeline: ordinal-encode categoricals, pass
numbers through with their NaNs, then the regressor); RMSPE is the metric (lower is better)
and cross-validation holds out the newest weeks of the training part, one week per fold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from retrain.config import ModelConfig
from retrain.errors import DataValidationError, MissingInputError

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

LAGS = (1, 7, 14, 28)
ROLLING_WINDOWS = (7, 14, 28, 60)
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


def _sales_history(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Lags and shifted rolling stats per store on a dense day x store grid (vectorised)."""
    day0 = frame["Date"].min()
    day = (frame["Date"] - day0).dt.days.to_numpy()
    store_code, stores = pd.factorize(frame["Store"], sort=True)
    n_days, n_stores = int(day.max()) + 1, len(stores)
    sales = frame["Sales"].to_numpy(dtype=np.float64)
    grid = np.full((n_days, n_stores), np.nan)
    grid[day, store_code] = sales
    # rolling statistics describe open days; a closed day (Sales 0) is not a low-sales day
    open_grid = np.full((n_days, n_stores), np.nan)
    open_grid[day, store_code] = np.where(frame["Open"].to_numpy() == 1, sales, np.nan)
    out: dict[str, np.ndarray] = {}
    for k in LAGS:
        lagged = np.full(len(frame), np.nan)
        ok = day >= k
        lagged[ok] = grid[day[ok] - k, store_code[ok]]
        out[f"sales_lag_{k}"] = lagged
    previous = pd.DataFrame(np.vstack([np.full((1, n_stores), np.nan), open_grid[:-1]]))  # shift(1): days < d
    for w in ROLLING_WINDOWS:
        roll = previous.rolling(w, min_periods=1)
        out[f"sales_roll_mean_{w}"] = roll.mean().to_numpy()[day, store_code]
        out[f"sales_roll_std_{w}"] = previous.rolling(w, min_periods=2).std().to_numpy()[day, store_code]
    return out


def engineer_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The processed frame plus the 32 standard features, same rows and order.

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

    new.update(_sales_history(frame))
    features = pd.DataFrame({name: new[name] for name in ENGINEERED_FEATURES}, index=frame.index)
    return pd.concat([frame, features], axis=1)


# ---------------------------------------------------------------------------- reading
def read_stores(loader, cfg: ModelConfig, week: dt.date) -> pd.DataFrame:
    """The store table landed with the run's week (the version current for that week)."""
    name, fmt = stores_input(cfg)
    return loader.read(week, name=name, fmt=fmt)


def read_processed(loader, cfg: ModelConfig, week: dt.date, n_weeks: int) -> Processed:
    """The run's `n_weeks` newest weeks plus the feature history, processed. The run's week
    must be landed; earlier weeks that were never landed are simply absent."""
    from retrain.features import window_weeks

    stores = read_stores(loader, cfg, week)
    batches = loader.batches(window_weeks(week, n_weeks + history_weeks(cfg)), required=week)
    return process(batches, stores)


def model_rows(featured: pd.DataFrame, first_week: dt.date) -> pd.DataFrame:
    """Rows a model trains and is scored on: the window's open days with Sales > 0."""
    keep = (featured[WEEK_COLUMN] >= first_week.isoformat()) & (featured["Open"] == 1) & (featured["Sales"] > 0)
    return featured[keep].reset_index(drop=True)


class SalesForecastFamily:
    task = "regression"

    # ------------------------------------------------------------------ frames
    def _prepared(self, loader, cfg: ModelConfig, week: dt.date, n_weeks: int) -> pd.DataFrame:
        processed = read_processed(loader, cfg, week, n_weeks)
        featured = engineer_features(processed.require_typed())
        rows = model_rows(featured, week - dt.timedelta(weeks=n_weeks - 1))
        keep = ["Store", "Date", *self.feature_columns(cfg), cfg.data.label, WEEK_COLUMN]
        return rows[list(dict.fromkeys(keep))]

    def window_frame(self, loader, cfg: ModelConfig, week) -> pd.DataFrame:
        """The training window's model rows (features + label + Store/Date + `_week`)."""
        return self._prepared(loader, cfg, week, cfg.data.window_weeks)

    def batch_frame(self, loader, cfg: ModelConfig, week) -> pd.DataFrame:
        """The newest week's model rows (its lags read the earlier partitions)."""
        return self._prepared(loader, cfg, week, 1)

    def feature_columns(self, cfg: ModelConfig) -> list[str]:
        return list(cfg.data.features)

    def target(self, frame: pd.DataFrame, cfg: ModelConfig) -> np.ndarray:
        return frame[cfg.data.label].to_numpy(dtype=np.float64)

    # ------------------------------------------------------------------ model
    def build_preprocessor(self, cfg: ModelConfig):
        """Numbers (with their NaNs: both tree ensembles split on missing values) pass through;
        categoricals are ordinal-encoded, an unseen or missing category becoming -1."""
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OrdinalEncoder

        parts = [("numeric", "passthrough", list(cfg.data.numeric_features) + list(cfg.data.binary_features))]
        if cfg.data.categorical_features:
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                     encoded_missing_value=-1, dtype=np.float64)
            parts.append(("categorical", encoder, list(cfg.data.categorical_features)))
        return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)

    def cv_splits(self, frame: pd.DataFrame, y: np.ndarray, cfg: ModelConfig):
        """Time-ordered folds: each of the newest `cv_folds` weeks is validated by a model
        trained on all earlier weeks (expanding window); never a shuffled K-fold."""
        weeks = np.asarray(frame[WEEK_COLUMN])
        ordered = sorted(set(weeks.tolist()))
        n_folds = min(cfg.training.cv_folds, len(ordered) - 1)
        if n_folds < 1:
            raise DataValidationError(f"time-based CV needs at least 2 weeks in the training part, got {ordered}")
        folds = []
        for val_week in ordered[-n_folds:]:
            train_idx = np.flatnonzero(weeks < val_week)
            val_idx = np.flatnonzero(weeks == val_week)
            folds.append((train_idx, val_idx))
        return folds

    def score(self, model, X: pd.DataFrame) -> np.ndarray:
        """Predicted Sales of each row (never negative)."""
        return np.maximum(np.asarray(model.predict(X), dtype=np.float64), 0.0)

    def metrics(self, y: np.ndarray, scores: np.ndarray, cfg: ModelConfig) -> dict:
        from retrain.metrics import regression_metrics

        return regression_metrics(y, scores)

    def sample_for_cv(self, frame: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
        """All rows, or a uniform sample in time order (every week keeps its share)."""
        if len(y) <= max_rows:
            return np.arange(len(y))
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(len(y), size=max_rows, replace=False))

    # ------------------------------------------------------------------ validation
    def validation_stages(self, loader, cfg: ModelConfig, week, batch_report=None) -> list:
        """Store-table, processed and features stages (the raw batch suite runs in the step).

        A stage runs only when every earlier stage passed; a stage not run is listed with why.
        """
        return validation_stages(loader, cfg, week, batch_report)


# ---------------------------------------------------------------------------- validation stages
def _check(name: str, severity: str, success: bool, message: str, **kw):
    from retrain.validation import CheckResult

    return CheckResult(expectation_type=name, severity=severity, success=success, message=message,
                       source="sales", **kw)


def _stage(name: str, results: list, **meta):
    from retrain.validation import ValidationReport

    return ValidationReport(stage=name, results=results, meta=meta)


def not_run(stage: str, reason: str):
    """A stage that did not run because an earlier one failed: listed, with no results."""
    return _stage(stage, [], not_run=reason)


def _reason(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def validation_stages(loader, cfg: ModelConfig, week: dt.date, batch_report=None) -> list:
    from retrain.validation import CRITICAL, ValidationReport, run_suite

    # raw data, second half: the store table landed with the week
    try:
        store_report = run_suite(read_stores(loader, cfg, week), _suite(cfg, "store_table_suite"),
                                 stage="raw store table")
    except MissingInputError as exc:
        store_report = _stage("raw store table", [_check("store_table_readable", CRITICAL, False, str(exc))])
    reports = [store_report]
    if not store_report.passed or (batch_report is not None and not batch_report.passed):
        why = "stopped: the raw data (sales batch or store table) failed a critical check"
        return [*reports, not_run("processed", why), not_run("features", why)]

    # processed: cleaned, typed and merged with the history and the store table
    try:
        processed = read_processed(loader, cfg, week, cfg.data.window_weeks)
    except (KeyError, MissingInputError) as exc:
        failed = _stage("processed", [_check("processed_inputs_usable", CRITICAL, False, _reason(exc))])
        return [*reports, failed, not_run("features", "stopped: the landed data could not be processed")]
    processed_report = ValidationReport.combine(
        "processed",
        run_suite(processed.frame, _suite(cfg, "processed_suite"), stage="processed suite"),
        _stage("processed checks", processed_checks(processed)),
        meta={"rows": len(processed.frame), "weeks": sorted(processed.frame[WEEK_COLUMN].unique().tolist())},
    )
    reports.append(processed_report)
    if not processed_report.passed:
        return [*reports, not_run("features", "stopped: the processed data failed a critical check")]

    # features: the model rows with their features
    first = week - dt.timedelta(weeks=cfg.data.window_weeks - 1)
    try:
        rows = model_rows(engineer_features(processed.require_typed()), first)
    except (KeyError, MissingInputError) as exc:
        return [*reports, _stage("features", [_check("features_computable", CRITICAL, False, _reason(exc))])]
    reports.append(ValidationReport.combine(
        "features",
        run_suite(rows, _suite(cfg, "features_suite"), stage="features suite"),
        _stage("feature checks", feature_checks(rows, cfg)),
        meta={"rows": len(rows)},
    ))
    return reports


def processed_checks(processed: Processed) -> list:
    """Types, dates contiguous per store, rows in their landing week, DayOfWeek vs Date."""
    from retrain.validation import CRITICAL, WARNING
    from retrain.validation.report import distinct_examples

    frame, results = processed.frame, []
    for col in (*NUMERIC_INPUTS, "Date"):
        p = processed.type_problems.get(col)
        expected = "a YYYY-MM-DD date" if col == "Date" else "numeric"
        if p is None:
            results.append(_check("processed_column_type", CRITICAL, True, f"{col} is {expected}", column=col,
                                  observed_value=str(frame[col].dtype)))
            continue
        results.append(_check(
            "processed_column_type", CRITICAL, False,
            f"{p['bad_count']} values are not {expected} (found column type {p['dtype']}): {p['examples']!r}",
            column=col, observed_value=p["dtype"], unexpected_count=p["bad_count"],
            unexpected_percent=round(100.0 * p["bad_count"] / max(len(frame), 1), 4),
            unexpected_examples=distinct_examples(p["examples"]),
        ))

    placed = frame.dropna(subset=["Store", "Date"])
    ordered = placed.sort_values(["Store", "Date"], kind="stable")
    step = ordered.groupby("Store", sort=False)["Date"].diff().dt.days
    gaps = ordered.loc[step > 1, ["Store", "Date"]].assign(days=step[step > 1] - 1)
    newest = pd.Timestamp(processed.newest_week)
    for name, severity, part, where in (
        ("processed_dates_contiguous_newest_week", CRITICAL, gaps[gaps["Date"] > newest], "in the newest week"),
        ("processed_dates_contiguous_history", WARNING, gaps[gaps["Date"] <= newest], "in the history"),
    ):
        examples = [f"store {int(r.Store)}: {r.days} day(s) missing before {r.Date.date()}"
                    for r in part.head(10).itertuples()]
        results.append(_check(
            name, severity, part.empty,
            f"no missing days per store {where}" if part.empty
            else f"{len(part)} gap(s) in {part['Store'].nunique()} store(s) {where}: {examples}",
            column="Date", unexpected_count=len(part), unexpected_examples=examples,
        ))

    offset = (placed["Date"] - pd.to_datetime(placed[WEEK_COLUMN])).dt.days
    outside = placed[(offset < 0) | (offset > 6)]
    results.append(_check(
        "processed_dates_in_landing_week", CRITICAL, outside.empty,
        "every row lies in its landing week" if outside.empty else
        f"{len(outside)} rows outside their week=... partition: "
        f"{outside[['Store', 'Date', WEEK_COLUMN]].head(5).astype(str).to_dict('records')}",
        column="Date", unexpected_count=len(outside),
    ))
    dow = placed.dropna(subset=["DayOfWeek"])
    wrong = dow[dow["DayOfWeek"] != dow["Date"].dt.day_of_week + 1]
    results.append(_check(
        "processed_day_of_week_matches_date", CRITICAL, wrong.empty,
        "DayOfWeek agrees with Date (1 = Monday)" if wrong.empty else
        f"{len(wrong)} rows whose DayOfWeek is not the weekday of Date: "
        f"{wrong[['Store', 'Date', 'DayOfWeek']].head(5).astype(str).to_dict('records')}",
        column="DayOfWeek", unexpected_count=len(wrong),
    ))
    return results


def feature_checks(rows: pd.DataFrame, cfg: ModelConfig) -> list:
    """Configured features present, no infinities, enough rows, lag history mostly present."""
    from retrain.validation import CRITICAL, WARNING

    features = list(dict.fromkeys(cfg.data.features))
    missing = [f for f in features if f not in rows.columns]
    results = [_check("features_present", CRITICAL, not missing,
                      f"missing features: {missing}" if missing else f"all {len(features)} model features present",
                      missing_columns=missing, kwargs={"features": features})]
    numeric = [c for c in (*features, cfg.data.label) if c in rows.columns
               and pd.api.types.is_numeric_dtype(rows[c]) and not pd.api.types.is_bool_dtype(rows[c])]
    inf_counts = {c: int(np.isinf(rows[c].to_numpy(dtype=np.float64)).sum()) for c in numeric}
    inf_counts = {c: n for c, n in inf_counts.items() if n}
    results.append(_check("features_finite", CRITICAL, not inf_counts,
                          f"infinite values: {inf_counts}" if inf_counts else f"no infinities in {len(numeric)} columns",
                          observed_value=inf_counts, unexpected_count=sum(inf_counts.values())))
    min_rows = cfg.data.window_checks.min_rows
    results.append(_check("features_row_count", CRITICAL, len(rows) >= min_rows,
                          f"{len(rows)} model rows (open days with Sales > 0), expected >= {min_rows}",
                          observed_value=len(rows), kwargs={"min_rows": min_rows}))
    limit = cfg.data.window_checks.max_null_rate
    history_cols = [c for c in (*LAG_FEATURES, *ROLLING_FEATURES) if c in rows.columns]
    rates = {c: round(float(rows[c].isna().mean()), 4) for c in history_cols} if len(rows) else {}
    high = {c: r for c, r in rates.items() if r > limit}
    results.append(_check("features_history_null_rate", WARNING, not high,
                          f"lag/rolling null rate above {limit:.0%} (missing history, the model sees NaN): {high}"
                          if high else f"lag/rolling null rates <= {limit:.0%}", observed_value=rates))
    return results
