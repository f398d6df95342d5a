"""Candidate training and selection: pure functions over DataFrames and config.

Selection races the candidates over growing samples of the training part (successive halving
over candidates and rows): every candidate still in the race is cross-validated on the rung's
sample, with the preprocessing fitted inside every fold (no leakage across folds; once per fold,
shared by the candidates), and a
candidate whose fold scores are clearly worse than the leader's (paired over the same folds)
leaves the race, unless it gained on the leader since the previous rung. Learning curves cross
(a boosting model can trail a forest on 10k rows and lead on 1M), so before the largest sample
only a hopeless candidate leaves (HOPELESS_Z).
The race ends when one candidate is left or the largest sample (sized to the
window, see `rung_sizes`) has been scored; of the candidates still in the race there, the better
mean wins, as plain cross-validation would pick (the config's order breaks an exact tie). The rungs
are nested: the window is sampled once for the largest rung, each smaller rung from that sample.
Only the winner is then fitted on all training rows: a candidate that lost is never refit.
The holdout stays reserved for the evaluation gate. Folds come from the family
(`family.cv_splits(frame, y, cfg)`), so a time-series family keeps its time-ordered folds.
The artifact is one sklearn Pipeline: the preprocessor fitted by `build_features` plus the
winning estimator.
"""

from __future__ import annotations

import importlib
import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from retrain.config import AveragedFit, Candidate, ModelConfig
from retrain.core.metrics import higher_is_better
from retrain.errors import ConfigError, DeterministicError

RUNG_GROWTH = 3  # each rung scores the survivors on 3x the rows of the previous one
MIN_RUNG_ROWS = 3_000  # the first rung: with the second it gives each candidate's trend
MAX_RUNGS = 3
# The largest sample is 1/32 of the training rows (at least 10,000, at most cv_max_rows): 5-fold CV of
# two candidates over rungs of 1/9, 1/3 and 1 of that fits ~0.35 x the rows of one fit on all rows,
# even when the race runs to the top rung; a clear loser leaves at the first rung for a fraction of that.
CV_ROWS_SHARE = 32
MIN_TOP_ROWS = 10_000
CLEARLY_WORSE_Z = 2.0  # on the largest sample: leaves when its mean paired fold deficit exceeds 2 standard errors
HOPELESS_Z = 4.0  # on a smaller sample only a far wider deficit sends a candidate home (learning curves cross)


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


def single_fits(candidate: Candidate) -> list[tuple[Candidate, AveragedFit | None]]:
    """The fits a candidate is made of: itself, or one per entry of its `average`."""
    if not candidate.average:
        return [(candidate, None)]
    return [(Candidate(f"{candidate.name}[{i}]", candidate.estimator, {**candidate.params, **fit.params}), fit)
            for i, fit in enumerate(candidate.average)]


def fit_estimator(candidate: Candidate, X, y: np.ndarray, frame: pd.DataFrame, family, cfg: ModelConfig,
                  adjust=None):
    """The candidate fitted on preprocessed `X` (rows of `frame`, which a weighting family reads):
    one estimator, or a MeanOfFits of one fit per `average` entry. `adjust(estimator)` may set
    parameters on each fresh estimator before its fit (the race's per-fold settings)."""
    from retrain.core import hgb_binning

    hgb_binning.install()  # identical models, weighted HistGradientBoosting binning 3x faster (see there)
    fitted = []
    for single, fit in single_fits(candidate):
        estimator = make_estimator(single)
        if adjust is not None:
            adjust(estimator)
        weights = {}
        if fit is not None and fit.sample_weight:
            if not hasattr(family, "sample_weight"):
                raise ConfigError(f"candidate {candidate.name!r}: family {cfg.family!r} cannot weight rows "
                                  f"by {fit.sample_weight!r}")
            weights["sample_weight"] = family.sample_weight(frame, y, cfg, fit.sample_weight)
        estimator.fit(X, y, **weights)
        fitted.append(estimator)
    if not candidate.average:
        return fitted[0]
    from retrain.core.averaging import MeanOfFits

    return MeanOfFits(fitted)


@dataclass
class CandidateResult:
    name: str
    estimator: str
    params: dict[str, Any]
    cv_scores: list[float]  # fold scores at the largest rung this candidate reached
    cv_mean: float
    cv_std: float
    cv_seconds: float  # all rungs
    fit_seconds: float = 0.0  # the fit on all training rows: the winner's only
    holdout_metrics: dict[str, Any] = field(default_factory=dict)  # the winner's only
    rungs: list[dict] = field(default_factory=list)  # every rung: rows, fold scores, mean, seconds
    refit: bool = False
    left_race: str | None = None  # why the candidate stopped being scored, if it lost early
    average: list[dict] = field(default_factory=list)  # an averaged candidate: each fit's params/weights

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "estimator": self.estimator,
            "params": self.params,
            **({"average": self.average} if self.average else {}),
            "cv_scores": self.cv_scores,
            "cv_mean": self.cv_mean,
            "cv_std": self.cv_std,
            "cv_seconds": round(self.cv_seconds, 3),
            "fit_seconds": round(self.fit_seconds, 3),
            "holdout_metrics": self.holdout_metrics,
            "rungs": self.rungs,
            "refit": self.refit,
            "left_race": self.left_race,
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
    rung_rows: list[int] = field(default_factory=list)
    cv_scheme: str = ""  # how candidates were selected (a family's cv_scheme(cfg)), for the run log

    def summary(self) -> dict:
        return {
            "winner": self.winner,
            "selection_metric": self.selection_metric,
            "selection": {"method": "successive halving over candidates and rows, paired fold race",
                          "rung_rows": self.rung_rows, "clearly_worse_z": CLEARLY_WORSE_Z},
            "cv_rows": self.cv_rows,
            "train_rows": self.train_rows,
            "holdout_rows": self.holdout_rows,
            "training_seconds": round(self.seconds, 3),
            **({"cv_scheme": self.cv_scheme} if self.cv_scheme else {}),
            "candidates": [c.to_dict() for c in self.candidates],
        }


def rung_sizes(train_rows: int, cv_max_rows: int) -> list[int]:
    """Sample sizes of the race, sized to the window: up to MAX_RUNGS sizes growing by RUNG_GROWTH
    up to max(train_rows / CV_ROWS_SHARE, MIN_TOP_ROWS) capped by cv_max_rows and the window;
    no rung below MIN_RUNG_ROWS (unless the window itself is smaller)."""
    top = max(1, min(train_rows, cv_max_rows, max(train_rows // CV_ROWS_SHARE, MIN_TOP_ROWS)))
    sizes = [top]
    while len(sizes) < MAX_RUNGS and sizes[0] // RUNG_GROWTH >= MIN_RUNG_ROWS:
        sizes.insert(0, sizes[0] // RUNG_GROWTH)
    return sizes


SKLEARN_AUTO_EARLY_STOPPING_ROWS = 10_000  # HistGradientBoosting*: early_stopping="auto" is on above this


def _as_in_the_final_fit(estimator, fold_rows: int, final_rows: int) -> None:
    """A fold's estimator set up as the final fit will behave (see fold_scores)."""
    max_samples = estimator.get_params().get("max_samples")
    if isinstance(max_samples, int) and max_samples > fold_rows:
        # a bootstrap sample no larger than the rows it is drawn from (a small rung's fold)
        estimator.set_params(max_samples=fold_rows)
    if final_rows > SKLEARN_AUTO_EARLY_STOPPING_ROWS and getattr(estimator, "early_stopping", None) == "auto":
        estimator.set_params(early_stopping=True)


@dataclass(frozen=True, eq=False)
class Fold:
    """One CV fold with its preprocessing fitted on the fold's training rows only (no leakage)."""

    train_idx: np.ndarray
    val_idx: np.ndarray
    frame: pd.DataFrame  # the fold's training rows (per-row weights of a family come from it)
    X_train: Any
    X_val: Any
    seconds: float  # fitting and applying the fold's preprocessing (shared by the candidates)


def prepared_folds(frame: pd.DataFrame, splits, preprocessor, feats: list[str]):
    """Each fold preprocessed once, one at a time (a fold's arrays are freed before the next): the
    preprocessing does not depend on the candidate, so every candidate of the rung is scored on it."""
    from sklearn.base import clone

    for train_idx, val_idx in splits:
        started = time.perf_counter()
        fold = frame.iloc[train_idx]
        fold_pre = clone(preprocessor).fit(fold[feats])
        X_train, X_val = fold_pre.transform(fold[feats]), fold_pre.transform(frame.iloc[val_idx][feats])
        yield Fold(train_idx, val_idx, fold, X_train, X_val, time.perf_counter() - started)


def fold_score(candidate: Candidate, fold: Fold, y: np.ndarray, cfg: ModelConfig, family,
               final_rows: int | None = None) -> float:
    """The selection metric of `candidate` on one fold.

    The fold fits the estimator the final fit on `final_rows` will be: a boosting model whose
    early stopping is "auto" stops early on all rows, so it does on a small fold too (else it
    overfits the small sample and loses a race it would win on all rows)."""
    estimator = fit_estimator(candidate, fold.X_train, y[fold.train_idx], fold.frame, family, cfg,
                              adjust=partial(_as_in_the_final_fit, fold_rows=len(fold.train_idx),
                                             final_rows=final_rows or 0))
    value = family.metrics(y[fold.val_idx], family.score(estimator, fold.X_val), cfg).get(
        cfg.training.selection_metric)
    if value is None or not np.isfinite(value):
        raise DeterministicError(
            f"candidate {candidate.name!r}: CV metric {cfg.training.selection_metric} undefined on a fold"
        )
    return float(value)


def clearly_worse(leader: list[float], other: list[float], higher_better: bool, z: float = CLEARLY_WORSE_Z) -> bool:
    """Is `other` worse than `leader` by more than `z` standard errors of the paired per-fold
    difference? (Same folds for both, so the fold-to-fold noise cancels.)"""
    diff = np.asarray(leader) - np.asarray(other)
    if not higher_better:
        diff = -diff
    if len(diff) < 2:
        return False
    se = float(np.std(diff, ddof=1)) / math.sqrt(len(diff))
    return float(diff.mean()) > z * max(se, 1e-12)


def gaining(other: CandidateResult, leader: CandidateResult, higher_better: bool) -> bool:
    """Did `other` close in on `leader` from the previous rung to this one? Learning curves cross
    (a boosting model often trails a forest on a small sample and leads on all rows), so a candidate
    still gaining as the sample grows stays in the race."""
    if len(other.rungs) < 2 or len(leader.rungs) < 2:
        return False
    gain_other = other.rungs[-1]["mean"] - other.rungs[-2]["mean"]
    gain_leader = leader.rungs[-1]["mean"] - leader.rungs[-2]["mean"]
    return gain_other > gain_leader if higher_better else gain_other < gain_leader


def fit_with_preprocessor(fitted_preprocessor, candidate: Candidate, frame: pd.DataFrame, y: np.ndarray,
                          family, cfg: ModelConfig):
    """One Pipeline from an already-fitted preprocessor and the candidate freshly fitted on `frame`."""
    from sklearn.pipeline import Pipeline

    X = fitted_preprocessor.transform(frame[family.feature_columns(cfg)])
    estimator = fit_estimator(candidate, X, y, frame, family, cfg)
    return Pipeline([("preprocess", fitted_preprocessor), ("model", estimator)])


def train_candidates(
    train_frame: pd.DataFrame,
    holdout_frame: pd.DataFrame,
    cfg: ModelConfig,
    family,
    fitted_preprocessor,
) -> TrainingResult:
    """Race the candidates on growing samples, fit only the winner on all training rows."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=cfg.training.threads):
        return _train_candidates(train_frame, holdout_frame, cfg, family, fitted_preprocessor)


def _race(train_frame, y_train, cfg: ModelConfig, family, preprocessor, sizes: list[int]):
    """Every candidate's rungs; returns (results by name, names still in the race, rows of the last rung)."""
    better = higher_is_better(cfg.training.selection_metric)
    results = {c.name: CandidateResult(c.name, c.estimator, dict(c.params), [], float("nan"), float("nan"), 0.0,
                                       average=[{"params": dict(f.params), "sample_weight": f.sample_weight}
                                                for f in c.average])
               for c in cfg.training.candidates}
    alive = list(cfg.training.candidates)
    last_rows = 0
    # Nested rungs: the largest sample is drawn from the window once, each smaller one from it (a
    # stratified draw over 1M labels takes 0.33 s, over the largest sample milliseconds).
    seed = cfg.training.random_state
    top = family.sample_for_cv(train_frame, y_train, sizes[-1], seed)
    top_frame, y_top = train_frame.iloc[top], y_train[top]
    for rung, size in enumerate(sizes):
        idx = top[family.sample_for_cv(top_frame, y_top, size, seed)]
        frame, y = train_frame.iloc[idx].reset_index(drop=True), y_train[idx]
        splits = family.cv_splits(frame, y, cfg)
        fold_scores = {c.name: [] for c in alive}
        fold_seconds = dict.fromkeys(fold_scores, 0.0)
        for fold in prepared_folds(frame, splits, preprocessor, family.feature_columns(cfg)):
            shared = fold.seconds / len(alive)  # the fold's preprocessing, split evenly
            for cand in alive:
                started = time.perf_counter()
                fold_scores[cand.name].append(fold_score(cand, fold, y, cfg, family, final_rows=len(train_frame)))
                fold_seconds[cand.name] += shared + time.perf_counter() - started
        for cand in alive:
            scores, seconds = fold_scores[cand.name], fold_seconds[cand.name]
            res = results[cand.name]
            res.cv_scores, res.cv_mean, res.cv_std = scores, float(np.mean(scores)), float(np.std(scores))
            res.cv_seconds += seconds
            res.rungs.append({"rows": len(idx), "folds": len(scores), "scores": scores,
                              "mean": res.cv_mean, "seconds": round(seconds, 3)})
        leader = (max if better else min)(alive, key=lambda c: results[c.name].cv_mean)
        last_rows = len(idx)
        if len(alive) == 1:
            break
        z = CLEARLY_WORSE_Z if rung == len(sizes) - 1 else HOPELESS_Z
        still = []
        for cand in alive:
            if cand is not leader and clearly_worse(results[leader.name].cv_scores, results[cand.name].cv_scores,
                                                    better, z) and not gaining(results[cand.name],
                                                                               results[leader.name], better):
                results[cand.name].left_race = (f"clearly worse than {leader.name} on {len(idx):,} rows "
                                                f"({results[cand.name].cv_mean:.4f} vs {results[leader.name].cv_mean:.4f})")
            else:
                still.append(cand)
        alive = still
        if len(alive) == 1:
            break
    return results, alive, last_rows


def _train_candidates(train_frame, holdout_frame, cfg: ModelConfig, family, fitted_preprocessor) -> TrainingResult:
    started = time.perf_counter()
    feats = family.feature_columns(cfg)
    y_train = family.target(train_frame, cfg)
    y_hold = family.target(holdout_frame, cfg)
    sizes = rung_sizes(len(train_frame), cfg.training.cv_max_rows)
    results, alive, cv_rows = _race(train_frame, y_train, cfg, family, fitted_preprocessor, sizes)

    metric = cfg.training.selection_metric
    # still level on the largest sample: the better mean there wins, as plain cross-validation would pick
    pick = max if higher_is_better(metric) else min
    best_name = pick(alive, key=lambda c: results[c.name].cv_mean).name
    for cand in alive:
        if cand.name != best_name:
            mine, theirs = results[cand.name].cv_mean, results[best_name].cv_mean
            why = "comes first in the config" if mine == theirs else "has the better mean"
            results[cand.name].left_race = (f"still in the race with {best_name} on {cv_rows:,} rows "
                                            f"({mine:.4f} vs {theirs:.4f}); {best_name} {why}")
    winner = next(c for c in cfg.training.candidates if c.name == best_name)
    best = results[best_name]
    fit_started = time.perf_counter()
    model = fit_with_preprocessor(fitted_preprocessor, winner, train_frame, y_train, family, cfg)
    best.fit_seconds = time.perf_counter() - fit_started
    best.refit = True
    best.holdout_metrics = family.metrics(y_hold, family.score(model, holdout_frame[feats]), cfg)
    return TrainingResult(
        model=model,
        winner=best_name,
        selection_metric=metric,
        candidates=[results[c.name] for c in cfg.training.candidates],
        cv_rows=cv_rows,
        train_rows=len(train_frame),
        holdout_rows=len(holdout_frame),
        seconds=time.perf_counter() - started,
        rung_rows=sizes,
        cv_scheme=family.cv_scheme(cfg) if hasattr(family, "cv_scheme") else "",
    )
