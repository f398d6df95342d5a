"""Trigger priority: each signal beats the ones after it; invalid input never skips."""

from __future__ import annotations

import json

import pytest
from retrain.config import TriggerConfig
from retrain.core.drift import DriftReport
from retrain.core.triggers import TriggerInputs, decide

CFG = TriggerConfig(
    psi_features=("amount", "velocity"),
    psi_warn=0.10,
    psi_action=0.25,
    ks_action=0.20,
    performance={"min_recall": 0.60, "min_roc_auc": 0.80, "max_cost_per_1k": 15000.0},
    max_model_age_days=28,
)


def _entry(psi: float, floor: float = 0.03) -> dict:
    band = "action" if psi > 0.25 else "warn" if psi > 0.10 else "stable"
    threshold = max(0.25, floor)
    return {
        "psi": psi,
        "noise_floor": floor,
        "threshold": threshold,
        "band": band,
        "effective": psi > threshold,
        "above_noise_floor": psi > floor,
        "kind": "numeric",
        "n_reference": 5000,
        "n_current": 2000,
    }


def _drift(**psis) -> DriftReport:
    return DriftReport(
        features={f: _entry(*v) if isinstance(v, tuple) else _entry(v) for f, v in psis.items()}
    )


GOOD_PERF = {"recall": 0.75, "roc_auc": 0.90, "cost_per_1k": 9000.0}


def _inputs(**overrides) -> TriggerInputs:
    """A quiet week: every signal computed and within thresholds."""
    base = dict(
        champion_present=True,
        force=False,
        batch_readable=True,
        schema_problems=[],
        drift=_drift(amount=0.05, velocity=0.02),
        score_ks=0.05,
        performance=dict(GOOD_PERF),
        model_age_days=7,
        batch_rows=2000,
    )
    base.update(overrides)
    return TriggerInputs(**base)


# Each entry fires exactly one signal; later entries are lower priority.
SIGNALS = [
    ("force", {"force": True}),
    ("first_deployment", {"champion_present": False}),
    ("invalid_input", {"schema_problems": ["column 'amount' has dtype object, expected float"]}),
    ("drift", {"drift": _drift(amount=0.412, velocity=0.02)}),
    ("score_drift", {"score_ks": 0.31}),
    ("performance", {"performance": {**GOOD_PERF, "recall": 0.50}}),
    ("age", {"model_age_days": 35}),
]


def test_quiet_week_does_not_retrain_and_summarises():
    d = decide(_inputs(), CFG)
    assert (d.retrain, d.trigger) == (False, "none")
    assert d.reason.startswith("all signals within thresholds:")
    for part in ("worst PSI 0.050 on 'amount'", "KS 0.050", "roc_auc=0.900 >= min 0.800", "age 7d"):
        assert part in d.reason


@pytest.mark.parametrize("index", range(len(SIGNALS)))
def test_each_signal_alone_fires_its_trigger(index):
    name, override = SIGNALS[index]
    d = decide(_inputs(**override), CFG)
    assert d.retrain and d.trigger == name


@pytest.mark.parametrize("index", range(len(SIGNALS)))
def test_each_signal_beats_every_later_one(index):
    overrides = {}
    for _, override in SIGNALS[index:]:
        overrides.update(override)
    d = decide(_inputs(**overrides), CFG)
    assert d.retrain and d.trigger == SIGNALS[index][0]


def test_drift_reason_names_worst_feature_with_noise_floor():
    d = decide(_inputs(drift=_drift(amount=0.412, velocity=0.30)), CFG)
    assert d.reason.startswith("PSI action on 'amount' (PSI=0.412 > 0.25, noise floor 0.030)")
    assert d.signals["drift_actions"] == ["amount", "velocity"]


def test_warn_band_is_recorded_but_does_not_trigger():
    d = decide(_inputs(drift=_drift(amount=0.18)), CFG)
    assert d.trigger == "none" and not d.retrain
    assert d.signals["drift_warnings"] == ["amount"]


def test_action_psi_under_noise_floor_does_not_trigger():
    d = decide(_inputs(drift=_drift(amount=(0.40, 0.55))), CFG)
    assert d.trigger == "none"
    assert d.signals["drift_suppressed_by_noise_floor"] == ["amount"]


def test_unreadable_batch_never_skips():
    d = decide(_inputs(batch_readable=False, drift=None, score_ks=None, performance=None), CFG)
    assert d.retrain and d.trigger == "invalid_input"
    assert "unreadable" in d.reason


def test_missing_drift_feature_and_empty_batch_route_to_validation():
    report = _drift(amount=0.01)
    report.missing.append("velocity")
    d = decide(_inputs(drift=report), CFG)
    assert d.trigger == "invalid_input" and "velocity" in d.reason
    d = decide(_inputs(batch_rows=0), CFG)
    assert d.trigger == "invalid_input" and "no rows" in d.reason


def test_performance_names_worst_violation_by_relative_margin():
    # recall 0.55 is 8.3% below 0.60; cost 30000 is 100% above 15000 -> cost is worst
    perf = {"recall": 0.55, "roc_auc": 0.90, "cost_per_1k": 30000.0}
    d = decide(_inputs(performance=perf), CFG)
    assert d.trigger == "performance"
    assert "cost_per_1k" in d.reason and "(+1 more)" in d.reason
    assert d.signals["performance"]["violations"] == ["max_cost_per_1k", "min_recall"]


def test_missing_performance_metric_is_no_signal():
    d = decide(_inputs(performance={"recall": None, "roc_auc": 0.9}), CFG)
    assert d.trigger == "none"
    assert set(d.signals["performance"]["unavailable"]) == {"recall", "cost_per_1k"}


def test_age_boundary_is_strict():
    assert decide(_inputs(model_age_days=28), CFG).trigger == "none"
    assert decide(_inputs(model_age_days=29), CFG).trigger == "age"


def test_decision_is_json_serialisable_with_all_signals():
    d = decide(_inputs(force=True, score_ks=float("nan")), CFG)
    payload = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert payload["trigger"] == "force"
    signals = payload["signals"]
    assert signals["score_ks"] is None
    assert signals["worst_psi"]["feature"] == "amount"
    assert signals["performance"]["evaluated"] is True
    assert signals["model_age_days"] == 7
