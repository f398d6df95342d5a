"""Real Rossmann rows (a small slice of ../shared/reference): the importer's plan and the
features across the real 2014-07-01..2014-12-31 gap of 180 stores."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from retrain.families import sales as S
from retrain.importers import rossmann as imp

if not imp.REFERENCE_SALES.is_file() or not imp.REFERENCE_STORES.is_file():
    pytest.skip(f"the real Rossmann reference data is not in {imp.REFERENCE_DIR}", allow_module_level=True)

OPEN_STORES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 21, 23]
CLOSED_2014H2 = [13, 20, 22, 32, 36, 41, 46, 51, 52, 58]  # among the 180 stores without rows 2014-07..12
SLICE = sorted(set(OPEN_STORES) | set(CLOSED_2014H2))


def real_slice(first: str, last: str, stores=SLICE) -> pd.DataFrame:
    """Only the slice's row groups are read, never the whole file into a frame."""
    return pd.read_parquet(imp.REFERENCE_SALES, filters=[
        ("Store", "in", list(stores)), ("Date", ">=", pd.Timestamp(first)), ("Date", "<=", pd.Timestamp(last))])


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return real_slice("2014-05-05", "2015-02-01")


@pytest.fixture(scope="module")
def store_table() -> pd.DataFrame:
    return imp.read_table(imp.REFERENCE_STORES)


def test_the_slice_has_the_real_gap(rows):
    absent = set(SLICE) - set(rows.loc[rows["Date"].between("2014-07-01", "2014-12-31"), "Store"])
    assert absent == set(CLOSED_2014H2)


def test_plan_names_the_closed_stores_and_skips_a_partial_last_week(rows):
    plan = imp.plan_import(rows, end=dt.date(2015, 1, 14))  # a Wednesday
    closure = [a for a in plan.absences if a.first == dt.date(2014, 7, 1)]
    assert len(closure) == 1 and closure[0].last == dt.date(2014, 12, 31)
    assert closure[0].stores == CLOSED_2014H2
    text = "\n".join(plan.warnings())
    assert f"{len(closure[0].stores)} stores have no rows from 2014-07-01 to 2014-12-31 (stores 13, 20, 22" in text
    assert dt.date(2015, 1, 12) not in plan.weeks and "partial week" in plan.skipped[dt.date(2015, 1, 12)]
    assert max(plan.weeks) == dt.date(2015, 1, 5) and min(plan.weeks) == dt.date(2014, 5, 5)
    assert all(len(w["Date"].unique()) == 7 for w in plan.weeks.values())


def test_state_holiday_mixing_0_and_text_0_in_a_csv_reads_as_one_code(rows, tmp_path):
    mixed = rows.astype({"StateHoliday": object}).copy()
    zero = mixed["StateHoliday"] == "0"
    mixed.loc[zero & (mixed["Store"] % 2 == 0), "StateHoliday"] = 0  # unquoted 0 next to quoted "0"
    path = tmp_path / "train.csv"
    mixed.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    raw = path.read_text()
    assert ',0,' in raw and ',"0",' in raw
    plan = imp.plan_import(imp.read_table(path))
    codes = pd.concat(plan.weeks.values())["StateHoliday"]
    assert set(codes) == set(rows["StateHoliday"]) == {"0", "a", "c"}
    assert (codes == "0").sum() == int(zero.sum())


def test_features_across_the_real_gap_read_nan_never_the_row_before_it(rows, store_table):
    plan = imp.plan_import(rows)
    processed = S.process(plan.weeks, store_table).require_typed()
    back = pd.Timestamp("2015-01-01")  # the 180 stores' first day back
    store = 22
    for horizon in (1, 7):
        f = S.engineer_features(processed, horizon).set_index(["Store", "Date"])
        first_back = f.loc[(store, back)]
        assert np.isnan(first_back["sales_lag_7"]) and np.isnan(first_back["sales_roll_mean_7"])
        assert np.isnan(first_back["sales_roll_mean_60"]), "60 days back is inside the closure"
        # a week later, lag 7 is the first day back (by calendar, not by row position)
        week_on = f.loc[(store, back + pd.Timedelta(days=7))]
        assert week_on["sales_lag_7"] == f.loc[(store, back), "Sales"]
    f1 = S.engineer_features(processed, 1).set_index(["Store", "Date"])
    assert f1.loc[(store, back + pd.Timedelta(days=1)), "sales_lag_1"] == f1.loc[(store, back), "Sales"]


def test_horizon_7_features_ignore_the_last_6_days(rows, store_table):
    processed = S.process(imp.plan_import(rows).weeks, store_table).require_typed()
    day = pd.Timestamp("2014-10-15")
    changed = processed.copy()
    changed.loc[changed["Date"] > day - pd.Timedelta(days=7), "Sales"] = 999_999  # the last 6 days and later
    cols = [c for c in S.engineered_features(7) if c.startswith("sales_")]
    before = S.engineer_features(processed, 7)
    after = S.engineer_features(changed, 7)
    at = before["Date"] == day
    pd.testing.assert_frame_equal(before.loc[at, cols], after.loc[at, cols])
    at_1 = S.engineer_features(changed, 1)["Date"] == day
    assert not S.engineer_features(processed, 1).loc[at_1, cols[:5]].equals(
        S.engineer_features(changed, 1).loc[at_1, cols[:5]]), "horizon 1 does read them"


def test_the_reopening_week_validates_with_a_warning_not_a_failure(rows, store_table):
    plan = imp.plan_import(rows)
    week = dt.date(2014, 12, 29)
    processed = S.process({w: b for w, b in plan.weeks.items() if w <= week}, store_table)
    checks = {r.expectation_type: r for r in S.processed_checks(processed)}
    assert checks["processed_dates_contiguous_newest_week"].success
    history = checks["processed_dates_contiguous_history"]
    assert not history.success and history.severity == "warning" and "store 22: 184 day(s) missing before 2015-01-01" in history.message


def test_a_window_less_than_a_year_after_the_data_starts_still_trains(rows, store_table):
    """Last year's sales are all missing there; HistGradientBoosting fails on an all-NaN column."""
    import dataclasses

    from retrain.config import load_model_config
    from retrain.core.features import split_out_of_time
    from retrain.core.training import fit_with_preprocessor
    from retrain.families import get_family

    plan = imp.plan_import(rows)

    class SliceLoader:
        lineage: dict = {}

        def read(self, week, name="batch", fmt=None):
            return store_table if name != "batch" else plan.weeks[week]

        def batches(self, weeks, required):
            return {w: plan.weeks[w] for w in weeks if w in plan.weeks}

    shipped = load_model_config("rossmann")  # with last year's features, as a model file may configure them
    cfg = dataclasses.replace(shipped, data=dataclasses.replace(
        shipped.data, numeric_features=(*shipped.data.numeric_features, *S.YEARLY_FEATURES)))
    family = get_family("sales_forecast")
    window = family.window_frame(SliceLoader(), cfg, dt.date(2014, 8, 4))
    assert window["sales_lag_364"].isna().all()
    train, holdout = split_out_of_time(window, 1)
    feats = family.feature_columns(cfg)
    pre = family.build_preprocessor(cfg).fit(train[feats])
    quick = dataclasses.replace(cfg.training.candidates[0], params={**cfg.training.candidates[0].params, "max_iter": 20})
    model = fit_with_preprocessor(pre, quick, train, family.target(train, cfg), family, cfg)
    assert np.isfinite(family.score(model, holdout[feats])).all()
