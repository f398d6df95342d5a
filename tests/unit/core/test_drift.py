"""PSI, noise floor, KS and the per-feature drift report on known distributions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from retrain.config import TriggerConfig
from retrain.core.drift import (
    PSI_EPSILON,
    DriftReport,
    feature_drift,
    ks_statistic,
    psi,
    psi_categorical,
    psi_noise_floor,
)


def _normal(mean: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, size=n)


def test_identical_samples_have_zero_psi():
    ref = _normal(0, 5000, 1)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_same_distribution_is_small_shifted_distribution_is_large():
    ref = _normal(0, 5000, 1)
    assert psi(ref, _normal(0, 5000, 2)) < 0.02
    assert psi(ref, _normal(1, 5000, 3)) > 0.25


def test_hand_computed_two_bin_example():
    # Reference 1..10 with 2 bins: median edge 5.5, shares 0.5/0.5. Current [1,2,3,7]: 0.75/0.25.
    # PSI = 0.25*ln(1.5) + (-0.25)*ln(0.5) = 0.25*ln(3)
    assert psi(np.arange(1, 11), [1, 2, 3, 7], bins=2) == pytest.approx(0.25 * math.log(3), abs=1e-9)


def test_empty_bin_uses_epsilon_and_stays_finite():
    # Current entirely above the reference median: bin 0 empty -> epsilon share.
    value = psi(np.arange(1, 11), [8, 9, 10, 11], bins=2)
    expected = (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5) + (1 - 0.5) * math.log(1 / 0.5)
    assert value == pytest.approx(expected, abs=1e-9)
    assert math.isfinite(value)


def test_values_outside_reference_range_land_in_open_outer_bins():
    ref = np.arange(1, 11, dtype=float)
    assert psi(ref, [-1e9, 1e9] * 5, bins=2) == pytest.approx(0.0, abs=1e-12)


def test_nans_are_ignored_and_empty_inputs_raise():
    ref = np.arange(1, 11, dtype=float)
    assert psi(np.append(ref, np.nan), [1, 2, 3, 7, np.nan], bins=2) == pytest.approx(0.25 * math.log(3))
    with pytest.raises(ValueError):
        psi([], [1.0])
    with pytest.raises(ValueError):
        psi(ref, [np.nan, np.nan])


def test_discrete_feature_edges_are_deduplicated():
    ref = np.array([0] * 70 + [1] * 30)
    assert psi(ref, ref, bins=10) == pytest.approx(0.0, abs=1e-12)
    # 70/30 -> 50/50 over two populated bins
    expected = (0.5 - 0.7) * math.log(0.5 / 0.7) + (0.5 - 0.3) * math.log(0.5 / 0.3)
    assert psi(ref, [0, 1] * 50, bins=10) == pytest.approx(expected, abs=1e-9)


def test_psi_categorical_counts_unseen_categories():
    ref = ["a", "a", "b", "b"]
    assert psi_categorical(ref, ["b", "a"]) == pytest.approx(0.0, abs=1e-12)
    # current: a 0.5, c 0.5 (unseen) ; reference: a 0.5, b 0.5
    expected = (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5) + (0.5 - PSI_EPSILON) * math.log(
        0.5 / PSI_EPSILON
    )
    assert psi_categorical(ref, ["a", "c"]) == pytest.approx(expected, abs=1e-9)


def test_noise_floor_shrinks_as_n_grows_and_is_deterministic():
    ref = _normal(0, 5000, 1)
    floors = [psi_noise_floor(ref, n) for n in (50, 200, 1000, 5000)]
    assert floors == sorted(floors, reverse=True)
    assert floors[-1] < 0.02
    assert psi_noise_floor(ref, 200, seed=7) == psi_noise_floor(ref, 200, seed=7)


def test_small_same_distribution_batch_stays_under_its_floor():
    ref = _normal(0, 5000, 1)
    floor = psi_noise_floor(ref, 50)
    below = sum(psi(ref, _normal(0, 50, 100 + s)) <= floor for s in range(20))
    assert below >= 18  # 0.99 quantile: exceeding it should be rare


def test_noise_floor_rejects_bad_n():
    with pytest.raises(ValueError):
        psi_noise_floor(np.arange(10.0), 0)


def test_ks_on_known_distributions():
    ref = _normal(0, 2000, 1)
    same_stat, same_p = ks_statistic(ref, _normal(0, 2000, 2))
    shifted_stat, shifted_p = ks_statistic(ref, _normal(1, 2000, 3))
    assert same_stat < 0.06 and same_p > 0.01
    assert shifted_stat > 0.3 and shifted_p < 1e-10
    assert ks_statistic([0.0, 1.0], [2.0, 3.0])[0] == pytest.approx(1.0)
    assert isinstance(same_stat, float) and isinstance(same_p, float)


def _cfg(**kw) -> TriggerConfig:
    return TriggerConfig(psi_features=("amount", "velocity", "merchant"), psi_noise_bootstrap=100, **kw)


def test_feature_drift_bands_noise_floor_and_missing():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "amount": rng.normal(0, 1, 4000),
            "velocity": rng.normal(0, 1, 4000),
            "merchant": rng.choice(["a", "b", "c"], 4000),
        }
    )
    cur = pd.DataFrame(
        {
            "amount": rng.normal(1, 1, 2000),  # shifted: action
            "velocity": rng.normal(0, 1, 2000),  # stable
            "merchant": rng.choice(["a", "b", "c"], 2000),
        }
    )
    report = feature_drift(ref, cur, ["amount", "velocity", "merchant", "gone"], _cfg())
    amount, velocity, merchant = (report.features[f] for f in ("amount", "velocity", "merchant"))
    assert amount["band"] == "action" and amount["effective"]
    assert amount["threshold"] == max(0.25, amount["noise_floor"])
    assert velocity["band"] == "stable" and not velocity["effective"]
    assert merchant["kind"] == "categorical" and merchant["band"] == "stable"
    assert report.missing == ["gone"]
    assert report.problems() == ["feature 'gone' missing from current batch"]
    assert [f for f, _ in report.effective_actions()] == ["amount"]
    assert report.worst()[0] == "amount"
    roundtrip = DriftReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert roundtrip.to_dict() == report.to_dict()


def test_small_batch_action_psi_is_suppressed_by_noise_floor():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"amount": rng.normal(0, 1, 4000)})
    cur = pd.DataFrame({"amount": rng.normal(0.6, 1, 30)})
    entry = feature_drift(ref, cur, ["amount"], _cfg()).features["amount"]
    assert entry["psi"] > 0.25 and entry["band"] == "action"
    assert entry["noise_floor"] > entry["psi"] and not entry["effective"]


def test_all_null_current_column_is_skipped_not_drift():
    ref = pd.DataFrame({"amount": np.arange(100.0)})
    cur = pd.DataFrame({"amount": [np.nan] * 10})
    report = feature_drift(ref, cur, ["amount"], _cfg())
    assert report.features == {}
    assert "amount" in report.skipped
    assert report.problems()


def test_feature_drift_handles_bool_and_category_dtypes_and_is_deterministic():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "card_present": rng.random(3000) < 0.3,
            "merchant": pd.Categorical(rng.choice(["grocery", "travel"], 3000)),
        }
    )
    cur = pd.DataFrame(
        {
            "card_present": rng.random(1000) < 0.8,  # 30% -> 80%
            "merchant": pd.Categorical(rng.choice(["grocery", "travel", "crypto"], 1000)),
        }
    )
    cfg = _cfg()
    report = feature_drift(ref, cur, ["card_present", "merchant"], cfg, seed=3)
    assert report.features["card_present"]["kind"] == "numeric"
    assert report.features["card_present"]["effective"]
    assert report.features["merchant"]["kind"] == "categorical"
    assert report.features["merchant"]["effective"]  # unseen 'crypto' is its own bucket
    again = feature_drift(ref, cur, ["card_present", "merchant"], cfg, seed=3)
    assert again.to_dict() == report.to_dict()
