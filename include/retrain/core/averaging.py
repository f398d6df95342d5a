"""The model of an averaged candidate: several fitted estimators, their predictions averaged.

Built by `retrain.core.training.fit_estimator` from fits it made itself (each fit may weight the
rows differently, which scikit-learn's VotingRegressor cannot: it passes one sample_weight to
every member), so this class is never fitted; it only predicts. It is part of the pickled
Pipeline, so its module path and attributes are a format: change them only with a loader for
the old form.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, is_classifier


class MeanOfFits(BaseEstimator):
    """Arithmetic mean of the fitted `members`' predictions (classifiers: of their probabilities)."""

    def __init__(self, members: list):
        self.members = members

    def fit(self, X, y=None):
        raise TypeError("MeanOfFits is assembled from fitted members (retrain.core.training.fit_estimator), "
                        "each with its own row weights; it has no fit of its own")

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.members)

    @property
    def classes_(self):
        return self.members[0].classes_

    def predict(self, X):
        if is_classifier(self.members[0]):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return np.mean([np.asarray(m.predict(X), dtype=np.float64) for m in self.members], axis=0)

    def predict_proba(self, X):
        if not is_classifier(self.members[0]):
            raise AttributeError("predict_proba: the averaged fits are regressors")
        return np.mean([m.predict_proba(X) for m in self.members], axis=0)
