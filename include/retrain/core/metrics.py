"""Model metrics used by the triggers (champion on new labels) and the gate (challenger vs champion).

Every value is a plain Python float/int or None, so a metrics dict can go straight to JSON.
None means "undefined on this data" (e.g. ROC AUC with one class); the gate treats None as
a failure (fail closed), the triggers treat it as "no signal".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Direction of every quality metric produced here. Informational keys (n, positive_rate,
# confusion counts) are deliberately absent: "regressing" on them has no meaning, so a
# relative-regression rule naming one fails loudly in higher_is_better().
HIGHER_IS_BETTER: dict[str, bool] = {
    "recall": True,
    "precision": True,
    "f1": True,
    "roc_auc": True,
    "pr_auc": True,
    "cost_per_1k": False,
    "rmspe": False,
    "rmse": False,
    "mae": False,
}

INFORMATIONAL: frozenset[str] = frozenset(
    {"n", "positive_rate", "predicted_positive_rate", "threshold", "tp", "fp", "fn", "tn", "n_nonzero"}
)


def higher_is_better(metric: str) -> bool:
    """Direction of `metric`; KeyError naming the known metrics if it has none."""
    try:
        return HIGHER_IS_BETTER[metric]
    except KeyError:
        if metric in INFORMATIONAL:
            raise KeyError(f"metric {metric!r} is informational and has no better direction") from None
        known = ", ".join(sorted(HIGHER_IS_BETTER))
        raise KeyError(f"unknown metric {metric!r}; known metrics: {known}") from None


def _pair(y_true: Any, y_other: Any, other_name: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    o = np.asarray(y_other, dtype=float).ravel()
    if y.size != o.size:
        raise ValueError(f"y_true has {y.size} rows but {other_name} has {o.size}")
    if y.size == 0:
        raise ValueError("cannot compute metrics on zero rows")
    if np.isnan(y).any() or np.isnan(o).any():
        raise ValueError(f"y_true/{other_name} contain NaN; impute or drop rows first")
    return y, o


def classification_metrics(
    y_true: Any,
    scores: Any,
    threshold: float = 0.5,
    cost_missed: float = 500.0,
    cost_false_alarm: float = 10.0,
) -> dict:
    """Threshold and ranking metrics of a binary classifier (label 1 = positive, e.g. fraud).

    A row is predicted positive when score >= threshold. cost_per_1k is the business cost
    (FN * cost_missed + FP * cost_false_alarm) per 1,000 rows, so weeks of different size
    compare. Undefined values are None: recall/f1/pr_auc without positives, roc_auc unless
    both classes are present. Precision with no predicted positives is 0.0 (sklearn's
    zero_division=0): a model that flags nothing has caught nothing.
    """
    y, s = _pair(y_true, scores, "scores")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be binary (0/1)")
    pred = s >= threshold
    pos = y == 1.0
    tp = int(np.sum(pred & pos))
    fp = int(np.sum(pred & ~pos))
    fn = int(np.sum(~pred & pos))
    tn = int(np.sum(~pred & ~pos))
    n = int(y.size)
    n_pos = tp + fn

    recall = tp / n_pos if n_pos else None
    precision = tp / (tp + fp) if (tp + fp) else 0.0
    if recall is None:
        f1 = None
    elif precision + recall > 0:
        f1 = 2 * precision * recall / (precision + recall)
    else:
        f1 = 0.0
    from sklearn.metrics import average_precision_score, roc_auc_score  # lazy: the gate module stays light

    both_classes = 0 < n_pos < n
    roc_auc = float(roc_auc_score(y, s)) if both_classes else None
    pr_auc = float(average_precision_score(y, s)) if n_pos else None

    return {
        "recall": None if recall is None else float(recall),
        "precision": float(precision),
        "f1": None if f1 is None else float(f1),
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "cost_per_1k": float((fn * cost_missed + fp * cost_false_alarm) / n * 1000.0),
        "positive_rate": float(n_pos / n),
        "predicted_positive_rate": float((tp + fp) / n),
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "n": n,
    }


def rmspe(y_true: Any, y_pred: Any) -> float:
    """Root mean squared percentage error over rows with y_true != 0 (Kaggle Rossmann).

    Zero-sales days (closed stores) are excluded because their percentage error is undefined.
    Raises ValueError if no row has y_true != 0.
    """
    y, p = _pair(y_true, y_pred, "y_pred")
    mask = y != 0
    if not mask.any():
        raise ValueError("rmspe is undefined: every y_true is 0")
    return float(np.sqrt(np.mean(((y[mask] - p[mask]) / y[mask]) ** 2)))


def regression_metrics(y_true: Any, y_pred: Any) -> dict:
    """rmspe (None if every y_true is 0), rmse and mae over all rows, n and n_nonzero."""
    y, p = _pair(y_true, y_pred, "y_pred")
    err = y - p
    n_nonzero = int(np.count_nonzero(y))
    return {
        "rmspe": rmspe(y, p) if n_nonzero else None,
        "rmse": float(math.sqrt(float(np.mean(err**2)))),
        "mae": float(np.mean(np.abs(err))),
        "n": int(y.size),
        "n_nonzero": n_nonzero,
    }
