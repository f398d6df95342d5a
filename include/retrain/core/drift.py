"""Input drift between a reference sample (stored with the champion) and a new weekly batch.

Pure functions over numpy/pandas/scipy. PSI is compared against fixed bands *and* against a
noise floor (the PSI a same-distribution sample of the batch's size shows by chance), so a
small batch cannot fire a retrain on sampling noise alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from retrain.config import TriggerConfig

# Floor for an empty bin's proportion so ln(p/q) stays finite. A bin empty on both sides
# contributes exactly 0; an empty bin on one side contributes a large (but finite) term.
PSI_EPSILON = 1e-4

BANDS = ("stable", "warn", "action")


def _numeric(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError(f"{name} has no non-null values")
    return arr


def _categorical(values: Any, name: str) -> pd.Series:
    series = pd.Series(np.asarray(values, dtype=object).ravel()).dropna()
    if series.empty:
        raise ValueError(f"{name} has no non-null values")
    return series.astype(str)


def _psi_from_props(ref_p: np.ndarray, cur_p: np.ndarray) -> float:
    ref_p = np.maximum(ref_p, PSI_EPSILON)
    cur_p = np.maximum(cur_p, PSI_EPSILON)
    return float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)))


def _inner_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Quantile edges of the reference without the outer two (outer bins are open-ended).

    Duplicated edges (discrete features: many equal quantiles) are dropped, so a binary
    feature gets ~2 populated bins instead of 10 degenerate ones.
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    qs = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1))
    return np.unique(qs[1:-1])


def _bin_counts(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    # Bin i holds values in [edge[i-1], edge[i]); bin 0 is (-inf, edge[0]), the last [edge[-1], inf).
    idx = np.searchsorted(inner_edges, values, side="right")
    return np.bincount(idx, minlength=inner_edges.size + 1).astype(float)


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    """Population Stability Index of a numeric feature: sum((c - r) * ln(c / r)) over bins.

    Bins are quantiles of the reference (so each holds ~1/bins of it), the outer bins are
    open-ended (values outside the reference range still land somewhere), NaNs are ignored,
    and empty bins use PSI_EPSILON. Raises ValueError if either side has no values.
    """
    ref = _numeric(reference, "reference")
    cur = _numeric(current, "current")
    edges = _inner_edges(ref, bins)
    ref_p = _bin_counts(ref, edges) / ref.size
    cur_p = _bin_counts(cur, edges) / cur.size
    return _psi_from_props(ref_p, cur_p)


def _category_props(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    ref_counts = ref.value_counts()
    cur_counts = cur.value_counts()
    cats = ref_counts.index.union(cur_counts.index)
    ref_p = ref_counts.reindex(cats, fill_value=0).to_numpy(float) / ref.size
    cur_p = cur_counts.reindex(cats, fill_value=0).to_numpy(float) / cur.size
    return ref_p, cur_p


def psi_categorical(reference: Any, current: Any) -> float:
    """PSI over string categories; each category unseen in the reference is its own bucket
    (reference share PSI_EPSILON), so new merchant types show up as drift instead of vanishing.
    """
    ref = _categorical(reference, "reference")
    cur = _categorical(current, "current")
    ref_p, cur_p = _category_props(ref, cur)
    return _psi_from_props(ref_p, cur_p)


def _is_categorical(values: Any) -> bool:
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values).ravel())
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _reference_props(reference: Any, bins: int) -> np.ndarray:
    if _is_categorical(reference):
        ref = _categorical(reference, "reference")
        return ref.value_counts().to_numpy(float) / ref.size
    ref = _numeric(reference, "reference")
    return _bin_counts(ref, _inner_edges(ref, bins)) / ref.size


def psi_noise_floor(
    reference: Any,
    n: int,
    bins: int = 10,
    quantile: float = 0.99,
    n_boot: int = 200,
    seed: int = 0,
) -> float:
    """The `quantile` of PSI between the reference and a size-`n` bootstrap sample of itself.

    That is the PSI a batch of n rows with *no* drift reaches by chance; it grows as n
    shrinks. Drawing n rows with replacement and binning them is exactly a multinomial draw
    over the reference's bin shares, so that is what is sampled (cost independent of n).
    Works for numeric and categorical (non-numeric dtype) references. Deterministic per seed.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    ref_p = _reference_props(reference, bins)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(int(n), ref_p / ref_p.sum(), size=int(n_boot))
    cur_p = np.maximum(counts / float(n), PSI_EPSILON)
    ref_e = np.maximum(ref_p, PSI_EPSILON)
    values = np.sum((cur_p - ref_e) * np.log(cur_p / ref_e), axis=1)
    return float(np.quantile(values, quantile))


def ks_statistic(reference_scores: Any, current_scores: Any) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov (statistic, p-value) of model scores; NaNs ignored.

    The statistic (max CDF gap, 0..1) is what triggers; the p-value is recorded only, since
    with thousands of rows it flags differences far too small to matter.
    """
    ref = _numeric(reference_scores, "reference_scores")
    cur = _numeric(current_scores, "current_scores")
    result = stats.ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def psi_band(value: float, cfg: TriggerConfig) -> str:
    """'action' above psi_action, 'warn' above psi_warn, else 'stable' (strict comparisons)."""
    if value > cfg.psi_action:
        return "action"
    if value > cfg.psi_warn:
        return "warn"
    return "stable"


@dataclass
class DriftReport:
    """Per-feature PSI results, plus features that could not be compared.

    `missing` (absent from the current batch) and `skipped` (feature -> why, e.g. all null)
    are schema/data problems, not drift: the caller routes them to validation, which fails
    with a full report, rather than letting them silently read as "no drift".
    """

    features: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Human-readable schema/data problems (empty if every feature was compared)."""
        out = [f"feature '{f}' missing from current batch" for f in self.missing]
        out += [f"feature '{f}': {why}" for f, why in self.skipped.items()]
        return out

    def effective_actions(self) -> list[tuple[str, dict]]:
        """Features whose PSI exceeds both psi_action and their noise floor, worst first."""
        hits = [(f, e) for f, e in self.features.items() if e["effective"]]
        return sorted(hits, key=lambda fe: fe[1]["psi"], reverse=True)

    def suppressed(self) -> list[str]:
        """Features in the action band that stayed under their noise floor (batch too small)."""
        return [f for f, e in self.features.items() if e["band"] == "action" and not e["effective"]]

    def worst(self) -> tuple[str, dict] | None:
        """The feature with the highest PSI, or None if nothing was compared."""
        if not self.features:
            return None
        return max(self.features.items(), key=lambda fe: fe[1]["psi"])

    def to_dict(self) -> dict:
        return {
            "features": {f: dict(e) for f, e in self.features.items()},
            "missing": list(self.missing),
            "skipped": dict(self.skipped),
            "thresholds": dict(self.thresholds),
        }

    @classmethod
    def from_dict(cls, data: dict) -> DriftReport:
        """Inverse of to_dict (the report travels between tasks as JSON)."""
        return cls(
            features={f: dict(e) for f, e in (data.get("features") or {}).items()},
            missing=list(data.get("missing") or []),
            skipped=dict(data.get("skipped") or {}),
            thresholds=dict(data.get("thresholds") or {}),
        )


def feature_drift(
    reference_df: pd.DataFrame,
    current_df: pd.DataFrame,
    features: Iterable[str],
    cfg: TriggerConfig,
    seed: int = 0,
) -> DriftReport:
    """PSI, noise floor and band for each feature; never raises for a missing/empty column.

    Per feature: {"psi", "noise_floor", "threshold" (= max(psi_action, noise_floor)), "band",
    "effective" (psi > threshold: only this counts as action), "above_noise_floor", "kind",
    "n_reference", "n_current"}. Non-numeric columns use psi_categorical.
    """
    report = DriftReport(
        thresholds={
            "psi_warn": float(cfg.psi_warn),
            "psi_action": float(cfg.psi_action),
            "psi_bins": int(cfg.psi_bins),
            "psi_noise_quantile": float(cfg.psi_noise_quantile),
            "psi_noise_bootstrap": int(cfg.psi_noise_bootstrap),
        }
    )
    for feature in features:
        if feature not in current_df.columns:
            report.missing.append(feature)
            continue
        if feature not in reference_df.columns:
            report.skipped[feature] = "missing from the reference sample"
            continue
        ref_col = reference_df[feature].dropna()
        cur_col = current_df[feature].dropna()
        if ref_col.empty:
            report.skipped[feature] = "no non-null values in the reference sample"
            continue
        if cur_col.empty:
            report.skipped[feature] = "no non-null values in the current batch"
            continue
        categorical = _is_categorical(ref_col) or _is_categorical(cur_col)
        try:
            if categorical:
                value = psi_categorical(ref_col, cur_col)
            else:
                value = psi(ref_col, cur_col, bins=cfg.psi_bins)
        except (TypeError, ValueError) as exc:  # e.g. numeric reference, text in the batch
            report.skipped[feature] = f"cannot compute PSI: {exc}"
            continue
        floor = psi_noise_floor(
            ref_col.astype(str) if categorical else ref_col,
            n=len(cur_col),
            bins=cfg.psi_bins,
            quantile=cfg.psi_noise_quantile,
            n_boot=cfg.psi_noise_bootstrap,
            seed=seed,
        )
        threshold = max(float(cfg.psi_action), floor)
        report.features[feature] = {
            "psi": value,
            "noise_floor": floor,
            "threshold": threshold,
            "band": psi_band(value, cfg),
            "effective": bool(value > threshold and math.isfinite(value)),
            "above_noise_floor": bool(value > floor),
            "kind": "categorical" if categorical else "numeric",
            "n_reference": len(ref_col),
            "n_current": len(cur_col),
        }
    return report
