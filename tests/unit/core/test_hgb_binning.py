"""The one-pass weighted binning gives exactly scikit-learn's thresholds, hence the same models."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from retrain.core import hgb_binning
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting import binning


@pytest.fixture
def sklearn_binning(monkeypatch):
    """sklearn's own function, with the module restored after the test whatever it installs."""
    original = hgb_binning._original or binning._find_binning_thresholds
    monkeypatch.setattr(binning, "_find_binning_thresholds", original)
    return original


def _columns(n: int, rng):
    ties = rng.integers(0, 400, n).astype(float)  # more distinct values than bins, many ties
    with_nan = rng.lognormal(3, 1, n)
    with_nan[rng.random(n) < 0.1] = np.nan
    return {"continuous": rng.normal(size=n), "ties": ties, "missing": with_nan,
            "few distinct": rng.integers(0, 20, n).astype(float), "constant": np.full(n, 3.0),
            "heavy tail": rng.pareto(1.5, n)}


@pytest.mark.parametrize("max_bins", [255, 16])
def test_thresholds_are_sklearns_on_ties_missing_values_and_zero_weights(sklearn_binning, max_bins):
    rng = np.random.default_rng(7)
    n = 5_000
    weights = {"balanced classes": np.where(rng.random(n) < 0.06, 8.0, 0.5),
               "with zeros": np.where(rng.random(n) < 0.2, 0.0, rng.random(n)),
               "integers": rng.integers(0, 4, n).astype(float)}
    for column_name, column in _columns(n, rng).items():
        for weight_name, w in weights.items():
            expected = sklearn_binning(column.copy(), max_bins, w.copy())
            got = hgb_binning.find_binning_thresholds(column.copy(), max_bins, w.copy())
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (column_name, weight_name)
        assert np.array_equal(hgb_binning.find_binning_thresholds(column.copy(), max_bins),
                              sklearn_binning(column.copy(), max_bins)), column_name
    # values seen only on zero-weight rows are not distinct values: max_bins distinct ones -> midpoints
    w = weights["with zeros"]
    column = rng.integers(0, max_bins, n).astype(float)
    column[np.flatnonzero(w == 0)[:5]] = 1_000.0 + np.arange(5)
    expected = sklearn_binning(column.copy(), max_bins, w.copy())
    assert expected.max() < 1_000 and np.array_equal(hgb_binning.find_binning_thresholds(column, max_bins, w), expected)


def test_installed_on_the_pinned_sklearn_and_the_fitted_model_is_unchanged(sklearn_binning):
    rng = np.random.default_rng(3)
    n = 20_000
    X = np.c_[rng.lognormal(3, 1, n), rng.normal(size=n), rng.integers(0, 24, n), rng.exponential(5, n)]
    X[rng.random(n) < 0.05, 0] = np.nan
    y = (rng.random(n) < 0.04 + 0.2 * (X[:, 1] > 1)).astype(int)

    def fit():
        return HistGradientBoostingClassifier(max_iter=30, class_weight="balanced", random_state=0).fit(X, y)

    before = fit()
    # the pinned version has the per-edge loop; on an upgrade, check upstream (PR #34248) and update
    assert hgb_binning.install(), f"scikit-learn {sklearn.__version__} is not patched"
    assert binning._find_binning_thresholds is hgb_binning.find_binning_thresholds
    assert hgb_binning.install()  # a second install keeps sklearn's function as the fallback
    assert hgb_binning._original is sklearn_binning
    after = fit()
    for a, b in zip(before._bin_mapper.bin_thresholds_, after._bin_mapper.bin_thresholds_, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(before.predict_proba(X), after.predict_proba(X))


def test_other_sklearn_versions_keep_their_own_binning(sklearn_binning, monkeypatch):
    monkeypatch.setattr(sklearn, "__version__", "1.10.0")
    assert not hgb_binning.install()
    assert binning._find_binning_thresholds is sklearn_binning


def test_the_pipelines_fits_bin_in_one_pass(sklearn_binning):
    """Every fit of the pipeline (race folds and final fits) goes through training.fit_estimator."""
    from retrain.config import Candidate, load_model_config
    from retrain.core.training import fit_estimator
    from retrain.families import get_family

    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(2_000, 3)), (rng.random(2_000) < 0.1).astype(int)
    candidate = Candidate("hgb", "sklearn.ensemble.HistGradientBoostingClassifier",
                          {"max_iter": 5, "class_weight": "balanced"})
    cfg = load_model_config("fraud")
    fit_estimator(candidate, X, y, None, get_family(cfg.family), cfg)
    assert binning._find_binning_thresholds is hgb_binning.find_binning_thresholds


def test_all_ranks_at_once_are_sklearns_weighted_percentiles_bit_for_bit():
    from sklearn.utils.stats import _weighted_percentile

    rng = np.random.default_rng(11)
    n = 3_000
    ranks = np.r_[0.0, np.linspace(0, 100, num=256)[1:-1], 100.0]
    for values in (rng.normal(size=n), rng.integers(0, 50, n).astype(float), np.sort(rng.pareto(1.5, n))):
        for weights in (np.where(rng.random(n) < 0.06, 8.0, 0.5), rng.integers(1, 4, n).astype(float),
                        rng.random(n) + 1e-9):
            expected = np.asarray(_weighted_percentile(values, weights, ranks, average=True))
            assert np.array_equal(hgb_binning.weighted_percentiles(values, weights, ranks.copy()), expected)
