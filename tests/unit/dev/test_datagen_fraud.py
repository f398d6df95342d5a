"""The synthetic fraud weeks must have the properties the demo story and the pipeline tests rely on.

Models are trained once per module (3 weeks x 5000 rows) so the whole file stays fast.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from retrain.config import load_model_config
from retrain_dev.datagen.fraud import (
    COLUMNS,
    IMPLAUSIBLE_AMOUNT,
    MAX_PLAUSIBLE_AMOUNT,
    SCENARIOS,
    SHIFT_SCALE,
    WeekSpec,
    generate_week,
    scenario,
)
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import recall_score, roc_auc_score

MONDAY = dt.date(2026, 1, 5)
DEMO_SHIFT = {"amount": 1.0, "distance_from_home_km": 1.0, "velocity_24h": 1.0}
FEATURES = list(load_model_config("fraud").data.features)


def week(i: int, **kwargs) -> pd.DataFrame:
    return generate_week(MONDAY + dt.timedelta(weeks=i), WeekSpec(**kwargs))


def features(df: pd.DataFrame) -> pd.DataFrame:
    x = df[FEATURES].copy()
    x["merchant_category"] = x["merchant_category"].astype("category")
    return x


def fit(weeks: list[pd.DataFrame]) -> HistGradientBoostingClassifier:
    data = pd.concat(weeks, ignore_index=True)
    model = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, max_leaf_nodes=31, class_weight="balanced", random_state=42
    )
    return model.fit(features(data), data["is_fraud"])


def scores(model, df: pd.DataFrame) -> tuple[float, float]:
    """(ROC-AUC, recall at threshold 0.5) of `model` on `df`."""
    p = model.predict_proba(features(df))[:, 1]
    return roc_auc_score(df["is_fraud"], p), recall_score(df["is_fraud"], p >= 0.5)


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Plain PSI with quantile bins from the reference (duplicate edges merged for counts)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)
    ref = np.clip(ref / ref.sum(), 1e-4, None)
    cur = np.clip(cur / cur.sum(), 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


@pytest.fixture(scope="module")
def stable_model():
    return fit([week(i) for i in range(3)])


@pytest.fixture(scope="module")
def stable_test():
    return week(3)


# Shape and determinism -------------------------------------------------------------------------


def test_columns_order_and_dtypes(stable_test):
    df = stable_test
    assert tuple(df.columns) == COLUMNS
    assert set(FEATURES) | {"transaction_id", "event_time", "is_fraud"} == set(COLUMNS)
    assert len(df) == 5000
    assert pd.api.types.is_string_dtype(df["transaction_id"])
    assert pd.api.types.is_string_dtype(df["merchant_category"])
    assert isinstance(df["event_time"].dtype, pd.DatetimeTZDtype)
    assert str(df["event_time"].dt.tz) == "UTC"
    for col in ("amount", "distance_from_home_km"):
        assert pd.api.types.is_float_dtype(df[col]), col
    ints = ("velocity_1h", "velocity_24h", "device_match", "cvv_match", "address_match", "country_match")
    for col in (*ints, "card_present", "hour", "day_of_week", "is_fraud"):
        assert pd.api.types.is_integer_dtype(df[col]), col
    assert not df.isna().any().any()


def test_deterministic_per_week_spec_and_seed():
    spec = WeekSpec(
        rows=2000, covariate_shift={"amount": 0.5}, concept_drift=0.3, label_noise=0.2, outliers=2
    )
    pd.testing.assert_frame_equal(generate_week(MONDAY, spec), generate_week(MONDAY, spec))
    base = generate_week(MONDAY, spec)
    assert not base["amount"].equals(generate_week(MONDAY, spec, seed=7)["amount"])
    assert not base["amount"].equals(generate_week(MONDAY + dt.timedelta(weeks=1), spec)["amount"])


def test_values_are_plausible_and_consistent(stable_test):
    df = stable_test
    assert df["transaction_id"].is_unique
    assert df["transaction_id"].iloc[0] == "20260126-0000000"  # week 3 after MONDAY
    start = pd.Timestamp(MONDAY + dt.timedelta(weeks=3), tz="UTC")
    assert (df["event_time"] >= start).all() and (df["event_time"] < start + pd.Timedelta(days=7)).all()
    assert df["event_time"].is_monotonic_increasing
    assert (df["hour"] == df["event_time"].dt.hour).all()
    assert (df["day_of_week"] == df["event_time"].dt.dayofweek).all()
    assert df["hour"].between(0, 23).all() and df["day_of_week"].nunique() == 7
    assert (df["amount"] > 0).all() and (df["amount"] <= MAX_PLAUSIBLE_AMOUNT).all()
    assert (df["velocity_1h"] >= 0).all() and (df["velocity_24h"] >= df["velocity_1h"]).all()
    assert (df["distance_from_home_km"] >= 0).all()
    for col in ("device_match", "cvv_match", "address_match", "country_match", "card_present", "is_fraud"):
        assert set(df[col].unique()) == {0, 1}, col
    assert df["merchant_category"].nunique() == 8
    assert (df.loc[df["merchant_category"] == "online_retail", "card_present"] == 0).all()
    fraud, legit = df[df["is_fraud"] == 1], df[df["is_fraud"] == 0]
    assert fraud["amount"].mean() > 1.3 * legit["amount"].mean()


def test_week_starting_midweek_keeps_calendar_columns_consistent():
    df = generate_week(dt.date(2026, 1, 7), WeekSpec(rows=500))
    assert (df["day_of_week"] == df["event_time"].dt.dayofweek).all()
    assert df["event_time"].min() >= pd.Timestamp("2026-01-07", tz="UTC")


def test_positive_rate_follows_label_rate(stable_test):
    assert abs(stable_test["is_fraud"].mean() - 0.06) <= 0.01
    assert abs(week(3, label_rate=0.12)["is_fraud"].mean() - 0.12) <= 0.015


def test_one_million_rows_have_unique_ids_and_the_configured_rate():
    """The benchmark generates ~1M rows a window (its speed is measured in `make bench`)."""
    df = generate_week(MONDAY, WeekSpec(rows=1_000_000))
    assert len(df) == 1_000_000 and df["transaction_id"].is_unique
    assert abs(df["is_fraud"].mean() - 0.06) < 0.002


# Learnability and drift ------------------------------------------------------------------------


def test_stable_model_learns_the_signal(stable_model, stable_test):
    auc, recall = scores(stable_model, stable_test)
    assert auc >= 0.90
    assert recall >= 0.65


def test_no_single_feature_gives_fraud_away(stable_test):
    df = stable_test
    for col in FEATURES:
        values = df[col]
        if col == "merchant_category":
            values = df.groupby(col)["is_fraud"].transform("mean")
        auc = roc_auc_score(df["is_fraud"], values)
        assert max(auc, 1 - auc) < 0.85, col


@pytest.mark.parametrize("feature", sorted(SHIFT_SCALE))
def test_covariate_shift_moves_psi_of_both_classes(feature):
    reference, same, shifted = week(0), week(1), week(1, covariate_shift={feature: 1.0})
    assert psi(reference[feature], same[feature]) < 0.10
    assert psi(reference[feature], shifted[feature]) > 0.25
    for label in (0, 1):
        assert (
            shifted.loc[shifted["is_fraud"] == label, feature].mean()
            > same.loc[same["is_fraud"] == label, feature].mean()
        )


def test_covariate_shift_alone_does_not_destroy_the_model(stable_model):
    auc, recall = scores(stable_model, week(3, covariate_shift=DEMO_SHIFT))
    assert auc >= 0.90
    assert recall >= 0.65


def test_concept_drift_hurts_old_model_and_retraining_recovers(stable_model, stable_test):
    stable_auc, _ = scores(stable_model, stable_test)
    drifted = week(3, concept_drift=1.0)
    drifted_auc, drifted_recall = scores(stable_model, drifted)
    assert drifted_auc <= stable_auc - 0.10
    assert drifted_recall < 0.5
    retrained_auc, retrained_recall = scores(fit([week(i, concept_drift=1.0) for i in range(3)]), drifted)
    assert retrained_auc >= 0.80 and retrained_auc >= drifted_auc + 0.15
    assert retrained_recall >= 0.60


def test_label_noise_breaks_the_labels_not_the_rate(stable_model, stable_test):
    noisy = week(3, label_noise=1.0)
    auc, _ = scores(stable_model, noisy)
    assert 0.35 <= auc <= 0.65
    # Labels are shuffled, not redrawn: the same week keeps exactly its number of positives.
    assert noisy["is_fraud"].sum() == stable_test["is_fraud"].sum()
    pd.testing.assert_frame_equal(noisy.drop(columns="is_fraud"), stable_test.drop(columns="is_fraud"))


def test_outliers_and_dropped_columns():
    df = week(0, outliers=3)
    assert (df["amount"] > IMPLAUSIBLE_AMOUNT).sum() == 3
    broken = week(0, drop_columns=("merchant_category",))
    assert "merchant_category" not in broken.columns
    assert list(broken.columns) == [c for c in COLUMNS if c != "merchant_category"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": 0},
        {"label_rate": 0.0},
        {"label_rate": 1.0},
        {"concept_drift": 1.5},
        {"label_noise": -0.1},
        {"covariate_shift": {"hour": 1.0}},
        {"covariate_shift": {"amount": float("nan")}},
        {"drop_columns": ("no_such_column",)},
        {"outliers": -1},
        {"rows": 10, "outliers": 11},
    ],
)
def test_invalid_spec_is_rejected(kwargs):
    with pytest.raises(ValueError):
        WeekSpec(**kwargs)


def test_spec_copies_its_shift_mapping():
    shift = {"amount": 1.0}
    spec = WeekSpec(covariate_shift=shift)
    shift["amount"] = 0.0
    assert spec.covariate_shift == {"amount": 1.0}


# Scenarios -------------------------------------------------------------------------------------


def test_demo_scenario_tells_the_story():
    specs = scenario("demo", 14)
    assert len(specs) == 14 and all(s.note for s in specs)
    assert all(s == WeekSpec(note="stable") for s in specs[:4])
    assert all(s.covariate_shift == DEMO_SHIFT for s in specs[4:])
    assert "starts" in specs[4].note
    assert [w for w, s in enumerate(specs, 1) if s.label_noise] == [8]
    assert specs[7].label_noise == 1.0 and "broken label feed" in specs[7].note
    assert [w for w, s in enumerate(specs, 1) if s.outliers] == [10]
    assert specs[9].outliers == 3 and "validation warns" in specs[9].note
    assert [w for w, s in enumerate(specs, 1) if s.drop_columns] == [12]
    assert specs[11].drop_columns == ("merchant_category",) and "schema break" in specs[11].note
    # After the story: the last stable state (shifted, clean) repeats.
    assert specs[12] == specs[13] == specs[10]
    assert scenario("demo", 3) == specs[:3]


def test_stable_scenario():
    assert scenario("stable", 3) == [WeekSpec(note="stable")] * 3
    assert scenario("stable", 0) == []


def test_from_week_scenarios():
    drift = scenario("drift_from_week_3", 5)
    assert [s.covariate_shift for s in drift] == [{}, {}, DEMO_SHIFT, DEMO_SHIFT, DEMO_SHIFT]
    labels = scenario("label_shift_from_week_2", 3)
    assert [s.label_rate for s in labels] == [0.06, 0.12, 0.12]
    concept = scenario("concept_drift_from_week_10", 11)
    assert [s.concept_drift for s in concept[-3:]] == [0.0, 1.0, 1.0]
    assert all(s.note for s in drift + labels + concept)


@pytest.mark.parametrize(
    "name",
    [
        "nope",
        "drift_from_week_0",
        "drift_from_week_x",
        "drift_from_week_",
        "drift_from_week_-1",
        "drift_from_week_2.5",
        "concept_drift_from_week_0",
        "demo2",
    ],
)
def test_unknown_scenario_lists_valid_names(name):
    with pytest.raises(ValueError, match="unknown scenario") as exc:
        scenario(name, 4)
    for valid in SCENARIOS:
        assert valid in str(exc.value)


def test_scenarios_describe_every_name():
    assert set(SCENARIOS) == {
        "stable",
        "drift_from_week_N",
        "label_shift_from_week_N",
        "concept_drift_from_week_N",
        "demo",
    }
    assert all(isinstance(text, str) and text for text in SCENARIOS.values())


def test_spec_is_a_frozen_dataclass():
    with pytest.raises(dataclasses.FrozenInstanceError):
        WeekSpec().rows = 1  # type: ignore[misc]
