"""The same backfill once more on the CeleryExecutor: Redis broker, PostgreSQL result backend, two workers.

Its first two weeks (a first deployment and a skip), to keep the suite within its time budget.

Each worker has its own AIRFLOW_HOME, working directory and TMPDIR and its own host name, so a task
that read a local file written by a task on the other worker would fail. The assertions are on the
bundle's outcome (same decisions and registry history as the LocalExecutor run), not on how Celery
spread the tasks.
"""

from __future__ import annotations

import pytest
from retrain import registry
from retrain.airflow.celery_worker import PRELOADED_MODULES
from retrain.keys import version_id

from .airflow_stack import parse_time, tail
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

    # Where Celery put each task is Celery's business; what the bundle promises is that the runs end
    # the same wherever their tasks ran. Print the placement so a reader can see the handoffs.
    retrain_run = story.runs[0]["dag_run_id"]
    placement = {t: ti["hostname"] for t, ti in story.tis[retrain_run].items() if ti["state"] in RAN}
    print(f"task placement in {retrain_run}: {placement}")

    slots, _ = registry.read_slots(story.store, keys)
    assert slots.champion.week == BACKFILL_WEEKS[0].isoformat()


def test_each_worker_preloaded_the_task_libraries_before_its_pool_forked(celery_stack):
    """`[celery] celery_config_options` as docker-compose.yaml sets it: every worker's log names the
    preload (retrain.airflow.celery_worker), which runs before Celery starts the pool."""
    for worker in celery_stack.worker_names:
        log = (celery_stack.home / "components" / f"{worker}.log").read_text(errors="replace")
        preloaded = log.find(f"retrain: preloaded {len(PRELOADED_MODULES)} libraries for the task processes")
        assert preloaded >= 0, tail(celery_stack.home / "components" / f"{worker}.log", 80)
        assert preloaded < log.find(" ready."), "the preload runs before the worker takes tasks"
