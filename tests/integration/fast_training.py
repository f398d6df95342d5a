"""One small forest instead of the configured candidates, for DAG tests about control flow.

The registry, the smoke test, rollbacks, approval and asset events do not depend on the
estimator. The paired gate stays on, with tolerances wide enough that a challenger as good as
the champion passes at these small holdouts: what those tests check happens after the gate.
"""

from __future__ import annotations

import dataclasses

from retrain.config import Candidate, load_model_config

WIDE_TOLERANCE = {"roc_auc": 0.2, "recall": 0.5, "cost_per_1k": 1.0e6}
SMALL_FOREST = Candidate(
    name="random_forest",
    estimator="sklearn.ensemble.RandomForestClassifier",
    params={"n_estimators": 30, "max_depth": 8, "min_samples_leaf": 5, "class_weight": "balanced",
            "n_jobs": 1, "random_state": 42},
)


def fast_config(name: str):
    cfg = load_model_config(name)
    gate = dataclasses.replace(cfg.gate, tolerance={m: WIDE_TOLERANCE[m] for m in cfg.gate.compare})
    training = dataclasses.replace(cfg.training, candidates=(SMALL_FOREST,), cv_folds=3)
    return dataclasses.replace(cfg, gate=gate, training=training)


def small_sales_forecast(name: str):
    """The shipped Rossmann average at 200 x 31 leaves instead of 1,000 x 127 (about 10x less training).

    The DAG story checks validation, the gate's rules and the registry, not accuracy at full size:
    that is `make bench` (bench_rossmann_real) and the family's seasonal-naive unit test. Everything
    else (the average of two fits, the relative-error weights, the time-ordered CV) stays as shipped.
    """
    cfg = load_model_config(name)
    (shipped,) = cfg.training.candidates
    small = dataclasses.replace(shipped, params={**shipped.params, "max_iter": 200, "max_leaf_nodes": 31})
    return dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, candidates=(small,)))
