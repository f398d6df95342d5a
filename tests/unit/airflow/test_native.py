"""Pure parts of the Airflow-native features: champion event extra, prediction keys, approval
body and decision, the "not approved" outcome, the deadline interval and the new config fields."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from retrain.airflow.approval import approval_body, decision_record
from retrain.airflow.assets import champion_event
from retrain.airflow.deadline import deadline_after
from retrain.config import DEFAULT_MODELS_DIR, parse_model_config
from retrain.core.outcome import summarise
from retrain.errors import ConfigError
from retrain.keys import Keys
from retrain.registry import Slot, Slots

V1, V2 = "2026-W02-aaaaaaaa", "2026-W03-bbbbbbbb"


def _fraud(**overrides) -> dict:
    raw = yaml.safe_load((DEFAULT_MODELS_DIR / "fraud.yaml").read_text())
    for key, value in overrides.items():
        raw[key] = {**(raw.get(key) or {}), **value}
    return raw


def test_champion_event_extra_comes_from_the_slots_the_change_wrote():
    slots = Slots("fraud", champion=Slot(V2, "2026-01-12", "r2"), previous=Slot(V1, "2026-01-05", "r1"),
                  generation=4, updated_by={"action": "rollback", "reason": "alerts doubled", "run_id": "man_1",
                                            "event": "g000004-rollback"})
    assert champion_event(slots) == {
        "action": "rollback", "version": V2, "week": "2026-01-12", "generation": 4, "previous": V1,
        "reason": "alerts doubled", "run_id": "man_1", "registry_event": "g000004-rollback"}


def test_prediction_keys_derive_from_week_and_version():
    keys = Keys("fraud", "env")
    assert keys.predictions(dt.date(2026, 1, 7), V1, "manifest.json") == \
        f"env/predictions/fraud/week=2026-01-05/version={V1}/manifest.json"
    with pytest.raises(ValueError):
        keys.predictions(dt.date(2026, 1, 7), "latest", "manifest.json")


def test_approval_body_shows_both_models_and_every_reason():
    gate = {"challenger_version": V2, "champion_version": V1, "holdout_rows": 500, "week": "2026-01-12",
            "passed": True, "first_deployment": False, "reasons": ["roc_auc within 5% of the champion"],
            "challenger": {"roc_auc": 0.91, "recall": 0.7}, "champion": {"roc_auc": 0.9, "recall": 0.72}}
    body = approval_body(gate)
    assert f"`{V2}` vs **champion** `{V1}`" in body
    assert "| roc_auc | 0.9100 | 0.9000 |" in body and "| recall | 0.7000 | 0.7200 |" in body
    assert "- roc_auc within 5% of the champion" in body and "**passed**" in body


def test_approval_decisions_approve_reject_and_timeout():
    at = dt.datetime(2026, 1, 12, 7, tzinfo=dt.UTC)
    ok = decision_record({"chosen_options": ["Approve"], "responded_by_user": {"id": "1", "name": "ana"},
                          "responded_at": at}, 24)
    assert ok["decision"] == "approved" and "reason" not in ok and ok["at"] == at.isoformat()
    no = decision_record({"chosen_options": ["Reject"], "responded_by_user": {"id": "2", "name": "bo"},
                          "responded_at": at}, 24)
    assert no["decision"] == "rejected" and no["reason"] == "rejected by bo" and not no["timed_out"]
    late = decision_record({"chosen_options": ["Reject"], "responded_by_user": None, "responded_at": at,
                            "timedout": True}, 24)
    assert late["timed_out"] and late["reason"] == "no answer within 24 h (counts as rejected)"


def test_a_rejected_approval_is_the_outcome_not_approved():
    states = {"evaluate_triggers": "success", "skip": "skipped", "validate_data": "success",
              "build_features": "success", "train": "success", "evaluation_gate": "success",
              "approve_promotion": "success", "promote": "skipped", "smoke_test": "skipped", "rollback": "skipped"}
    records = {"approval": {"decision": "rejected", "reason": "rejected by bo"}, "gate": {"passed": True}}
    out = summarise(states, records, V2)
    assert (out["outcome"], out["ok"]) == ("not_approved", False)
    assert out["reason"] == "not approved: rejected by bo; champion unchanged"
    # without the approval record the same states are not explained
    assert summarise(states, {"gate": {"passed": True}}, V2)["outcome"] == "incomplete"


@pytest.mark.parametrize(("scheduled", "local_time", "expected"), [
    ("2026-06-01T00:00:00+00:00", "06:00", "2026-06-01T04:00:00+00:00"),  # Mon 02:00 CEST -> 06:00 CEST
    ("2026-01-05T01:00:00+00:00", "06:00", "2026-01-05T05:00:00+00:00"),  # Mon 02:00 CET -> 06:00 CET
    ("2026-03-30T00:00:00+00:00", "06:00", "2026-03-30T04:00:00+00:00"),  # the Monday after DST began
    ("2026-10-26T01:00:00+00:00", "06:00", "2026-10-26T05:00:00+00:00"),  # the Monday after DST ended
    ("2026-06-01T21:30:00+00:00", "06:00", "2026-06-02T04:00:00+00:00"),  # 23:30 local: the next morning
    ("2026-06-01T04:00:00+00:00", "06:00", "2026-06-02T04:00:00+00:00"),  # at 06:00: a day later, never 0 h
])
def test_the_deadline_is_the_first_local_time_after_the_scheduled_run(scheduled, local_time, expected):
    due = deadline_after(dt.datetime.fromisoformat(scheduled), local_time, "Europe/Berlin")
    assert due == dt.datetime.fromisoformat(expected)


def test_new_config_fields_default_and_validate():
    path = Path("fraud.yaml")
    cfg = parse_model_config(_fraud(), path)
    assert (cfg.promotion.approval, cfg.promotion.approval_timeout_hours) == ("none", 24.0)
    assert cfg.schedule.deadline == "06:00"
    assert parse_model_config(_fraud(promotion={"approval": "required"}), path).promotion.approval == "required"
    assert parse_model_config(_fraud(schedule={"deadline": None}), path).schedule.deadline is None
    with pytest.raises(ConfigError, match="promotion.approval: Input should be 'none' or 'required'"):
        parse_model_config(_fraud(promotion={"approval": "maybe"}), path)
    with pytest.raises(ConfigError, match="promotion.approval_timeout_hours: Input should be greater than 0"):
        parse_model_config(_fraud(promotion={"approval_timeout_hours": 0}), path)
    with pytest.raises(ConfigError, match=r"schedule: deadline must be HH:MM .*quote it"):
        parse_model_config(_fraud(schedule={"deadline": 360}), path)  # YAML reads unquoted 06:00 as 360


def test_only_pointer_moves_are_announced_and_a_lost_announcement_is_repaired_once():
    from retrain.pipeline.run import champion_event as event_for
    from retrain.registry import PromotionResult, RollbackResult

    mine = Slots("fraud", champion=Slot(V2, "2026-01-12", "run_2"), previous=Slot(V1, "2026-01-05", "run_1"),
                 generation=2, updated_by={"action": "promote", "run_id": "run_2", "reason": "passed"})
    assert event_for(PromotionResult("promoted", mine, "ok", V2))["version"] == V2
    assert event_for(RollbackResult("rolled_back", mine, "ok"))["generation"] == 2
    for status in ("already_promoted", "superseded"):
        assert event_for(PromotionResult(status, mine, "no-op", V2)) is None  # cleared re-run: silent
    for status in ("already_rolled_back", "skipped", "dry_run"):
        assert event_for(RollbackResult(status, mine, "no-op")) is None
    # a retry after a try that moved the pointer but died before recording promotion.json
    assert event_for(PromotionResult("already_promoted", mine, "no-op", V2), "run_2")["version"] == V2
    assert event_for(PromotionResult("already_promoted", mine, "no-op", V2), "run_9") is None
    assert event_for(PromotionResult("superseded", mine, "no-op", V2), "run_2") is None
