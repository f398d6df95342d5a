"""A preprocessing step the sales model needs on real data (part of the pickled Pipeline)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class EmptyColumnsAsZero(TransformerMixin, BaseEstimator):
    """Columns without a single value in the training rows become the constant 0.

    Real windows have them (last year's sales when the data starts less than a year before,
    every history feature of a fold made only of reopened stores); HistGradientBoosting cannot
    bin a column that is all NaN and fails. A constant column is ignored by the trees, and a
    value seen only at prediction time is ignored the same way.
    """

    def fit(self, X, y=None):
        self.empty_ = np.isnan(np.asarray(X, dtype=np.float64)).all(axis=0)
        return self

    def transform(self, X):
        out = np.array(X, dtype=np.float64, copy=True)
        out[:, self.empty_] = 0.0
        return out
