"""Pure parts of the run's story: the gate-failure rate, the alert's state machine, the run note
and the weekly summary's metric comparison."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from retrain.airflow.notes import run_note
from retrain.errors import ConfigError
from retrain.monitoring.gate_rate import MonitoringConfig, gate_failure_rate, next_alert_state, upsert_run
from retrain.pipeline.summary import build_summary, champion_metric, pick_run


def runs(*verdicts: str) -> list[dict]:
    return [{"run_id": f"r{i:02d}", "week": f"2026-01-{i + 1:02d}", "outcome": v} for i, v in enumerate(verdicts)]


def test_only_runs_that_reached_the_gate_count_and_only_a_full_window_is_judged():
    rate = gate_failure_rate(runs("gate_rejected", "skipped", "validation_failed", "promoted"), 3, 0.2)
    assert (rate.runs, rate.rejected, rate.judged, rate.exceeded) == (2, 1, False, False)
    rate = gate_failure_rate(runs("gate_rejected", "promoted", "rolled_back", "superseded"), 3, 0.2)
    assert (rate.runs, rate.rejected, rate.exceeded) == (3, 0, False)  # the newest 3 only
    rate = gate_failure_rate(runs("promoted", "gate_rejected", "promoted"), 3, 0.2)
    assert rate.exceeded and rate.rate == pytest.approx(1 / 3)


def test_a_rerun_replaces_its_own_entry():
    window = upsert_run([], {"run_id": "a", "week": "2026-01-05", "outcome": "gate_rejected", "reason": "x"})
    window = upsert_run(window, {"run_id": "a", "week": "2026-01-05", "outcome": "promoted"})
    assert [e["outcome"] for e in window] == ["promoted"]
    assert upsert_run(window, {"run_id": "a", "week": "2026-01-05", "outcome": "validation_failed"}) == []


def test_the_alert_fires_on_the_crossing_then_waits_until_rearmed():
    over = gate_failure_rate(runs("gate_rejected", "gate_rejected"), 2, 0.2)
    under = gate_failure_rate(runs("promoted", "promoted"), 2, 0.2)
    state, send = next_alert_state({"status": "ok"}, over)
    assert send and state["status"] == "sending"
    assert next_alert_state({"status": "sent"}, over) == ({"status": "sent"}, False)
    assert next_alert_state({"status": "failed", "attempts": 1}, over) == ({"status": "sending", "attempts": 2}, True)
    assert next_alert_state({"status": "sent"}, under) == ({"status": "ok", "rearmed": True}, False)


@pytest.mark.parametrize("raw", [{"gate_failure_window": 0}, {"gate_failure_max_rate": 1.5}, {"typo": 1}])
def test_bad_monitoring_settings_fail_loudly(raw):
    with pytest.raises(ConfigError):
        MonitoringConfig.from_model(SimpleNamespace(name="fraud", monitoring=raw))


def test_run_note_names_the_data_week_outcome_champion_and_reason():
    note = run_note({"week": "2026-01-19", "outcome": "gate_rejected", "champion_after": "2026-W03-1a2b3c4d",
                     "reason": "gate rejected the challenger:\n recall 0.41 < 0.6", "trigger": "drift"},
                    "Europe/Berlin")
    assert note.splitlines()[0] == ("**Data week 2026-01-19** (Monday 00:00 Europe/Berlin) · **gate_rejected** · "
                                    "champion `2026-W03-1a2b3c4d`")
    assert "gate rejected the challenger: recall 0.41 < 0.6" in note  # one line


def test_metric_vs_last_week_respects_the_metric_direction():
    last = {"outcome": "promoted", "gate": {"challenger": {"rmspe": 0.20}}}
    this = {"outcome": "skipped", "week": "2026-01-12", "decision_signals": {"performance": {"metrics": {"rmspe": 0.18}}}}
    assert champion_metric(this, "rmspe") == 0.18
    rows = dict(build_summary("rossmann", "rmspe", True, this, last, None).rows)
    assert rows["rmspe vs last week"] == "0.1800 vs 0.2000 last week (-0.0200, better; lower is better)"
    assert pick_run([{"run_id": "b", "ok": False}, {"run_id": "a", "ok": True}])["run_id"] == "a"
