"""The `sales_forecast` family (Rossmann): features without leakage, computed vectorised over a
day x store grid, the history read from earlier partitions, time-ordered CV, the three
validation stages, and a model that clearly beats the seasonal-naive baseline."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from retrain.config import expectations_dir, load_model_config
from retrain.core.features import split_out_of_time
from retrain.core.metrics import higher_is_better, rmspe
from retrain.errors import MissingInputError
from retrain.families import get_family
from retrain.families import sales as S
from retrain_dev.datagen import rossmann as R

REAL_STORE_TABLE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "rossmann_store.csv"
WEEK = dt.date(2015, 6, 8)
CFG = load_model_config("rossmann")


class FakeLoader:
    """LandingLoader over generated weeks (no S3): same read/exists/batches/lineage contract."""

    def __init__(self, stores: pd.DataFrame, weeks, specs: dict | None = None, edits: dict | None = None):
        self.stores, self.weeks = stores, set(weeks)
        self.specs, self.edits = specs or {}, edits or {}
        self.lineage: dict[str, str] = {}

    def read(self, week, name="batch", fmt=None):
        if week not in self.weeks:
            raise MissingInputError(f"landing {name} for week={week} does not exist")
        self.lineage[f"landing/rossmann/week={week.isoformat()}/{name}.{fmt or 'csv'}"] = "0" * 64
        if name != "batch":
            return self.stores.copy()
        frame = R.generate_week(week, self.specs.get(week), stores=self.stores)
        return self.edits[week](frame) if week in self.edits else frame

    def exists(self, week, name="batch", fmt=None):
        return week in self.weeks

    def batch(self, week):
        return self.read(week)

    def batches(self, weeks, required):
        return {w: self.read(w) for w in weeks if w == required or self.exists(w)}


def landed_weeks(last: dt.date = WEEK, extra: int = 0) -> list[dt.date]:
    n = CFG.data.window_weeks + S.history_weeks(CFG) + extra
    return [last - dt.timedelta(weeks=i) for i in range(n)]


@pytest.fixture(scope="module")
def stores() -> pd.DataFrame:
    """30 stores open throughout: the year-long window reaches back into the synthetic
    refurbishment closure (2014-07..12), whose gap has its own tests on real rows."""
    table = R.generate_store_table(60)
    refurbished = R._hidden(42).refurbished[table["Store"].to_numpy() - 1]
    return table[~refurbished].head(30).reset_index(drop=True)


@pytest.fixture(scope="module")
def family():
    return get_family("sales_forecast")


@pytest.fixture(scope="module")
def featured(stores) -> pd.DataFrame:
    loader = FakeLoader(stores, landed_weeks())
    return S.engineer_features(S.read_processed(loader, CFG, WEEK, CFG.data.window_weeks).require_typed())


# ---------------------------------------------------------------------------- config and suites
def test_the_32_standard_features_are_configured_and_covered_by_the_features_suite():
    """At the configured 7-day horizon the one standard feature too recent to use is sales_lag_1."""
    assert len(S.ENGINEERED_FEATURES) == 32 and len(set(S.ENGINEERED_FEATURES)) == 32
    assert S.forecast_horizon(CFG) == 7
    at_horizon = S.engineered_features(S.forecast_horizon(CFG))
    assert set(S.ENGINEERED_FEATURES) - set(at_horizon) == {"sales_lag_1"}
    # every engineered feature is configured except the yearly ones (see rossmann.yaml: at a two-year
    # window a 364-day lag misplaces the moving holidays)
    assert set(at_horizon) - set(S.YEARLY_FEATURES) <= set(CFG.data.features)
    assert not set(S.YEARLY_FEATURES) & set(CFG.data.features)
    assert "Customers" not in CFG.data.features, "unknown at forecast time"
    suite = json.loads((expectations_dir() / CFG.data.extra["features_suite"]).read_text())
    column_set = next(e for e in suite["expectations"] if e["type"] == "expect_table_columns_to_match_set")
    assert set(column_set["kwargs"]["column_set"]) == set(at_horizon) & set(CFG.data.features)


def test_raw_batch_suite_has_the_13_expectations_of_the_issue():
    suite = json.loads((expectations_dir() / CFG.data.expectation_suite).read_text())
    exps = suite["expectations"]
    assert len(exps) == 13
    kinds = [(e["type"], e["kwargs"].get("column")) for e in exps]
    for expected in [("expect_table_row_count_to_be_between", None), ("expect_table_columns_to_match_ordered_list", None),
                     *[("expect_column_values_to_not_be_null", c) for c in ("Store", "Date", "DayOfWeek")],
                     *[("expect_column_values_to_be_between", c) for c in ("Sales", "Customers", "Store")],
                     *[("expect_column_values_to_be_in_set", c) for c in
                       ("Open", "Promo", "DayOfWeek", "StateHoliday", "SchoolHoliday")]]:
        assert expected in kinds
    sales = next(e for e in exps if e["kwargs"].get("column") == "Sales")
    assert sales["meta"]["severity"] == "warning" and sales["kwargs"]["max_value"] == R.MAX_PLAUSIBLE_SALES
    assert exps[1]["kwargs"]["column_list"] == list(S.SALES_COLUMNS)


def test_rmspe_is_the_metric_and_lower_is_better():
    assert CFG.training.selection_metric == "rmspe" and higher_is_better("rmspe") is False
    assert "max_rmspe" in CFG.triggers.performance and "rmspe" in CFG.gate.maximums


# ---------------------------------------------------------------------------- features
def test_lags_read_the_same_store_k_days_earlier(featured):
    f = featured.set_index(["Store", "Date"])
    row = featured[(featured["Store"] == 7) & (featured["Date"] == pd.Timestamp(WEEK))].iloc[0]
    for k in S.LAGS:
        earlier = f.loc[(7, pd.Timestamp(WEEK) - pd.Timedelta(days=k)), "Sales"]
        assert row[f"sales_lag_{k}"] == earlier


def test_rolling_statistics_use_only_earlier_open_days(featured):
    store = featured[featured["Store"] == 3].set_index("Date")
    day = pd.Timestamp(WEEK) + pd.Timedelta(days=2)
    for w in S.ROLLING_WINDOWS:
        past = store.loc[day - pd.Timedelta(days=w): day - pd.Timedelta(days=1)]
        values = past.loc[past["Open"] == 1, "Sales"]
        assert store.loc[day, f"sales_roll_mean_{w}"] == pytest.approx(values.mean())
        assert store.loc[day, f"sales_roll_std_{w}"] == pytest.approx(values.std())


def test_no_leakage_a_days_features_ignore_that_day_and_later(stores):
    loader = FakeLoader(stores, landed_weeks())
    processed = S.read_processed(loader, CFG, WEEK, CFG.data.window_weeks).require_typed()
    before = S.engineer_features(processed)
    cut = pd.Timestamp(WEEK) + pd.Timedelta(days=3)
    changed = processed.copy()
    changed.loc[changed["Date"] >= cut, "Sales"] = 999_999  # the future becomes absurd
    after = S.engineer_features(changed)
    past = before["Date"] <= cut
    cols = list(S.ENGINEERED_FEATURES)
    pd.testing.assert_frame_equal(before.loc[past, cols], after.loc[past, cols])
    assert not before.loc[~past, cols].equals(after.loc[~past, cols])


def test_a_missing_day_gives_missing_history_not_the_neighbouring_row(stores):
    loader = FakeLoader(stores, landed_weeks())
    processed = S.read_processed(loader, CFG, WEEK, CFG.data.window_weeks).require_typed()
    gap_day = pd.Timestamp(WEEK) + pd.Timedelta(days=1)
    holed = processed[~((processed["Store"] == 5) & (processed["Date"] == gap_day))]
    f = S.engineer_features(holed.reset_index(drop=True))
    next_day = f[(f["Store"] == 5) & (f["Date"] == gap_day + pd.Timedelta(days=1))].iloc[0]
    assert np.isnan(next_day["sales_lag_1"])
    assert not np.isnan(next_day["sales_lag_7"])


def test_features_are_vectorised_no_row_wise_apply(stores, monkeypatch):
    loader = FakeLoader(stores, landed_weeks())
    processed = S.read_processed(loader, CFG, WEEK, CFG.data.window_weeks).require_typed()

    def refuse(*args, **kwargs):
        raise AssertionError("row-wise apply in feature engineering")

    monkeypatch.setattr(pd.DataFrame, "apply", refuse)
    monkeypatch.setattr(pd.Series, "apply", refuse)
    monkeypatch.setattr(pd.Series, "map", refuse)
    S.engineer_features(processed)


def test_calendar_promo2_and_competition_features():
    stores = R.generate_store_table(3).assign(
        Promo2=[1, 0, 1], Promo2SinceWeek=[14.0, np.nan, 40.0], Promo2SinceYear=[2015.0, np.nan, 2015.0],
        PromoInterval=pd.array(["Feb,May,Aug,Nov", np.nan, "Mar,Jun,Sept,Dec"], dtype="str"),
        CompetitionDistance=[500.0, np.nan, 20_000.0], CompetitionOpenSinceMonth=[6.0, np.nan, np.nan],
        CompetitionOpenSinceYear=[2015.0, np.nan, np.nan],
    )
    days = R.generate_days(dt.date(2015, 5, 25), dt.date(2015, 6, 7), stores)
    f = S.engineer_features(S.process({dt.date(2015, 5, 25): days}, stores).require_typed())
    at = f.set_index(["Store", "Date"])
    may, june = pd.Timestamp("2015-05-29"), pd.Timestamp("2015-06-01")
    # store 1: Promo2 since ISO week 14 of 2015 (Mon 2015-03-30), months Feb/May/Aug/Nov
    assert at.loc[(1, may), "promo2_active_month"] == 1 and at.loc[(1, june), "promo2_active_month"] == 0
    assert at.loc[(1, may), "promo2_weeks_since"] == (may - pd.Timestamp("2015-03-30")).days // 7
    assert at.loc[(1, may), "promo_interval_feb"] == 1 and at.loc[(1, may), "promo_interval_jan"] == 0
    # store 3: Promo2 starts in week 40: not yet active in June although June is in its interval
    assert at.loc[(3, june), "promo2_active_month"] == 0 and at.loc[(3, june), "promo2_weeks_since"] == 0
    assert at.loc[(2, june), "promo2_active_month"] == 0 and at.loc[(2, june), "promo_interval_mar"] == 0
    # competition: store 1's competitor opens June 2015; store 2 has none; store 3's opening is unknown
    assert at.loc[(1, may), "has_competition"] == 0 and at.loc[(1, june), "has_competition"] == 1
    assert at.loc[(1, june), "competition_age_months"] == 0
    assert at.loc[(1, june), "competition_distance_log"] == pytest.approx(np.log1p(500))
    assert at.loc[(2, june), "has_competition"] == 0 and np.isnan(at.loc[(2, june), "competition_distance_log"])
    assert at.loc[(3, june), "has_competition"] == 1 and np.isnan(at.loc[(3, june), "competition_age_months"])
    # calendar
    row = at.loc[(1, june)]
    assert (row["year"], row["month"], row["week_of_year"], row["day"], row["quarter"]) == (2015, 6, 23, 1, 2)
    assert row["is_month_start"] == 1 and row["is_weekend"] == 0 and row["season"] == 2
    assert at.loc[(1, pd.Timestamp("2015-05-31")), "is_month_end"] == 1
    assert at.loc[(1, pd.Timestamp("2015-05-31")), "is_weekend"] == 1


def test_the_real_store_table_works_in_features_unchanged():
    if not REAL_STORE_TABLE.is_file():
        pytest.skip(f"the real store table is not at {REAL_STORE_TABLE}")
    real = pd.read_csv(REAL_STORE_TABLE)
    loader = FakeLoader(real, landed_weeks())
    rows = get_family("sales_forecast").window_frame(loader, CFG, WEEK)
    assert rows["Store"].nunique() > 1000
    configured = [f for f in S.engineered_features(S.forecast_horizon(CFG)) if f in CFG.data.features]
    assert np.isfinite(rows[configured].fillna(0).to_numpy(float)).all()
    assert rows["promo_interval_mar"].sum() > 0, "the real 'Sept' spelling is parsed"


# ---------------------------------------------------------------------------- frames, CV, model
def test_window_frame_reads_history_partitions_and_keeps_open_days_of_the_window(stores, family):
    loader = FakeLoader(stores, landed_weeks(extra=3))
    frame = family.window_frame(loader, CFG, WEEK)
    first = WEEK - dt.timedelta(weeks=CFG.data.window_weeks - 1)
    assert sorted(frame["_week"].unique()) == [(first + dt.timedelta(weeks=i)).isoformat()
                                               for i in range(CFG.data.window_weeks)]
    assert (frame["Sales"] > 0).all()
    closed_or_zero = S.read_processed(loader, CFG, WEEK, CFG.data.window_weeks).frame.query("Open == 0 or Sales == 0")
    assert not frame.merge(closed_or_zero[["Store", "Date"]], on=["Store", "Date"]).shape[0]
    history = [*S.lag_features(S.forecast_horizon(CFG)), *S.ROLLING_FEATURES, "sales_dow_mean_12w", "sales_promo_ratio_91"]
    assert frame[history].notna().all().all(), "history was read"
    read_weeks = {k.split("week=")[1].split("/")[0] for k in loader.lineage}
    assert len(read_weeks) == CFG.data.window_weeks + S.history_weeks(CFG)
    assert f"landing/rossmann/week={WEEK.isoformat()}/stores.csv" in loader.lineage
    assert set(family.feature_columns(CFG)) <= set(frame.columns)


def test_batch_frame_is_the_newest_week_and_bad_data_routes_to_validation(stores, family):
    good = FakeLoader(stores, landed_weeks())
    batch = family.batch_frame(good, CFG, WEEK)
    assert set(batch["_week"]) == {WEEK.isoformat()}
    missing = FakeLoader(stores, landed_weeks(), specs={WEEK: R.WeekSpec(drop_columns=("Store",))})
    with pytest.raises(KeyError, match="Store"):
        family.batch_frame(missing, CFG, WEEK)
    text = FakeLoader(stores, landed_weeks(), specs={WEEK: R.WeekSpec(sales_as_text=True)})
    with pytest.raises(MissingInputError, match="Sales"):  # the trigger step routes it to validation
        family.batch_frame(text, CFG, WEEK)

    class NoStoreTable(FakeLoader):
        def read(self, week, name="batch", fmt=None):
            if name == "stores":
                raise MissingInputError("no store table landed")
            return super().read(week, name, fmt)

    with pytest.raises(MissingInputError, match="store table"):
        family.batch_frame(NoStoreTable(stores, landed_weeks()), CFG, WEEK)


def test_cv_is_time_ordered_newest_weeks_validated_on_earlier_ones(stores, family):
    frame = family.window_frame(FakeLoader(stores, landed_weeks()), CFG, WEEK)
    train, _ = split_out_of_time(frame, CFG.training.holdout_weeks)
    folds = family.cv_splits(train, family.target(train, CFG), CFG)
    weeks = sorted(train["_week"].unique())
    assert len(folds) == CFG.training.cv_folds
    for (tr, va), val_week in zip(folds, weeks[-CFG.training.cv_folds:], strict=True):
        assert set(train["_week"].iloc[va]) == {val_week}
        assert train["_week"].iloc[tr].max() < val_week
    idx = family.sample_for_cv(train, family.target(train, CFG), 500, 1)
    assert len(idx) == 500 and (np.diff(idx) > 0).all()


def test_relative_error_weights_make_the_squared_error_of_a_row_its_squared_relative_error(family):
    """(store median / Sales)^2: rows of stores at different scales weigh alike, a low day more,
    capped at a ratio of 10; mean 1."""
    from retrain.errors import ConfigError

    frame = pd.DataFrame({"Store": [1, 1, 1, 2, 2, 2, 2]})
    y = np.array([100.0, 200.0, 400.0, 10_000.0, 10_000.0, 20_000.0, 100.0])
    weights = family.sample_weight(frame, y, CFG, "relative_error")
    raw = np.array([4.0, 1.0, 0.25, 1.0, 1.0, 0.25, 100.0])  # store 2's median 10,000; 100 sold: ratio 100 -> 10
    assert np.allclose(weights, raw / raw.mean())
    with pytest.raises(ConfigError, match="no sample weight 'inverse'"):
        family.sample_weight(frame, y, CFG, "inverse")


def test_model_beats_the_seasonal_naive_baseline_by_a_clear_margin(family):
    from retrain.core.training import fit_with_preprocessor

    stores = R.generate_store_table(60)
    frame = family.window_frame(FakeLoader(stores, landed_weeks()), CFG, WEEK)
    train, holdout = split_out_of_time(frame, 1)
    feats = family.feature_columns(CFG)
    pre = family.build_preprocessor(CFG).fit(train[feats])
    boosting = CFG.training.candidates[0]
    model = fit_with_preprocessor(pre, boosting, train, family.target(train, CFG), family, CFG)
    plain, weighted = model.named_steps["model"].members  # the shipped average: plain and relative-error fits
    assert not np.allclose(plain.predict(pre.transform(holdout[feats])), weighted.predict(pre.transform(holdout[feats])))
    y = family.target(holdout, CFG)
    model_rmspe = family.metrics(y, family.score(model, holdout[feats]), CFG)["rmspe"]
    naive = holdout["sales_lag_7"].to_numpy(float)  # same store, same weekday, last week
    assert model_rmspe < 0.5 * rmspe(y, naive)
    was_open = naive > 0
    assert model_rmspe < 0.6 * rmspe(y[was_open], naive[was_open])
    assert model_rmspe < CFG.gate.maximums["rmspe"]


# ---------------------------------------------------------------------------- validation stages
def stage_map(reports):
    return {r.stage: r for r in reports}


def test_validation_stages_pass_on_good_data(stores, family):
    from retrain.validation import run_suite, suite_path_for

    loader = FakeLoader(stores, landed_weeks())
    raw = run_suite(loader.batch(WEEK), suite_path_for(CFG.data), stage="raw batch")
    reports = family.validation_stages(loader, CFG, WEEK, raw)
    assert [r.stage for r in reports] == ["raw store table", "processed", "features"]
    for r in (raw, *reports):
        assert r.passed and r.failed == 0, r.format_text()


def test_duplicates_gaps_and_wrong_weekdays_fail_the_processed_stage(stores, family):
    def damage(frame):
        frame = pd.concat([frame, frame.head(2)], ignore_index=True)  # a double-landed slice
        frame = frame[~((frame["Store"] == 4) & (frame["Date"] == (WEEK + dt.timedelta(days=2)).isoformat()))]
        frame.loc[frame.index[-5], "DayOfWeek"] = 1 + frame.loc[frame.index[-5], "DayOfWeek"] % 7
        return frame

    loader = FakeLoader(stores, landed_weeks(), edits={WEEK: damage})
    reports = stage_map(family.validation_stages(loader, CFG, WEEK))
    processed = reports["processed"]
    failed = {r.expectation_type for r in processed.critical_failures}
    assert {"expect_compound_columns_to_be_unique", "processed_dates_contiguous_newest_week",
            "processed_day_of_week_matches_date"} <= failed
    gap = next(r for r in processed.results if r.expectation_type == "processed_dates_contiguous_newest_week")
    assert "store 4" in gap.message
    assert reports["features"].meta["not_run"] and not reports["features"].results


def test_a_gap_in_the_history_is_only_a_warning(stores, family):
    old = WEEK - dt.timedelta(weeks=5)
    loader = FakeLoader(stores, landed_weeks(), edits={
        old: lambda f: f[~((f["Store"] == 9) & (f["Date"] == (old + dt.timedelta(days=3)).isoformat()))]})
    reports = stage_map(family.validation_stages(loader, CFG, WEEK))
    assert reports["processed"].passed and reports["features"].passed
    assert [r.expectation_type for r in reports["processed"].warnings] == ["processed_dates_contiguous_history"]


def test_sales_as_text_in_a_history_week_fails_processing_types(stores, family):
    old = WEEK - dt.timedelta(weeks=2)
    loader = FakeLoader(stores, landed_weeks(), specs={old: R.WeekSpec(sales_as_text=True)})
    reports = stage_map(family.validation_stages(loader, CFG, WEEK))
    types = [r for r in reports["processed"].critical_failures if r.expectation_type == "processed_column_type"]
    assert [r.column for r in types] == ["Sales"] and types[0].unexpected_count == len(stores) * 7


def test_a_failed_raw_stage_stops_before_processing(stores, family):
    from retrain.validation import run_suite, suite_path_for

    loader = FakeLoader(stores, landed_weeks(), specs={WEEK: R.WeekSpec(drop_columns=("Store",))})
    raw = run_suite(loader.batch(WEEK), suite_path_for(CFG.data), stage="raw batch")
    assert not raw.passed and raw.total == 13
    reports = stage_map(family.validation_stages(loader, CFG, WEEK, raw))
    assert reports["raw store table"].passed
    assert reports["processed"].meta["not_run"] and reports["features"].meta["not_run"]


def test_a_broken_store_table_fails_the_raw_stage(family):
    broken = R.generate_store_table(30).assign(StoreType="z")
    loader = FakeLoader(broken, landed_weeks())
    reports = stage_map(family.validation_stages(loader, CFG, WEEK))
    assert not reports["raw store table"].passed
    assert [r.column for r in reports["raw store table"].critical_failures] == ["StoreType"]


def test_feature_checks_catch_infinities_and_missing_features(stores, family):
    rows = family.window_frame(FakeLoader(stores, landed_weeks()), CFG, WEEK)
    rows.loc[rows.index[:4], "sales_roll_std_7"] = np.inf
    results = {r.expectation_type: r for r in S.feature_checks(rows.drop(columns=["season"]), CFG)}
    assert not results["features_finite"].success and "sales_roll_std_7" in results["features_finite"].message
    assert results["features_present"].missing_columns == ["season"]
    assert results["features_row_count"].success


def test_event_features_count_days_to_the_plans_holidays_and_closures():
    """days_since_* read the past plan (capped); days_until_* look ahead only to the Sunday of the day's
    own week (the plan its weekly batch carries); a day without a row counts as closed."""
    days = pd.date_range("2015-06-01", periods=21, freq="D")  # Monday 06-01 .. Sunday 06-21
    frame = pd.DataFrame([(s, d) for s in (1, 2) for d in days], columns=["Store", "Date"])
    frame["Open"], frame["Sales"], frame["Promo"], frame["SchoolHoliday"] = 1, 5000.0, 0, 0
    frame["StateHoliday"] = "0"
    holiday = ((frame["Store"] == 1) & (frame["Date"] == "2015-06-04")) | (
        (frame["Store"] == 2) & (frame["Date"] == "2015-06-08"))
    frame.loc[holiday, ["StateHoliday", "Open", "Sales"]] = ["a", 0, 0.0]
    frame = frame[~((frame["Store"] == 2) & (frame["Date"] == "2015-06-10"))].reset_index(drop=True)  # no row
    out = pd.DataFrame(S.sales_history(frame, horizon=7), index=frame.index).assign(
        Store=frame["Store"], Date=frame["Date"].dt.strftime("%m-%d")).set_index(["Store", "Date"])

    since = out.loc[1, "days_since_holiday"]
    assert since["06-03"] == S.EVENT_CAP_DAYS and since["06-04"] == 0 and since["06-05"] == 1
    assert since["06-18"] == 14 and since["06-19"] == S.EVENT_CAP_DAYS
    until = out.loc[1, "days_until_holiday"]
    assert [until[d] for d in ("06-01", "06-02", "06-03", "06-04")] == [3, 2, 1, 0]
    assert until[["06-05", "06-06", "06-07", "06-08"]].isna().all()  # none left in the week
    # Sunday before store 2's Monday holiday: tomorrow's flag is known, next week's distance is not
    assert out.loc[(2, "06-07"), "holiday_tomorrow"] == 1 and np.isnan(out.loc[(2, "06-07"), "days_until_holiday"])
    # the missing 06-10 row is a closure: 2 days ahead on Monday 06-08 (the holiday itself is one too)
    assert out.loc[(2, "06-09"), "days_until_closed"] == 1 and out.loc[(2, "06-11"), "days_since_closed"] == 1
    assert out.loc[(1, "06-05"), "days_since_closed"] == 1 and out.loc[(1, "06-12"), "days_since_closed"] == 8
    assert set(S.EVENT_FEATURES) <= set(CFG.data.features)
