"""Weighted bin thresholds of HistGradientBoosting in one pass per feature (scikit-learn 1.9).

scikit-learn uses sample weights when it bins a feature (class_weight="balanced"
and any `sample_weight` give weights), and computes each of the 254 bin edges with its own
`_weighted_percentile` call, which sorts the column again every time. Below 200k rows (every CV
fold of the race, the fraud model's small windows) that binning took about half of a
HistGradientBoosting fit. Upstream rewrote it after 1.9.1 (scikit-learn PR #34248).

`_weighted_percentile` takes a vector of percentile ranks and computes each one exactly as the
single-rank call does (same sort of the same column, same cumulative weights), so computing all
edges at once (`weighted_percentiles`, its arithmetic vectorised over the ranks; zero-weight rows
are dropped before, as sklearn's binning drops them) gives bit-identical thresholds, hence identical models: tests/unit/core/
test_hgb_binning.py compares both on ties, missing values and zero weights, and compares fitted
models. Installed only on the versions that have the per-edge loop; elsewhere sklearn's own runs.
"""

from __future__ import annotations

import threading

import numpy as np

PATCHED_VERSIONS = ("1.9.",)  # checked against 1.9.1 (the pinned version)
_lock = threading.Lock()
_original = None


def _sklearn_function():
    """scikit-learn's own `_find_binning_thresholds` (the fallback for every case but the slow one)."""
    if _original is not None:
        return _original
    from sklearn.ensemble._hist_gradient_boosting import binning

    return binning._find_binning_thresholds


def find_binning_thresholds(col_data, max_bins, sample_weight=None):
    """sklearn's `_find_binning_thresholds`, with the weighted quantiles computed in one call."""
    from sklearn.ensemble._hist_gradient_boosting.binning import ALMOST_INF, X_DTYPE

    if sample_weight is None:
        return _sklearn_function()(col_data, max_bins, sample_weight)
    missing = np.isnan(col_data)
    if missing.any():
        col_data, sample_weight = col_data[~missing], sample_weight[~missing]
    weighted = sample_weight != 0  # zero-weight rows do not count as distinct values
    col_data, sample_weight = col_data[weighted], sample_weight[weighted]
    order = np.argsort(col_data)
    col_data, sample_weight = col_data[order], sample_weight[order]
    distinct = np.unique(col_data).astype(X_DTYPE)
    if len(distinct) == 1:
        return np.asarray([])
    if len(distinct) <= max_bins:
        return _sklearn_function()(col_data, max_bins, sample_weight)  # midpoints: no quantile involved
    ranks = np.linspace(0, 100, num=max_bins + 1)[1:-1]
    thresholds = weighted_percentiles(col_data, sample_weight, ranks)
    if np.unique(thresholds).shape[0] != thresholds.shape[0]:
        thresholds = np.unique(thresholds)
    np.clip(thresholds, a_min=None, a_max=ALMOST_INF, out=thresholds)
    return thresholds


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """sklearn 1.9's `_weighted_percentile(values, weights, ranks, average=True)` for a 1-D float64
    column with positive weights, every rank at once: its loop runs ~10 array operations per rank
    (254 ranks per continuous feature per fit). Same sort call, same cumulative sum, same arithmetic
    per rank, so the same bits (tests/unit/core/test_hgb_binning.py)."""
    # sklearn sorts the (n, 1) column with stable=False: numpy's default argsort, as here
    order = np.argsort(values.reshape(-1, 1), axis=0)[:, 0]
    cdf = np.cumsum(weights[order])
    adjusted = ranks / 100 * cdf[-1]
    at_zero = adjusted == 0
    adjusted[at_zero] = np.nextafter(adjusted[at_zero], adjusted[at_zero] + 1)
    last = len(values) - 1
    at = np.clip(np.searchsorted(cdf, adjusted), 0, last)
    above = (cdf[at] - adjusted) > np.finfo(np.float64).eps
    low, high = values[order[at]], values[order[np.clip(at + 1, 0, last)]]
    return np.where(above, low, (low + high) / 2)


def install() -> bool:
    """Route HistGradientBoosting's binning through `find_binning_thresholds` (once per process);
    True when installed, False on a scikit-learn version this does not apply to."""
    global _original
    import sklearn
    from sklearn.ensemble._hist_gradient_boosting import binning

    if not sklearn.__version__.startswith(PATCHED_VERSIONS):
        return False
    with _lock:
        if binning._find_binning_thresholds is not find_binning_thresholds:
            _original = binning._find_binning_thresholds
            binning._find_binning_thresholds = find_binning_thresholds
    return True
