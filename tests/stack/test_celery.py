"""The same backfill once more on the CeleryExecutor: Redis broker, PostgreSQL result backend, two workers.

Its first two weeks (a first deployment and a skip), to keep the suite within its time budget.

Each worker has its own AIRFLOW_HOME, working directory and TMPDIR and its own host name, so a task
that read a local file written by a task on the other worker would fail: the runs succeeding with
their tasks spread over both workers shows that the bundle shares nothing but S3 and the metadata DB.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from retrain import registry
from retrain.keys import version_id

from .airflow_stack import parse_time
from .conftest import (
    BACKFILL_WEEKS,
    EXPECTED_BACKFILL,
    RETRAIN_DAG,
    registry_problems,
    run_backfill_story,
    run_week,
    week_label,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow]

RAN = {"success", "failed"}
WEEKS = BACKFILL_WEEKS[:2]


def worker_of_log(stack, path: Path) -> str:
    return path.relative_to(stack.home).parts[0]


def test_backfill_on_celery_spreads_tasks_over_two_workers(celery_stack, stacks, cfg, keys):
    stack = celery_stack
    story = run_backfill_story(stack, cfg, keys, WEEKS)

    assert [run_week(r, cfg) for r in story.runs] == WEEKS
    assert [r["state"] for r in story.runs] == ["success"] * len(WEEKS), \
        stack.diagnostics("celery backfill", RETRAIN_DAG)
    for earlier, later in zip(story.runs, story.runs[1:], strict=False):
        assert parse_time(earlier["end_date"]) <= parse_time(later["start_date"]), "one run at a time"
    assert [(o["trigger"], o["outcome"]) for o in story.outcomes] == EXPECTED_BACKFILL[: len(WEEKS)]
    assert registry_problems(story.store, keys) == []
    local = stacks.results.get("local_backfill")
    if local is not None:  # the LocalExecutor stack ran the same weeks (and one more) earlier
        mine = story.summary()
        assert mine["runs"] == local["runs"][: len(WEEKS)], "same weeks, same decisions, any executor"
        labels = {week_label(version_id(w, "x")) for w in WEEKS}
        assert mine["history"] == [e for e in local["history"] if e[3] in labels], "same registry history"

    ran = [(run_id, ti) for run_id, tis in story.tis.items() for ti in tis.values() if ti["state"] in RAN]
    assert {ti["executor"] or "CeleryExecutor" for _, ti in ran} <= {"CeleryExecutor"}
    hosts = {ti["hostname"] for _, ti in ran}
    assert hosts == set(stack.worker_names), f"tasks ran on {hosts}, expected both workers {stack.worker_names}"
    pids = {(ti["hostname"], ti["pid"]) for _, ti in ran}
    assert len(pids) == len(ran), "every task ran in its own process"

    # Each task's log lies in the private home of the worker the API says ran it.
    logs = {}
    for path in stack.task_log_files():
        parts = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in path.parts if "=" in p}
        logs[(parts.get("run_id"), parts.get("task_id"))] = worker_of_log(stack, path)
    for run_id, ti in ran:
        assert logs.get((run_id, ti["task_id"])) == ti["hostname"], (run_id, ti["task_id"], ti["hostname"])

    # Tasks hand over through S3 and XCom only: in the retraining run, consecutive steps that read
    # what the step before wrote ran on different workers at least once.
    retrain_run = story.runs[0]["dag_run_id"]
    tis = story.tis[retrain_run]
    chain = ["evaluate_triggers", "branch_on_decision", "validate_data", "build_features", "train",
             "evaluation_gate", "promote", "smoke_test", "record_outcome"]
    handoffs = [(a, b) for a, b in zip(chain, chain[1:], strict=False) if tis[a]["hostname"] != tis[b]["hostname"]]
    print(f"cross-worker handoffs in {retrain_run}: {handoffs}")
    assert handoffs, f"all steps of {retrain_run} ran on one worker: {[(t, tis[t]['hostname']) for t in chain]}"

    slots, _ = registry.read_slots(story.store, keys)
    assert slots.champion.week == BACKFILL_WEEKS[0].isoformat()
