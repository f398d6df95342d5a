"""Metrics on hand-computed confusion matrices; directions of every metric."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from retrain.core.metrics import (
    HIGHER_IS_BETTER,
    classification_metrics,
    higher_is_better,
    regression_metrics,
    rmspe,
)

# 10 rows, 4 positives. At threshold 0.5: TP=3 (0.9, 0.8, 0.6), FN=1 (0.4),
# FP=2 (0.7, 0.55), TN=4.
Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
S = [0.9, 0.8, 0.6, 0.4, 0.7, 0.55, 0.3, 0.2, 0.1, 0.05]


def test_confusion_matrix_metrics_by_hand():
    m = classification_metrics(Y, S, threshold=0.5, cost_missed=500.0, cost_false_alarm=10.0)
    assert (m["tp"], m["fp"], m["fn"], m["tn"], m["n"]) == (3, 2, 1, 4, 10)
    assert m["recall"] == pytest.approx(0.75)
    assert m["precision"] == pytest.approx(0.6)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    # cost: 1 FN * 500 + 2 FP * 10 = 520 over 10 rows -> 52,000 per 1,000 rows
    assert m["cost_per_1k"] == pytest.approx(52_000.0)
    assert m["positive_rate"] == pytest.approx(0.4)
    assert m["predicted_positive_rate"] == pytest.approx(0.5)
    # ROC AUC: of 24 (pos, neg) pairs, misordered: 0.6<0.7, 0.4<0.7, 0.4<0.55 -> 21/24
    assert m["roc_auc"] == pytest.approx(21 / 24)
    # AP: ranks of positives 1,2,4,6 -> precisions 1, 1, 3/4, 4/6 -> mean
    assert m["pr_auc"] == pytest.approx((1 + 1 + 0.75 + 4 / 6) / 4)


def test_threshold_moves_the_confusion_matrix():
    m = classification_metrics(Y, S, threshold=0.75, cost_missed=100.0, cost_false_alarm=1.0)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 0, 2, 6)
    assert m["precision"] == 1.0 and m["recall"] == 0.5
    assert m["cost_per_1k"] == pytest.approx(2 * 100.0 / 10 * 1000)


def test_single_class_leaves_undefined_metrics_none():
    no_pos = classification_metrics([0, 0, 0], [0.1, 0.6, 0.2])
    assert no_pos["roc_auc"] is None and no_pos["recall"] is None and no_pos["pr_auc"] is None
    assert no_pos["f1"] is None and no_pos["precision"] == 0.0
    assert no_pos["cost_per_1k"] == pytest.approx(10.0 / 3 * 1000)
    all_pos = classification_metrics([1, 1], [0.9, 0.2])
    assert all_pos["roc_auc"] is None and all_pos["recall"] == 0.5


def test_metrics_are_plain_json_types():
    m = classification_metrics(np.array(Y), np.array(S, dtype=np.float32))
    for value in m.values():
        assert value is None or type(value) in (int, float)
    json.dumps(m, allow_nan=False)


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        classification_metrics([1, 0], [0.5])
    with pytest.raises(ValueError):
        classification_metrics([], [])
    with pytest.raises(ValueError):
        classification_metrics([2, 0], [0.5, 0.5])
    with pytest.raises(ValueError):
        classification_metrics([1, 0], [np.nan, 0.5])


def test_rmspe_ignores_zero_targets():
    # rows with y=0 are dropped; errors on the rest: 10% and 20%
    value = rmspe([0, 100, 50, 0], [7, 110, 40, 3])
    assert value == pytest.approx(math.sqrt((0.1**2 + 0.2**2) / 2))
    with pytest.raises(ValueError):
        rmspe([0, 0], [1, 2])


def test_regression_metrics():
    m = regression_metrics([0, 100, 50, 0], [7, 110, 40, 3])
    assert m["rmspe"] == pytest.approx(math.sqrt(0.025))
    assert m["rmse"] == pytest.approx(math.sqrt((49 + 100 + 100 + 9) / 4))
    assert m["mae"] == pytest.approx((7 + 10 + 10 + 3) / 4)
    assert (m["n"], m["n_nonzero"]) == (4, 2)
    assert regression_metrics([0, 0], [1, 2])["rmspe"] is None
    json.dumps(m, allow_nan=False)


def test_directions_cover_every_quality_metric():
    produced = set(classification_metrics(Y, S)) | set(regression_metrics([1, 2], [1, 2]))
    assert {"recall", "precision", "f1", "roc_auc", "pr_auc", "cost_per_1k", "rmspe", "rmse", "mae"} <= set(
        HIGHER_IS_BETTER
    )
    assert set(HIGHER_IS_BETTER) <= produced
    assert higher_is_better("roc_auc") and not higher_is_better("rmspe")
    assert not higher_is_better("cost_per_1k")


def test_unknown_metric_direction_raises_clear_keyerror():
    with pytest.raises(KeyError, match="unknown metric 'accuracy'"):
        higher_is_better("accuracy")
    with pytest.raises(KeyError, match="informational"):
        higher_is_better("n")
