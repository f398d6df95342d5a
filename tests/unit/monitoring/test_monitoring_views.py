"""Pure views and rendering of the monitoring page, on a hand-made index of five runs."""

from __future__ import annotations

import datetime as dt

from retrain.monitoring import views
from retrain.monitoring.index import index_entry, merge
from retrain.monitoring.render import render_page

V1, V5, V8 = "2026-W02-aaaaaaaa", "2026-W06-bbbbbbbb", "2026-W09-cccccccc"


def _run(n: int, outcome: str, trigger: str, gate: dict | None = None, validation: dict | None = None) -> dict:
    week = (dt.date(2026, 1, 5) + dt.timedelta(weeks=n - 1)).isoformat()
    rec = {"run_id": f"scheduled__w{n}", "dag_id": "retrain_fraud", "week": week,
           "logical_date": f"{(dt.date.fromisoformat(week) + dt.timedelta(days=7)).isoformat()}T06:00:00+01:00",
           "outcome": outcome, "ok": outcome != "gate_rejected", "reason": "r", "trigger": trigger,
           "trigger_reason": f"why {n}", "challenger_version": f"v{n}", "champion_after": None}
    return index_entry(rec, {"gate": gate, "validation": validation})


def _event(gen: int, action: str, frm, to, run: str, reason: str = "weekly") -> dict:
    return {"event": f"{gen:08d}-0-{action}-{run}", "action": action, "outcome": "applied", "from_version": frm,
            "to_version": to, "reason": reason, "run_id": run, "at": "2026-12-02T04:00:00+00:00",
            "actor": {"type": "dag_run", "dag_id": "retrain_fraud", "run_id": run}}


def _index() -> dict:
    idx = {"runs": {}, "registry_events": {}}
    gate_ok = {"passed": True, "challenger": {"roc_auc": 0.95, "recall": 0.7, "cost_per_1k": 900.0}, "reasons": []}
    bad = {"severity": "critical", "success": False, "expectation_type": "expect_column_values_to_be_in_set",
           "column": "merchant", "unexpected_examples": ["<img src=x onerror=alert(1)>"]}
    for entry in [
        _run(1, "promoted", "first_deployment", gate_ok),
        _run(2, "skipped", "none"),
        _run(5, "promoted", "drift", {**gate_ok, "challenger": {"roc_auc": 0.96}}),
        _run(8, "gate_rejected", "performance", {"passed": False, "reasons": ["recall 0.1 < 0.6"]}),
        _run(9, "validation_failed", "age", None, {"passed": False, "results": [bad]}),
    ]:
        idx = merge(idx, entry, {})
    events = [_event(1, "promote", None, V1, "scheduled__w1"), _event(2, "promote", V1, V5, "scheduled__w5"),
              _event(3, "rollback", V5, V1, "manual__oncall", reason="bad scores")]
    return merge(idx, None, {e["event"]: e for e in events})


def test_trend_has_one_point_per_applied_promotion_with_its_trigger():
    t = views.trend(_index(), ("roc_auc",))
    assert [(p["version"], p["trigger"], p["metrics"]["roc_auc"]) for p in t["points"]] == [
        (V1, "first_deployment", 0.95), (V5, "drift", 0.96)]
    assert [(r["from_version"], r["to_version"], r["week"]) for r in t["rollbacks"]] == [(V5, V1, "2026-02-02")]


def test_gate_failure_rate_counts_only_runs_that_reached_the_gate():
    g = views.gate_failure_rate(_index(), window=20, limit=0.2)
    assert (g["runs"], g["rejected"], g["rate"], g["above_limit"]) == (3, 1, 1 / 3, True)
    assert g["recent_rejections"][0]["reasons"] == ["recall 0.1 < 0.6"]
    assert views.gate_failure_rate(_index(), window=1)["rate"] == 1.0  # only week 8 in the window


def test_in_production_on_a_date():
    idx = _index()
    assert views.in_production_on(idx, dt.date(2026, 1, 11)) is None
    assert views.in_production_on(idx, dt.date(2026, 1, 12))["version"] == V1
    assert views.in_production_on(idx, dt.date(2026, 2, 9))["version"] == V5
    # the on-call rollback has no weekly run: it takes effect at its wall-clock time
    assert views.in_production_on(idx, dt.date(2026, 12, 2))["version"] == V1


def test_re_run_replaces_its_own_entry():
    idx = merge(_index(), _run(8, "promoted", "performance", {"passed": True}), {})
    assert len(idx["runs"]) == 5 and idx["runs"]["scheduled__w8"]["outcome"] == "promoted"


def test_values_from_the_data_are_escaped():
    html = render_page("fraud", "binary_classifier", _index(), None)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    evil = merge(_index(), None, {"x": {**_event(4, "promote", V1, V8, "</script><script>alert(1)//"),
                                         "reason": "</script>"}})
    html = render_page("fraud", "binary_classifier", evil, None)
    assert html.count("<script") == 2  # the JSON data block and the date lookup, nothing from the data
