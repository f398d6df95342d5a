"""Paired bootstrap: exact metric values under row weights, deterministic intervals, fail-closed edges."""

from __future__ import annotations

import numpy as np
import pytest
from retrain.core.bootstrap import PairedHoldout, paired_intervals, weighted_values
from retrain.core.metrics import classification_metrics, rmspe
from sklearn.metrics import roc_auc_score


def _fraud_holdout(n=4000, seed=3, shift=0.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.08).astype(int)
    # rounded scores: many ties, within and across classes, as tree ensembles produce
    a = np.round(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1), 2)
    b = np.round(np.clip(rng.normal(0.3 + (0.4 - shift) * y, 0.2), 0, 1), 2)
    return y, a, b


def test_weighted_values_equal_sklearn_on_repeated_rows():
    y, a, b = _fraud_holdout()
    rng = np.random.default_rng(0)
    counts = np.bincount(rng.integers(0, y.size, y.size), minlength=y.size)
    rows = np.repeat(np.arange(y.size), counts)
    h = PairedHoldout(y, a, b, threshold=0.5, cost_missed=500.0, cost_false_alarm=10.0)
    values = weighted_values(h, ["roc_auc", "recall", "cost_per_1k"], counts)
    for i, scores in enumerate((a, b)):
        expected = classification_metrics(y[rows], scores[rows], threshold=0.5)
        assert values["roc_auc"][i][0] == pytest.approx(roc_auc_score(y[rows], scores[rows]), abs=1e-12)
        assert values["recall"][i][0] == pytest.approx(expected["recall"], abs=1e-12)
        assert values["cost_per_1k"][i][0] == pytest.approx(expected["cost_per_1k"], rel=1e-12)


def test_weighted_rmspe_equals_rmspe_on_repeated_rows():
    rng = np.random.default_rng(1)
    y = rng.gamma(5.0, 1000.0, 3000)
    y[::7] = 0.0  # closed days: excluded, as in metrics.rmspe
    a, b = y * rng.normal(1, 0.1, y.size), y * rng.normal(1, 0.2, y.size)
    counts = np.bincount(rng.integers(0, y.size, y.size), minlength=y.size)
    rows = np.repeat(np.arange(y.size), counts)
    values = weighted_values(PairedHoldout(y, a, b), ["rmspe"], counts)
    assert values["rmspe"][0][0] == pytest.approx(rmspe(y[rows], a[rows]), rel=1e-9)
    assert values["rmspe"][1][0] == pytest.approx(rmspe(y[rows], b[rows]), rel=1e-9)


def test_identical_models_have_a_zero_interval():
    y, a, _ = _fraud_holdout()
    out = paired_intervals(PairedHoldout(y, a, a.copy()), ["roc_auc", "recall", "cost_per_1k"], 200, 0.95, 0)
    for iv in out.values():
        assert iv.improvement == 0.0 and iv.low == 0.0 and iv.high == 0.0 and iv.undefined_resamples == 0


def test_intervals_are_deterministic_signed_and_bracket_the_estimate():
    y, a, b = _fraud_holdout(shift=0.15)  # champion (b) separates the classes less well
    h = PairedHoldout(y, a, b)
    first = paired_intervals(h, ["roc_auc", "cost_per_1k"], 500, 0.95, seed=7)
    again = paired_intervals(h, ["roc_auc", "cost_per_1k"], 500, 0.95, seed=7)
    other = paired_intervals(h, ["roc_auc", "cost_per_1k"], 500, 0.95, seed=8)
    assert first == again and first != other
    auc = first["roc_auc"]
    assert auc.challenger == pytest.approx(roc_auc_score(y, a)) and auc.champion == pytest.approx(roc_auc_score(y, b))
    assert 0 < auc.low < auc.improvement < auc.high  # the challenger is better, and provably so
    cost = first["cost_per_1k"]  # lower is better: improvement = champion - challenger
    assert cost.improvement == pytest.approx(cost.champion - cost.challenger)
    assert cost.low <= cost.improvement <= cost.high


def test_undefined_resamples_count_as_the_worst_case():
    y = np.zeros(200, dtype=int)
    y[0] = 1  # one positive: most resamples draw it, some do not (no recall there)
    scores = np.linspace(0, 1, 200)
    out = paired_intervals(PairedHoldout(y, scores, scores), ["recall"], 400, 0.95, 0)["recall"]
    assert out.undefined_resamples > 0
    assert out.low is None  # -inf: nothing can be concluded, so the gate cannot pass it


def test_bad_inputs_are_refused():
    y, a, b = _fraud_holdout(n=50)
    with pytest.raises(ValueError, match="equal, non-zero lengths"):
        PairedHoldout(y, a[:-1], b)
    with pytest.raises(ValueError, match="NaN"):
        PairedHoldout(y, np.r_[a[:-1], np.nan], b)
    with pytest.raises(KeyError, match="cannot be bootstrapped"):
        paired_intervals(PairedHoldout(y, a, b), ["precision"], 100, 0.95, 0)
    with pytest.raises(ValueError, match="binary"):
        paired_intervals(PairedHoldout(y * 3.0, a, b), ["recall"], 100, 0.95, 0)
