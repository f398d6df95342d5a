"""Paired bootstrap of "challenger minus champion" on one holdout, vectorized.

Both models are scored on the same rows and every resample weighs the same rows for both, so the
difference keeps the pairing (far narrower than two independent intervals). Resampling is the
Poisson bootstrap: each row gets an independent Poisson(1) weight (drawn from 16-bit random
numbers through a lookup table), the standard large-sample form of the row bootstrap, and every
metric normalises by the resample's own total. No metric is computed by one library call per
resample: the threshold and error metrics are one matrix product; ROC-AUC is a weighted
Mann-Whitney statistic from per-resample counts of negatives in each gap between positive score
values (a sparse product), ties counting one half as in sklearn's `roc_auc_score`.

`improvement` is signed so that positive means the challenger is better: challenger - champion
for higher-is-better metrics, champion - challenger otherwise. Deterministic: one seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from retrain.core.metrics import higher_is_better

# Metrics this module can resample; anything else is refused (the gate fails closed on it).
SUPPORTED = ("roc_auc", "recall", "cost_per_1k", "rmspe")
_CLASSIFICATION = frozenset({"roc_auc", "recall", "cost_per_1k"})
_CHUNK_CELLS = 4_000_000  # resamples x rows per block: bounds memory (~32 MB of float64)
_U16 = 1 << 16
_POISSON_TABLE = np.searchsorted(
    np.cumsum([math.exp(-1.0) / math.factorial(i) for i in range(16)]) * _U16, np.arange(_U16), side="right"
).astype(np.float32)


@dataclass(frozen=True)
class PairedHoldout:
    """Labels and both models' per-row scores on the same holdout rows, plus the metric settings."""

    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray
    threshold: float = 0.5  # classification: a row is flagged when score >= threshold
    cost_missed: float = 500.0
    cost_false_alarm: float = 10.0

    def __post_init__(self):
        y, a, b = (np.asarray(v, dtype=np.float64).ravel() for v in (self.y, self.challenger, self.champion))
        if not (y.size == a.size == b.size) or y.size == 0:
            raise ValueError(f"paired holdout needs equal, non-zero lengths: y {y.size}, "
                             f"challenger {a.size}, champion {b.size}")
        if not (np.isfinite(y).all() and np.isfinite(a).all() and np.isfinite(b).all()):
            raise ValueError("paired holdout contains NaN or infinite values")
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "challenger", a)
        object.__setattr__(self, "champion", b)


@dataclass(frozen=True)
class Interval:
    metric: str
    challenger: float | None  # full-holdout value
    champion: float | None
    improvement: float | None  # full-holdout, positive = challenger better
    low: float | None  # two-sided percentile interval of the improvement at `confidence`
    high: float | None
    confidence: float
    resamples: int
    undefined_resamples: int  # e.g. no positive row drawn: counted as the worst case

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class _Design:
    """Per-row columns whose weighted sums give every requested metric of both models."""

    def __init__(self, h: PairedHoldout, metrics: tuple[str, ...]):
        import scipy.sparse as sp

        self.h, self.metrics = h, metrics
        y = h.y
        pos = y == 1.0
        self.linear: list[np.ndarray] = [np.ones_like(y)]  # column 0: the resample's row total
        self.cols: dict[tuple[str, str], int] = {}
        self.auc_blocks: dict[str, tuple[int, int, int]] = {}
        rows, cols, offset = [], [], 0
        for who, s in (("challenger", h.challenger), ("champion", h.champion)):
            pred = s >= h.threshold
            if "recall" in metrics or "cost_per_1k" in metrics:
                self._add(who, "tp", pos & pred)
                self._add(who, "fn", pos & ~pred)
                self._add(who, "fp", ~pos & pred)
            if "rmspe" in metrics:
                nz = y != 0
                self._add(who, "sq", np.where(nz, ((y - s) / np.where(nz, y, 1.0)) ** 2, 0.0))
            if "roc_auc" in metrics:
                # G distinct positive score values; negatives fall in gap 2r (between values r-1 and r)
                # or tie value r (2r+1); positives are counted per value in columns 2G+1+r
                values = np.unique(s[pos])
                g = values.size
                r = np.searchsorted(values, s, side="left")
                tie = (r < g) & (values[np.minimum(r, max(g - 1, 0))] == s) if g else np.zeros_like(pos)
                col = np.where(pos, 2 * g + 1 + r, 2 * r + tie)
                rows.append(np.arange(y.size))
                cols.append(offset + col)
                self.auc_blocks[who] = (offset, g, offset + 3 * g + 1)
                offset += 3 * g + 1
        if "rmspe" in metrics:
            self._add("both", "nonzero", y != 0)
        self.V64 = np.ascontiguousarray(np.column_stack(self.linear).T)  # exact full-holdout values
        self.V32 = self.V64.astype(np.float32)  # resamples: half the memory traffic; counts stay exact
        self.M_T = None  # (columns x rows), so a (rows x resamples) weight matrix multiplies without a copy
        if rows:
            r, c = np.concatenate(rows), np.concatenate(cols)
            self.M_T = sp.csr_matrix((np.ones(r.size, dtype=np.float32), (c, r)), shape=(offset, y.size))

    def _add(self, who: str, name: str, column: np.ndarray) -> None:
        self.cols[(who, name)] = len(self.linear)
        self.linear.append(column.astype(np.float64))

    def evaluate(self, weights: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(challenger, champion) value of every metric for each weight column (NaN where undefined).

        `weights` is (rows x resamples): one column of row weights per resample.
        """
        lin = ((self.V64 if weights.dtype == np.float64 else self.V32) @ weights).T.astype(np.float64)
        w32 = weights.astype(np.float32, copy=False)  # integer counts: exact in float32 below 2**24 rows
        auc_counts = (self.M_T @ w32).T if self.M_T is not None else None
        total = lin[:, 0]
        out = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for m in self.metrics:
                pair = []
                for who in ("challenger", "champion"):
                    def col(name: str, who: str = who) -> np.ndarray:
                        return lin[:, self.cols[(who, name)]]

                    if m == "recall":
                        n_pos = col("tp") + col("fn")
                        pair.append(np.where(n_pos > 0, col("tp") / n_pos, np.nan))
                    elif m == "cost_per_1k":
                        cost = col("fn") * self.h.cost_missed + col("fp") * self.h.cost_false_alarm
                        pair.append(cost / total * 1000.0)
                    elif m == "rmspe":
                        n_nz = lin[:, self.cols[("both", "nonzero")]]
                        pair.append(np.where(n_nz > 0, np.sqrt(col("sq") / n_nz), np.nan))
                    else:
                        pair.append(self._auc(auc_counts, *self.auc_blocks[who]))
                out[m] = (pair[0], pair[1])
        return out

    @staticmethod
    def _auc(counts, start: int, g: int, end: int) -> np.ndarray:
        block = np.asarray(counts[:, start:end], dtype=np.float64)
        neg, pos = block[:, : 2 * g + 1], block[:, 2 * g + 1:]
        below = np.cumsum(neg, axis=1)[:, 0: 2 * g: 2]  # negatives under positive value r
        tied = neg[:, 1::2]
        num = (pos * (below + 0.5 * tied)).sum(axis=1)
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        return np.where((n_pos > 0) & (n_neg > 0), num / (n_pos * n_neg), np.nan)


def weighted_values(h: PairedHoldout, metrics: tuple[str, ...] | list[str], weights) -> dict:
    """(challenger, champion) values of `metrics` under explicit row weights (rows x resamples):
    what every resample computes, exposed so tests can compare it with sklearn on repeated rows."""
    metrics = tuple(dict.fromkeys(metrics))
    _check_inputs(h, metrics, 1, 0.5)
    w = np.asarray(weights, dtype=np.float64)
    return _Design(h, metrics).evaluate(w.reshape(h.y.size, -1))


def _check_inputs(h: PairedHoldout, metrics: tuple[str, ...], resamples: int, confidence: float) -> None:
    unknown = [m for m in metrics if m not in SUPPORTED]
    if unknown:
        raise KeyError(f"metric(s) {unknown} cannot be bootstrapped; supported: {', '.join(SUPPORTED)}")
    if _CLASSIFICATION & set(metrics) and not np.isin(h.y, (0.0, 1.0)).all():
        raise ValueError("classification metrics need binary (0/1) labels")
    if resamples < 1 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need resamples >= 1 and 0 < confidence < 1, got {resamples}, {confidence}")


def paired_intervals(h: PairedHoldout, metrics: tuple[str, ...] | list[str], resamples: int,
                     confidence: float, seed: int) -> dict[str, Interval]:
    """Full-holdout values and the paired percentile interval of each metric's improvement.

    An undefined resample (e.g. no positive row drawn, so no recall) counts as the worst case
    for the challenger (-inf improvement): rare data can only make the gate stricter.
    """
    metrics = tuple(dict.fromkeys(metrics))
    _check_inputs(h, metrics, resamples, confidence)
    with threadpool_limits(limits=1):  # memory-bound products: more BLAS threads only contend
        return _intervals(_Design(h, metrics), metrics, resamples, confidence, seed)


def _intervals(design: _Design, metrics: tuple[str, ...], resamples: int, confidence: float,
               seed: int) -> dict[str, Interval]:
    n = design.h.y.size
    full = design.evaluate(np.ones((n, 1)))

    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // n))
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    done = 0
    while done < resamples:
        k = min(chunk, resamples - done)
        weights = _POISSON_TABLE[rng.integers(0, _U16, size=(n, k), dtype=np.uint16)]
        for m, (chall, champ) in design.evaluate(weights).items():
            diffs[m].append(chall - champ if higher_is_better(m) else champ - chall)
        done += k

    tail = (1.0 - confidence) / 2.0
    out = {}
    for m in metrics:
        d = np.concatenate(diffs[m])
        undefined = int(np.isnan(d).sum())
        d = np.where(np.isnan(d), -np.inf, d)
        chall, champ = (float(v[0]) if np.isfinite(v[0]) else None for v in full[m])
        improvement = None
        if chall is not None and champ is not None:
            improvement = chall - champ if higher_is_better(m) else champ - chall
        low = float(np.quantile(d, tail, method="lower"))
        high = float(np.quantile(d, 1.0 - tail, method="higher"))
        out[m] = Interval(m, chall, champ, improvement, low if np.isfinite(low) else None,
                          high if np.isfinite(high) else None, confidence, resamples, undefined)
    return out


def settings_from_metrics_config(metrics_cfg: dict) -> dict:
    """PairedHoldout's threshold/costs from a model's `metrics:` section (the binary family's keys and
    defaults; the gate refuses the comparison if its full-holdout values disagree with the family's)."""
    return {
        "threshold": float(metrics_cfg.get("decision_threshold", 0.5)),
        "cost_missed": float(metrics_cfg.get("cost_missed_fraud", 500.0)),
        "cost_false_alarm": float(metrics_cfg.get("cost_false_alarm", 10.0)),
    }
