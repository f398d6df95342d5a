"""Candidate selection: a race over growing samples; only the winner is fitted on all rows, and
the run log keeps every candidate's validation scores. Folds come from the family."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from retrain.config import Candidate, load_model_config
from retrain.core import training
from retrain.core.training import (
    MIN_RUNG_ROWS,
    CandidateResult,
    clearly_worse,
    gaining,
    rung_sizes,
    train_candidates,
)
from retrain.families import get_family
from retrain_dev.datagen.fraud import WeekSpec, generate_week

FRAUD = load_model_config("fraud")
TREE = "sklearn.tree.DecisionTreeClassifier"


def _cfg(candidates, cv_max_rows=16_000, cv_folds=3):
    training = dataclasses.replace(FRAUD.training, candidates=tuple(candidates), cv_max_rows=cv_max_rows,
                                   cv_folds=cv_folds)
    return dataclasses.replace(FRAUD, training=training)


@pytest.fixture(scope="module")
def frames():
    weeks = [generate_week(dt.date(2026, 1, 5) + dt.timedelta(weeks=i), WeekSpec(rows=4000), seed=i)
             for i in range(5)]
    frame = pd.concat(weeks, ignore_index=True)
    return frame.iloc[:16_000].reset_index(drop=True), frame.iloc[16_000:].reset_index(drop=True)


@pytest.fixture(autouse=True)
def whole_window_race(monkeypatch):
    """Race up to the whole 16k-row window (production sizes the top rung at 1/16 of the window)."""
    monkeypatch.setattr(training, "CV_ROWS_SHARE", 1)


def _fit(frames, cfg, family=None):
    family = family or get_family(cfg.family)
    train, holdout = frames
    pre = family.build_preprocessor(cfg).fit(train[family.feature_columns(cfg)])
    return train_candidates(train, holdout, cfg, family, pre)


def test_rungs_grow_to_the_cv_cap_and_start_at_a_sample_sized_to_the_window(monkeypatch):
    monkeypatch.setattr(training, "CV_ROWS_SHARE", 32)
    assert rung_sizes(92_000, 100_000) == [3_333, 10_000]
    assert rung_sizes(277_000, 100_000) == [3_333, 10_000]
    assert rung_sizes(920_000, 100_000) == [3_194, 9_583, 28_750]
    assert rung_sizes(2_770_000, 100_000) == [9_618, 28_854, 86_562]
    assert rung_sizes(10**8, 100_000) == [11_111, 33_333, 100_000]
    assert rung_sizes(920_000, 20_000) == [6_666, 20_000]
    assert rung_sizes(16_000, 100_000) == [3_333, 10_000]
    assert rung_sizes(8_000, 100_000) == [8_000]
    assert rung_sizes(300, 100_000) == [300]
    assert all(s >= MIN_RUNG_ROWS for s in rung_sizes(10**7, 10**6))


def test_paired_fold_race_drops_only_a_clear_loser():
    assert clearly_worse([0.90, 0.91, 0.92], [0.80, 0.81, 0.83], higher_better=True)
    assert not clearly_worse([0.90, 0.91, 0.92], [0.91, 0.90, 0.92], higher_better=True)
    assert clearly_worse([0.10, 0.11, 0.12], [0.20, 0.22, 0.21], higher_better=False)  # e.g. RMSPE
    assert not clearly_worse([0.9], [0.1], higher_better=True)  # one fold: no standard error, no verdict
    assert clearly_worse([0.90, 0.91, 0.92], [0.87, 0.90, 0.90], higher_better=True)  # 3.5 standard errors
    assert not clearly_worse([0.90, 0.91, 0.92], [0.87, 0.90, 0.90], higher_better=True, z=4.0)  # not hopeless


def _rungs(*means):
    res = CandidateResult("c", TREE, {}, [], means[-1], 0.0, 0.0)
    res.rungs = [{"mean": m} for m in means]
    return res


def test_a_candidate_gaining_on_the_leader_as_the_sample_grows_stays():
    forest, boosting = _rungs(0.964, 0.966), _rungs(0.955, 0.960)  # boosting trails but closes in
    assert gaining(boosting, forest, higher_better=True)
    assert not gaining(forest, boosting, higher_better=True)
    assert gaining(_rungs(0.30, 0.20), _rungs(0.15, 0.14), higher_better=False)  # RMSPE falling faster
    assert not gaining(_rungs(0.955), _rungs(0.964), higher_better=True)  # one rung: no trend yet


def test_a_hopeless_loser_leaves_at_the_first_rung_and_is_never_fitted_on_all_rows(frames):
    cfg = _cfg([Candidate("tree", TREE, {"max_depth": 6, "random_state": 0}),
                Candidate("constant", "sklearn.dummy.DummyClassifier", {"strategy": "prior"})])
    result = _fit(frames, cfg)
    assert result.winner == "tree"
    assert type(result.model.named_steps["model"]).__name__ == "DecisionTreeClassifier"
    tree, constant = result.candidates
    assert tree.refit and tree.fit_seconds > 0 and tree.holdout_metrics["roc_auc"] > 0.7
    assert not constant.refit and constant.fit_seconds == 0 and constant.holdout_metrics == {}
    assert [r["rows"] for r in constant.rungs] == [5_333]
    assert "clearly worse than tree on 5,333 rows" in constant.left_race
    # the run log still has every candidate's validation scores
    summary = result.summary()
    logged = {c["name"]: c for c in summary["candidates"]}
    assert len(logged["constant"]["cv_scores"]) == 3 and logged["constant"]["cv_mean"] == pytest.approx(0.5)
    assert logged["tree"]["rungs"][0]["scores"] and summary["selection"]["rung_rows"] == [5_333, 16_000]


def test_candidates_that_cannot_be_told_apart_race_to_the_largest_sample(frames):
    same = {"max_depth": 4, "random_state": 0}
    cfg = _cfg([Candidate("a", TREE, same), Candidate("b", TREE, same)])
    result = _fit(frames, cfg)
    assert result.winner == "a" and result.cv_rows == 16_000
    assert [r["rows"] for r in result.candidates[1].rungs] == [5_333, 16_000]
    assert not result.candidates[1].refit and "a comes first in the config" in result.candidates[1].left_race
    assert "still in the race with a on 16,000 rows" in result.candidates[1].left_race


def test_a_level_race_goes_to_the_better_mean_whatever_the_order(frames):
    """Still level on the largest sample: the better mean there wins, as plain cross-validation picks
    (config order only breaks an exact tie). Order-based picks sent weak first deployments to the gate."""
    a = Candidate("a", TREE, {"max_depth": 5, "max_features": 0.5, "random_state": 1})
    b = Candidate("b", TREE, {"max_depth": 5, "max_features": 0.5, "random_state": 2})
    first, second = _fit(frames, _cfg([a, b])), _fit(frames, _cfg([b, a]))
    means = {c.name: c.cv_mean for c in first.candidates}
    assert means["a"] != means["b"]
    better = max(means, key=means.get)
    assert (first.winner, second.winner) == (better, better)


def test_cv_fits_the_early_stopping_the_final_fit_will_have(frames, monkeypatch):
    """HistGradientBoosting's early_stopping="auto" is on above 10,000 rows: on a 16,000-row window
    the 3,555-row folds must stop early too, or they score an overfitted model."""
    made = []
    real = training.make_estimator
    monkeypatch.setattr(training, "make_estimator", lambda c: made.append(real(c)) or made[-1])
    hgb = Candidate("hgb", "sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 30, "random_state": 0})
    _fit(frames, _cfg([hgb]))
    *folds, final = made
    assert len(folds) == 3 and all(est.early_stopping is True for est in folds)
    assert final.early_stopping == "auto"


def test_a_bootstrap_sample_in_cv_is_never_larger_than_the_fold(frames, monkeypatch):
    made = []
    real = training.make_estimator
    monkeypatch.setattr(training, "make_estimator", lambda c: made.append(real(c)) or made[-1])
    forest = Candidate("forest", "sklearn.ensemble.RandomForestClassifier",
                       {"n_estimators": 5, "max_depth": 3, "max_samples": 50_000, "random_state": 0})
    result = _fit(frames, _cfg([forest]))
    *folds, final = made
    assert len(folds) == 3 and all(est._n_samples_bootstrap in (3_555, 3_556) for est in folds)  # 2/3 of 5,333
    assert final is result.model.named_steps["model"] and final._n_samples_bootstrap == 50_000


def test_a_family_supplies_its_own_folds(frames):
    """A time-series family passes time-ordered folds; the race uses exactly those."""
    binary = get_family("binary_classifier")

    class OrderedFolds(type(binary)):
        calls = []

        def cv_splits(self, frame, y, cfg):
            n = len(y)
            self.calls.append(n)
            return [(np.arange(0, n // 2), np.arange(n // 2, 3 * n // 4)),
                    (np.arange(0, 3 * n // 4), np.arange(3 * n // 4, n))]

    family = OrderedFolds()
    cfg = _cfg([Candidate("tree", TREE, {"max_depth": 4, "random_state": 0}),
                Candidate("constant", "sklearn.dummy.DummyClassifier", {"strategy": "prior"})])
    result = _fit(frames, cfg, family)
    assert family.calls[0] == 5_333
    assert all(r["folds"] == 2 for c in result.candidates for r in c.rungs)


def test_an_averaged_candidate_fits_each_entry_and_predicts_their_mean(frames, monkeypatch):
    """Every fit of the average is made in each fold and once on all rows, each with its own
    params on top of the candidate's; the model's probability is the members' mean."""
    from retrain.config import AveragedFit
    from retrain.core.averaging import MeanOfFits

    made = []
    real = training.make_estimator
    monkeypatch.setattr(training, "make_estimator", lambda c: made.append(real(c)) or made[-1])
    averaged = Candidate("avg", TREE, {"max_depth": 5, "max_features": 0.5},
                        average=(AveragedFit({"random_state": 1}), AveragedFit({"random_state": 2, "max_depth": 3})))
    result = _fit(frames, _cfg([averaged]))
    assert len(made) == 3 * 2 + 2  # 3 folds x 2 fits, then 2 fits on all rows
    model = result.model.named_steps["model"]
    assert isinstance(model, MeanOfFits) and model.members == made[-2:]
    assert [(m.random_state, m.max_depth, m.max_features) for m in model.members] == [(1, 5, 0.5), (2, 3, 0.5)]
    X = result.model.named_steps["preprocess"].transform(frames[1][get_family("binary_classifier").feature_columns(FRAUD)])
    expected = (model.members[0].predict_proba(X) + model.members[1].predict_proba(X)) / 2
    assert np.allclose(model.predict_proba(X), expected)
    assert not np.allclose(model.members[0].predict_proba(X), model.members[1].predict_proba(X))
    logged = result.summary()["candidates"][0]
    assert logged["average"] == [{"params": {"random_state": 1}, "sample_weight": None},
                                 {"params": {"random_state": 2, "max_depth": 3}, "sample_weight": None}]


def test_a_weighted_fit_gets_the_familys_weights_and_a_family_without_them_is_refused(frames):
    from retrain.config import AveragedFit
    from retrain.errors import ConfigError

    weighted = Candidate("avg", TREE, {"max_depth": 3},
                         average=(AveragedFit(), AveragedFit(sample_weight="relative_error")))
    with pytest.raises(ConfigError, match="family 'binary_classifier' cannot weight rows by 'relative_error'"):
        _fit(frames, _cfg([weighted]))

    binary = get_family("binary_classifier")
    seen = []

    class Weighing(type(binary)):
        def sample_weight(self, frame, y, cfg, scheme):
            seen.append((len(frame), scheme))
            return np.where(y == 1, 5.0, 1.0)

    result = _fit(frames, _cfg([weighted]), family=Weighing())
    # one weighted fit per fold (3 folds of the 5,333-row first rung: a lone candidate stops there), then all rows
    assert [scheme for _, scheme in seen] == ["relative_error"] * 4
    assert sorted(n for n, _ in seen[:3]) == [3_555, 3_555, 3_556]
    assert seen[-1][0] == 16_000
    plain, heavy = result.model.named_steps["model"].members
    assert plain.tree_.weighted_n_node_samples[0] == 16_000
    assert heavy.tree_.weighted_n_node_samples[0] > 16_000  # the positives weigh 5


def test_each_fold_is_preprocessed_once_for_all_candidates(frames, monkeypatch):
    """Two candidates level to the largest sample (2 rungs x 3 folds): 6 fold preprocessors, not 12;
    the scores are those of each candidate on the same folds."""
    from sklearn.compose import ColumnTransformer

    fits = []
    original = ColumnTransformer.fit

    def counting_fit(self, X, y=None, **params):
        fits.append(len(X))
        return original(self, X, y, **params)

    same = {"max_depth": 4, "random_state": 0}
    cfg = _cfg([Candidate("a", TREE, same), Candidate("b", TREE, same)])
    family = get_family(cfg.family)
    train, holdout = frames
    pre = family.build_preprocessor(cfg).fit(train[family.feature_columns(cfg)])
    monkeypatch.setattr(ColumnTransformer, "fit", counting_fit)
    result = train_candidates(train, holdout, cfg, family, pre)
    assert [r["rows"] for r in result.candidates[1].rungs] == [5_333, 16_000]
    fold_fits = [n for n in fits if n < len(train)]  # the final fit reuses the fitted preprocessor
    assert len(fold_fits) == 2 * cfg.training.cv_folds, fits
    assert result.candidates[0].cv_scores == result.candidates[1].cv_scores  # same model, same folds


def test_the_window_is_sampled_once_and_smaller_rungs_from_the_largest(frames, monkeypatch):
    """Nested rungs: one stratified draw over the window's labels (the largest rung, the same rows as
    a direct draw), each smaller rung drawn from that sample (a draw over 1M labels takes 0.33 s)."""
    cfg = _cfg([Candidate("a", TREE, {"max_depth": 4, "random_state": 0}),
                Candidate("b", TREE, {"max_depth": 4, "random_state": 0})], cv_max_rows=9_000)
    family = get_family(cfg.family)
    train, holdout = frames
    train = train.assign(row_id=np.arange(len(train)))  # not a feature: the preprocessor drops it
    drawn_from, rung_rows = [], []
    sample, splits = type(family).sample_for_cv, type(family).cv_splits

    def recording_sample(self, frame, y, max_rows, seed):
        drawn_from.append(len(frame))
        return sample(self, frame, y, max_rows, seed)

    def recording_splits(self, frame, y, cfg):
        rung_rows.append(set(frame["row_id"]))
        return splits(self, frame, y, cfg)

    monkeypatch.setattr(type(family), "sample_for_cv", recording_sample)
    monkeypatch.setattr(type(family), "cv_splits", recording_splits)
    pre = family.build_preprocessor(cfg).fit(train[family.feature_columns(cfg)])
    result = train_candidates(train, holdout, cfg, family, pre)
    assert [r["rows"] for r in result.candidates[0].rungs] == [3_000, 9_000]
    assert drawn_from.count(len(train)) == 1, drawn_from
    small, large = rung_rows
    assert len(small) == 3_000 and small < large
    direct = sample(family, train, family.target(train, cfg), 9_000, cfg.training.random_state)
    assert large == set(direct)
