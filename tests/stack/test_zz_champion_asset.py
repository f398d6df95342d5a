"""The champion asset with the real scheduler (PostgreSQL + LocalExecutor, REST API v2): an on-call
rollback emits one `fraud_champion` event and the scheduler starts exactly one `score_fraud` run
(run_type asset_triggered) that scores with the restored version; a no-op rollback afterwards
emits nothing and starts nothing.

Runs after the other local-stack modules (file name), on the registry they left: it only needs
a champion and a previous version.
"""

from __future__ import annotations

import time

import pytest
from retrain import registry

from .conftest import RETRAIN_DAG, ROLLBACK_DAG, RUN_TIMEOUT, store_for

pytestmark = [pytest.mark.stack, pytest.mark.slow]

SCORE_DAG = "score_fraud"


def asset_runs(stack) -> list[dict]:
    return [r for r in stack.dag_runs(SCORE_DAG) if r["run_type"] == "asset_triggered"]


def champion_events(stack) -> list[dict]:
    data = stack.get("/api/v2/assets/events", limit=100, order_by="timestamp")
    return [e for e in data["asset_events"] if e.get("extra", {}).get("version")
            and e.get("source_dag_id") == ROLLBACK_DAG]


def test_an_on_call_rollback_starts_one_scoring_run_with_the_restored_version(local_stack, keys):
    store = store_for(local_stack)
    slots, _ = registry.read_slots(store, keys)
    assert slots is not None and slots.previous is not None, "needs two promoted versions"
    target = slots.previous.version
    # The stack's scheduler starts with use_job_schedule off (the other modules want only the runs
    # they ask for); Airflow then creates no asset-triggered run either. Pause the weekly DAG (it would
    # get its latest scheduled week) and run the scheduler as production does.
    assert local_stack.set_paused(RETRAIN_DAG, True)["is_paused"] is True
    local_stack.restart_scheduler(AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True")
    local_stack.unpause(SCORE_DAG)
    runs_before, events_before = len(asset_runs(local_stack)), len(champion_events(local_stack))

    run = local_stack.trigger(ROLLBACK_DAG, conf={"reason": "stack: champion asset", "to_version": target})
    done = local_stack.wait_for_run(ROLLBACK_DAG, run["dag_run_id"], timeout=RUN_TIMEOUT)
    assert done["state"] == "success", local_stack.diagnostics("rollback", ROLLBACK_DAG, run["dag_run_id"])
    events = champion_events(local_stack)[events_before:]
    assert [(e["extra"]["action"], e["extra"]["version"]) for e in events] == [("rollback", target)]

    deadline = time.monotonic() + RUN_TIMEOUT
    while len(asset_runs(local_stack)) == runs_before and time.monotonic() < deadline:
        time.sleep(2)
    new = asset_runs(local_stack)[runs_before:]
    assert len(new) == 1
    scored = local_stack.wait_for_run(SCORE_DAG, new[0]["dag_run_id"], timeout=RUN_TIMEOUT)
    assert scored["state"] == "success", local_stack.diagnostics("scoring", SCORE_DAG, new[0]["dag_run_id"])
    prefix = f"predictions/{keys.model}/"
    manifests = [store.get_json(k) for k in store.list_keys(prefix) if k.endswith("/manifest.json")]
    assert any(m["version"] == target and m["run_id"] == new[0]["dag_run_id"] for m in manifests)

    # the same rollback again is a no-op: no event, no scoring run
    again = local_stack.trigger(ROLLBACK_DAG, conf={"reason": "stack: again", "to_version": target})
    assert local_stack.wait_for_run(ROLLBACK_DAG, again["dag_run_id"], timeout=RUN_TIMEOUT)["state"] == "success"
    time.sleep(15)  # several scheduler loops
    assert len(champion_events(local_stack)) == events_before + 1
    assert len(asset_runs(local_stack)) == runs_before + 1
