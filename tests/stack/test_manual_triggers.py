"""Manual triggers through REST API v2 on the PostgreSQL + LocalExecutor stack, as on-call would use them.

* `retrain_fraud` with conf {"force": true} for a week whose triggers say "skip" retrains and promotes.
* `rollback_fraud` with {"reason", "dry_run": true} changes nothing; with {"reason"} it restores the
  previous champion and audits who and why; with a `to_version` that does not exist it fails and
  leaves the champion untouched.

The tests build on each other in file order (force -> dry run -> rollback -> refused rollback).
"""

from __future__ import annotations

import pytest
from retrain import registry
from retrain.keys import version_id

from .conftest import (
    FORCE_WEEK,
    RETRAIN_DAG,
    ROLLBACK_DAG,
    RUN_TIMEOUT,
    registry_objects,
    registry_problems,
    store_for,
    week_interval,
    week_start_utc,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow]

REASON = "on-call test"
UNKNOWN_VERSION = "2026-W01-0badc0de"


def would_decide_without_force(signals: dict, cfg) -> tuple[bool, str]:
    """Re-run the pure trigger decision on the signals a forced run recorded, with force=False."""
    from retrain.core.drift import DriftReport
    from retrain.core.triggers import TriggerInputs, decide

    decision = decide(
        TriggerInputs(
            champion_present=signals["champion_present"],
            force=False,
            batch_readable=signals["batch_readable"],
            schema_problems=list(signals["schema_problems"]),
            drift=DriftReport.from_dict(signals["drift"]) if signals["drift"] else None,
            score_ks=signals["score_ks"],
            performance=signals["performance"]["metrics"],
            model_age_days=signals["model_age_days"],
            batch_rows=signals["batch_rows"],
        ),
        cfg.triggers,
    )
    return decision.retrain, decision.trigger


@pytest.fixture
def store(local_stack):
    return store_for(local_stack)


def run_rollback(stack, conf: dict) -> tuple[dict, dict]:
    run = stack.trigger(ROLLBACK_DAG, logical_date=None, conf=conf)
    done = stack.wait_for_run(ROLLBACK_DAG, run["dag_run_id"], timeout=RUN_TIMEOUT)
    return done, stack.task_instances(ROLLBACK_DAG, run["dag_run_id"])


def test_force_retrains_a_week_whose_triggers_would_skip(local_stack, clear_story, store, cfg, keys):
    before, _ = registry.read_slots(store, keys)
    run = local_stack.trigger(RETRAIN_DAG, logical_date=week_start_utc(FORCE_WEEK, cfg),
                              data_interval=week_interval(FORCE_WEEK, cfg), conf={"force": True})
    assert run["conf"] == {"force": True} and run["run_type"] == "manual"
    done = local_stack.wait_for_run(RETRAIN_DAG, run["dag_run_id"], timeout=RUN_TIMEOUT)
    tis = local_stack.task_instances(RETRAIN_DAG, run["dag_run_id"])
    assert done["state"] == "success", local_stack.diagnostics("forced run", RETRAIN_DAG, run["dag_run_id"])

    decision = store.get_json(keys.run_artifact(FORCE_WEEK, run["dag_run_id"], "decision.json"))
    assert decision["week"] == FORCE_WEEK.isoformat()
    assert decision["trigger"] == "force" and decision["retrain"] is True
    assert decision["champion"] == before.champion.version
    # every signal was computed and recorded: without force they say "skip"
    assert decision["signals"]["drift"] is not None and decision["signals"]["schema_problems"] == []
    assert would_decide_without_force(decision["signals"], cfg) == (False, "none")

    assert tis["skip"]["state"] == "skipped" and tis["train"]["state"] == "success"
    outcome = store.get_json(keys.run_artifact(FORCE_WEEK, run["dag_run_id"], "outcome.json"))
    assert outcome["outcome"] == "promoted" and outcome["trigger"] == "force"
    slots, _ = registry.read_slots(store, keys)
    assert slots.champion.version == version_id(FORCE_WEEK, run["dag_run_id"])
    assert slots.previous == before.champion


def test_rollback_dry_run_changes_nothing(local_stack, store, keys):
    objects = registry_objects(store, keys)
    slots, _ = registry.read_slots(store, keys)
    assert slots.previous is not None, "the forced run left a previous champion to roll back to"

    done, tis = run_rollback(local_stack, {"reason": REASON, "dry_run": True})
    assert done["state"] == "success"
    assert tis["rollback"]["state"] == "success" and tis["smoke_test"]["state"] == "skipped"
    assert registry_objects(store, keys) == objects, "a dry run writes nothing (slots, audit, versions)"


def test_rollback_restores_the_previous_champion_and_audits_the_reason(local_stack, store, keys):
    before, _ = registry.read_slots(store, keys)
    history_before = registry.history(store, keys)

    done, tis = run_rollback(local_stack, {"reason": REASON})
    assert done["state"] == "success", local_stack.diagnostics("rollback", ROLLBACK_DAG, done["dag_run_id"])
    assert tis["rollback"]["state"] == "success" and tis["smoke_test"]["state"] == "success"

    slots, _ = registry.read_slots(store, keys)
    assert slots.champion == before.previous and slots.previous == before.champion
    assert slots.generation == before.generation + 1

    history = registry.history(store, keys)
    assert history[: len(history_before)] == history_before
    rollbacks = [e for e in history if e["action"] == "rollback"]
    assert len(rollbacks) == 1 and history[len(history_before):] == rollbacks
    entry = rollbacks[0]
    assert entry["outcome"] == "applied" and entry["reason"] == REASON
    assert (entry["from_version"], entry["to_version"]) == (before.champion.version, before.previous.version)
    assert entry["run_id"] == done["dag_run_id"] and entry["actor"]["type"] == "manual_rollback"
    assert registry_problems(store, keys) == []


def test_rollback_to_a_version_that_does_not_exist_fails_and_leaves_the_champion(local_stack, store, keys):
    before, etag = registry.read_slots(store, keys)
    history_before = registry.history(store, keys)

    done, tis = run_rollback(local_stack, {"reason": REASON, "to_version": UNKNOWN_VERSION})
    assert done["state"] == "failed"
    assert tis["rollback"]["state"] == "failed" and tis["rollback"]["try_number"] == 1, "a refusal is not retried"
    assert tis["smoke_test"]["state"] == "upstream_failed"
    log = local_stack.task_log(ROLLBACK_DAG, done["dag_run_id"], "rollback", 1)
    assert UNKNOWN_VERSION in log and "not published" in log

    after, etag_after = registry.read_slots(store, keys)
    assert etag_after == etag and after == before, "the champion is untouched"
    new = registry.history(store, keys)[len(history_before):]
    assert all(e["outcome"] == "refused" for e in new), new
    assert registry_problems(store, keys) == []
