"""Candidate training and selection: pure functions over DataFrames and config.

Each candidate is cross-validated with its own preprocessing fitted inside every fold (no
leakage across folds); the winner is chosen on the CV mean of the configured metric, never
on the holdout, which stays reserved for the evaluation gate. The artifact is one sklearn
Pipeline: the preprocessor fitted by `build_features` plus the winning estimator.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from retrain.config import Candidate, ModelConfig
from retrain.errors import ConfigError, DeterministicError
from retrain.metrics import higher_is_better


def make_estimator(candidate: Candidate):
    """Instantiate a configured estimator; only scikit-learn classes are allowed."""
    module_name, _, cls_name = candidate.estimator.rpartition(".")
    if not module_name.startswith("sklearn."):
        raise ConfigError(f"candidate {candidate.name!r}: only sklearn estimators are allowed")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"candidate {candidate.name!r}: cannot import {candidate.estimator}") from exc
    try:
        return cls(**candidate.params)
    except TypeError as exc:
        raise ConfigError(f"candidate {candidate.name!r}: bad params: {exc}") from exc


@dataclass
class CandidateResult:
    name: str
    estimator: str
    params: dict[str, Any]
    cv_scores: list[float]
    cv_mean: float
    cv_std: float
    cv_seconds: float
    fit_seconds: float = 0.0
    holdout_metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "estimator": self.estimator,
            "params": self.params,
            "cv_scores": self.cv_scores,
            "cv_mean": self.cv_mean,
            "cv_std": self.cv_std,
            "cv_seconds": round(self.cv_seconds, 3),
            "fit_seconds": round(self.fit_seconds, 3),
            "holdout_metrics": self.holdout_metrics,
        }


@dataclass
class TrainingResult:
    model: Any
    winner: str
    selection_metric: str
    candidates: list[CandidateResult]
    cv_rows: int
    train_rows: int
    holdout_rows: int
    seconds: float
    cv_scheme: str = ""  # how candidates were selected (a family's cv_scheme(cfg)), for the run log

    def summary(self) -> dict:
        return {
            "winner": self.winner,
            "selection_metric": self.selection_metric,
            "cv_rows": self.cv_rows,
            "train_rows": self.train_rows,
            "holdout_rows": self.holdout_rows,
            "training_seconds": round(self.seconds, 3),
            **({"cv_scheme": self.cv_scheme} if self.cv_scheme else {}),
            "candidates": [c.to_dict() for c in self.candidates],
        }


def cross_validate(candidate: Candidate, frame: pd.DataFrame, y: np.ndarray, cfg: ModelConfig, family, preprocessor):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    started = time.perf_counter()
    feats = family.feature_columns(cfg)
    scores = []
    for train_idx, val_idx in family.cv_splits(frame, y, cfg):
        pipe = Pipeline([("preprocess", clone(preprocessor)), ("model", make_estimator(candidate))])
        pipe.fit(frame.iloc[train_idx][feats], y[train_idx])
        fold_metrics = family.metrics(y[val_idx], family.score(pipe, frame.iloc[val_idx][feats]), cfg)
        value = fold_metrics.get(cfg.training.selection_metric)
        if value is None or not np.isfinite(value):
            raise DeterministicError(
                f"candidate {candidate.name!r}: CV metric {cfg.training.selection_metric} undefined on a fold"
            )
        scores.append(float(value))
    return CandidateResult(
        name=candidate.name,
        estimator=candidate.estimator,
        params=dict(candidate.params),
        cv_scores=scores,
        cv_mean=float(np.mean(scores)),
        cv_std=float(np.std(scores)),
        cv_seconds=time.perf_counter() - started,
    )


def fit_with_preprocessor(fitted_preprocessor, candidate: Candidate, X: pd.DataFrame, y: np.ndarray):
    """One Pipeline from an already-fitted preprocessor and a freshly fitted estimator."""
    from sklearn.pipeline import Pipeline

    estimator = make_estimator(candidate)
    estimator.fit(fitted_preprocessor.transform(X), y)
    return Pipeline([("preprocess", fitted_preprocessor), ("model", estimator)])


def train_candidates(
    train_frame: pd.DataFrame,
    holdout_frame: pd.DataFrame,
    cfg: ModelConfig,
    family,
    fitted_preprocessor,
) -> TrainingResult:
    """CV every candidate, fit each on the full training part, pick the winner by CV mean."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=cfg.training.threads):
        return _train_candidates(train_frame, holdout_frame, cfg, family, fitted_preprocessor)


def _train_candidates(train_frame, holdout_frame, cfg: ModelConfig, family, fitted_preprocessor) -> TrainingResult:
    started = time.perf_counter()
    feats = family.feature_columns(cfg)
    y_train = family.target(train_frame, cfg)
    y_hold = family.target(holdout_frame, cfg)
    cv_idx = family.sample_for_cv(train_frame, y_train, cfg.training.cv_max_rows, cfg.training.random_state)
    cv_frame = train_frame.iloc[cv_idx].reset_index(drop=True)
    cv_y = y_train[cv_idx]

    results, fitted = [], {}
    for cand in cfg.training.candidates:
        res = cross_validate(cand, cv_frame, cv_y, cfg, family, fitted_preprocessor)
        fit_started = time.perf_counter()
        model = fit_with_preprocessor(fitted_preprocessor, cand, train_frame[feats], y_train)
        res.fit_seconds = time.perf_counter() - fit_started
        res.holdout_metrics = family.metrics(y_hold, family.score(model, holdout_frame[feats]), cfg)
        results.append(res)
        fitted[cand.name] = model

    metric = cfg.training.selection_metric
    best = (max if higher_is_better(metric) else min)(results, key=lambda r: r.cv_mean)
    return TrainingResult(
        model=fitted[best.name],
        winner=best.name,
        selection_metric=metric,
        candidates=results,
        cv_rows=len(cv_idx),
        train_rows=len(train_frame),
        holdout_rows=len(holdout_frame),
        seconds=time.perf_counter() - started,
        cv_scheme=family.cv_scheme(cfg) if hasattr(family, "cv_scheme") else "",
    )
