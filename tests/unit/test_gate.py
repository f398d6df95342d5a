"""Gate rules: absolute thresholds always, regression only vs a champion, fail closed."""

from __future__ import annotations

import json

import pytest
from retrain.config import GateConfig
from retrain.gate import evaluate_gate

FRAUD = GateConfig(minimums={"recall": 0.60, "roc_auc": 0.80}, max_relative_regression={"roc_auc": 0.05})
CHALLENGER = {"recall": 0.72, "roc_auc": 0.91, "cost_per_1k": 9000.0}


def _failed(decision) -> list[tuple[str, str]]:
    return [(c["rule"], c["metric"]) for c in decision.checks if not c["passed"]]


def test_first_deployment_checks_minimums_only():
    d = evaluate_gate(CHALLENGER, None, FRAUD)
    assert d.passed and d.first_deployment and d.reasons == []
    assert {c["rule"] for c in d.checks} == {"minimum"}
    assert "first deployment" in d.summary()


def test_good_challenger_beats_weak_champion():
    d = evaluate_gate(CHALLENGER, {"recall": 0.65, "roc_auc": 0.85}, FRAUD)
    assert d.passed and not d.first_deployment
    reg = next(c for c in d.checks if c["rule"] == "relative_regression")
    assert reg["value"] < 0  # improvement
    assert reg["passed"]


def test_small_regression_within_allowance_passes():
    d = evaluate_gate(CHALLENGER, {"recall": 0.7, "roc_auc": 0.93}, FRAUD)  # 2.2% worse, 5% allowed
    assert d.passed


def test_regression_beyond_allowance_fails():
    d = evaluate_gate(CHALLENGER, {"recall": 0.7, "roc_auc": 0.99}, FRAUD)  # 8.1% worse
    assert not d.passed
    assert _failed(d) == [("relative_regression", "roc_auc")]
    reg = d.checks[-1]
    assert reg["value"] == pytest.approx((0.99 - 0.91) / 0.99)
    assert "roc_auc" in d.reasons[0] and "allowed 5.00%" in d.reasons[0]


def test_failing_minimum_fails_even_on_first_deployment():
    d = evaluate_gate({"recall": 0.55, "roc_auc": 0.91}, None, FRAUD)
    assert not d.passed and d.first_deployment
    assert _failed(d) == [("minimum", "recall")]
    assert d.reasons == ["recall=0.55 < minimum 0.6"]


def test_boundary_values_pass():
    d = evaluate_gate({"recall": 0.60, "roc_auc": 0.80}, None, FRAUD)
    assert d.passed


def test_lower_is_better_rmspe_regression_and_maximum():
    cfg = GateConfig(maximums={"rmspe": 0.20}, max_relative_regression={"rmspe": 0.10})
    ok = evaluate_gate({"rmspe": 0.150}, {"rmspe": 0.140}, cfg)  # 7.1% worse
    assert ok.passed
    bad = evaluate_gate({"rmspe": 0.160}, {"rmspe": 0.140}, cfg)  # 14.3% worse
    assert _failed(bad) == [("relative_regression", "rmspe")]
    assert bad.checks[-1]["value"] == pytest.approx((0.160 - 0.140) / 0.140)
    better = evaluate_gate({"rmspe": 0.10}, {"rmspe": 0.14}, cfg)
    assert better.passed and better.checks[-1]["value"] < 0
    over_max = evaluate_gate({"rmspe": 0.25}, None, cfg)
    assert _failed(over_max) == [("maximum", "rmspe")]


@pytest.mark.parametrize("bad_value", [None, float("nan"), "n/a", "missing"])
def test_missing_or_invalid_metric_fails_closed(bad_value):
    challenger = {"roc_auc": 0.91}
    if bad_value != "missing":
        challenger["recall"] = bad_value
    d = evaluate_gate(challenger, None, FRAUD)
    assert not d.passed
    assert _failed(d) == [("minimum", "recall")]
    assert "recall is missing or not a finite number" in d.reasons[0]


def test_missing_champion_metric_fails_regression_closed():
    d = evaluate_gate(CHALLENGER, {"recall": 0.7}, FRAUD)
    assert _failed(d) == [("relative_regression", "roc_auc")]
    assert "champion" in d.reasons[0]


def test_unknown_metric_in_regression_rule_fails_with_reason():
    cfg = GateConfig(minimums={"recall": 0.5}, max_relative_regression={"accuracy": 0.05})
    d = evaluate_gate({"recall": 0.7, "accuracy": 0.9}, {"recall": 0.7, "accuracy": 0.9}, cfg)
    assert _failed(d) == [("relative_regression", "accuracy")]
    assert "unknown metric 'accuracy'" in d.reasons[0]


def test_every_failure_is_listed():
    cfg = GateConfig(
        minimums={"recall": 0.60, "roc_auc": 0.80},
        maximums={"cost_per_1k": 15000.0},
        max_relative_regression={"roc_auc": 0.05, "recall": 0.05},
    )
    d = evaluate_gate(
        {"recall": 0.40, "roc_auc": 0.70, "cost_per_1k": 20000.0},
        {"recall": 0.70, "roc_auc": 0.90},
        cfg,
    )
    assert not d.passed
    assert len(d.reasons) == 5
    assert set(_failed(d)) == {
        ("minimum", "recall"),
        ("minimum", "roc_auc"),
        ("maximum", "cost_per_1k"),
        ("relative_regression", "roc_auc"),
        ("relative_regression", "recall"),
    }
    assert d.summary().startswith("gate rejected: ")


def test_no_thresholds_raises():
    with pytest.raises(ValueError):
        evaluate_gate(CHALLENGER, None, GateConfig())


def test_regression_only_config_on_first_deployment_fails_closed():
    d = evaluate_gate(CHALLENGER, None, GateConfig(max_relative_regression={"roc_auc": 0.05}))
    assert not d.passed and d.checks == [] and d.reasons


def test_zero_champion_value_any_worsening_fails():
    cfg = GateConfig(minimums={"recall": 0.0}, max_relative_regression={"cost_per_1k": 0.05})
    d = evaluate_gate({"recall": 0.7, "cost_per_1k": 10.0}, {"recall": 0.7, "cost_per_1k": 0.0}, cfg)
    assert _failed(d) == [("relative_regression", "cost_per_1k")]
    json.dumps(d.to_dict(), allow_nan=False)  # inf regression is serialised as null


def test_to_dict_is_json():
    d = evaluate_gate(CHALLENGER, {"recall": 0.65, "roc_auc": 0.85}, FRAUD)
    payload = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert payload["passed"] is True
    assert payload["thresholds"]["minimums"] == {"recall": 0.60, "roc_auc": 0.80}
    assert payload["champion"] == {"recall": 0.65, "roc_auc": 0.85}
    assert {"rule", "metric", "value", "threshold", "passed", "message"} <= set(payload["checks"][0])


def test_champion_trained_on_the_holdout_is_not_a_regression_baseline():
    """A replay of an earlier data version: the champion has seen this holdout (in-sample)."""
    cfg = GateConfig(minimums={"roc_auc": 0.8}, max_relative_regression={"roc_auc": 0.05})
    challenger, champion = {"roc_auc": 0.85}, {"roc_auc": 0.99}
    assert not evaluate_gate(challenger, champion, cfg).passed
    decision = evaluate_gate(challenger, champion, cfg, champion_in_sample=True)
    assert decision.passed and not decision.first_deployment
    rel = [c for c in decision.checks if c["rule"] == "relative_regression"]
    assert rel and all(c["applicable"] is False for c in rel)
    # the absolute floors still apply
    assert not evaluate_gate({"roc_auc": 0.7}, champion, cfg, champion_in_sample=True).passed
