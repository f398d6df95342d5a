"""Backfill and clear-and-rerun on real Airflow components (PostgreSQL, LocalExecutor), through REST API v2.

* A backfill (`POST /api/v2/backfills`, max_active_runs=1) of W1-W3 runs the weeks in order, one at
  a time, all succeed, and the registry ends exactly as running the weeks one by one: each run
  decided against the champion the run before left, and the history is one promotion per
  promoted week.
* A W4 run fails for real on a batch without a required column (validate_data: no retries); the
  batch is fixed in the landing zone and validate_data + downstream are cleared through
  `clearTaskInstances`: the re-run succeeds and S3 ends as after a run that never failed.
"""

from __future__ import annotations

import pytest
from retrain import registry
from retrain.keys import version_id

from .airflow_stack import parse_time
from .conftest import BACKFILL_WEEKS, CLEAR_WEEK, EXPECTED_BACKFILL, registry_problems, run_week

pytestmark = [pytest.mark.stack, pytest.mark.slow]

PIPELINE_AFTER_VALIDATION = ["build_features", "evaluation_gate", "promote", "record_outcome", "rollback",
                             "smoke_test", "train", "validate_data"]


def test_backfill_runs_every_week_in_order_one_at_a_time(backfill_story, cfg):
    story = backfill_story
    assert story.backfill["dag_id"] == "retrain_fraud" and story.backfill["max_active_runs"] == 1
    assert [run_week(r, cfg) for r in story.runs] == BACKFILL_WEEKS, "one backfill run per data week"
    assert [r["state"] for r in story.runs] == ["success"] * len(BACKFILL_WEEKS), [
        (r["dag_run_id"], r["state"]) for r in story.runs]
    assert {r["run_type"] for r in story.runs} == {"backfill"}

    by_start = sorted(story.runs, key=lambda r: parse_time(r["start_date"]))
    assert [r["dag_run_id"] for r in by_start] == [r["dag_run_id"] for r in story.runs], "executed in week order"
    for earlier, later in zip(story.runs, story.runs[1:], strict=False):
        assert parse_time(earlier["end_date"]) <= parse_time(later["start_date"]), (
            f"{earlier['dag_run_id']} ended {earlier['end_date']} after {later['dag_run_id']} started "
            f"{later['start_date']}: runs overlapped")
        # the same at task level: every task of the later week started after the earlier week's last task
        done = [parse_time(ti["end_date"]) for ti in story.tis[earlier["dag_run_id"]].values() if ti["end_date"]]
        began = [parse_time(ti["start_date"]) for ti in story.tis[later["dag_run_id"]].values() if ti["start_date"]]
        assert max(done) <= min(began)


def test_backfill_registry_history_equals_running_the_weeks_one_by_one(backfill_story, cfg, keys):
    story = backfill_story
    assert [(o["trigger"], o["outcome"]) for o in story.outcomes] == EXPECTED_BACKFILL
    assert all(o["ok"] for o in story.outcomes)
    assert [o["week"] for o in story.outcomes] == [w.isoformat() for w in BACKFILL_WEEKS]

    # One by one: every run decided against exactly the champion the previous week's run left behind.
    champion = None
    expected_history = []
    for run, decision, outcome in zip(story.runs, story.decisions, story.outcomes, strict=True):
        assert decision["run_id"] == run["dag_run_id"]
        assert decision["champion"] == champion, f"week {outcome['week']} saw {decision['champion']}, not {champion}"
        if outcome["outcome"] == "promoted":
            assert outcome["challenger_version"] == version_id(run_week(run, cfg), run["dag_run_id"])
            expected_history.append(("promote", "applied", champion, outcome["challenger_version"]))
            champion = outcome["challenger_version"]
        assert outcome["champion_after"] == champion

    assert [(e["action"], e["outcome"], e["from_version"], e["to_version"]) for e in story.history] == \
        expected_history, "no refusals, one applied promotion per promoted week, in week order"
    assert all(e.get("recorded", True) for e in story.history)
    slots = story.slots
    assert slots.champion.version == champion and slots.generation == len(expected_history)
    assert slots.champion.week == BACKFILL_WEEKS[0].isoformat() and slots.previous is None
    promoted_run = story.runs[0]["dag_run_id"]
    assert slots.champion.run_id == promoted_run and slots.updated_by["actor"]["run_id"] == promoted_run
    assert registry_problems(story.store, keys) == []


def test_clear_and_rerun_after_a_bad_batch_ends_like_a_run_that_never_failed(clear_story, backfill_story, keys):
    story = clear_story
    store = backfill_story.store

    # 1. it failed for real, once, at validation, without retrying and without touching the registry
    assert story.failed_run["state"] == "failed"
    failed = story.failed_tis
    assert failed["evaluate_triggers"]["state"] == "success"
    assert failed["validate_data"]["state"] == "failed"
    assert failed["validate_data"]["try_number"] == 1, "bad data fails at once (AirflowFailException), no retries"
    assert failed["build_features"]["state"] == "upstream_failed"
    assert failed["record_outcome"]["state"] == "failed"
    assert story.failed_outcome["outcome"] == "validation_failed"
    assert story.failed_outcome["trigger"] == "invalid_input"
    assert "merchant_category" in story.failed_outcome["reason"]
    assert "merchant_category" in story.failure_log, "the task log (read through the API) names the problem"
    assert story.after_failure == story.before, "a failed validation leaves the registry untouched"

    # 2. the cleared tasks re-ran on the fixed batch and the run succeeded
    assert story.cleared == PIPELINE_AFTER_VALIDATION
    assert story.run["state"] == "success"
    assert story.tis["validate_data"]["state"] == "success" and story.tis["validate_data"]["try_number"] >= 2
    before, after = story.failed_tis["evaluate_triggers"], story.tis["evaluate_triggers"]
    assert (after["try_number"], after["end_date"]) == (before["try_number"], before["end_date"]), \
        "evaluate_triggers was not cleared, not re-run"
    assert story.tis["smoke_test"]["state"] == "success" and story.tis["rollback"]["state"] == "skipped"
    assert story.outcome["outcome"] == "promoted" and story.outcome["ok"]
    assert story.outcome["validation"]["passed"] is True

    # 3. S3 is as after a run that never failed
    new_version = version_id(CLEAR_WEEK, story.run_id)
    before_versions = {k.split("/")[3] for k in story.before if "/versions/" in k}
    after_versions = {k.split("/")[3] for k in store.list_keys(keys.registry_prefix()) if "/versions/" in k}
    assert after_versions - before_versions == {new_version}, "exactly one new version"
    assert len(after_versions) == len(before_versions) + 1, "no duplicate versions"

    history = registry.history(store, keys)
    new_entries = history[len(story.history_before):]
    assert history[: len(story.history_before)] == story.history_before
    assert [(e["action"], e["outcome"], e["from_version"], e["to_version"]) for e in new_entries] == [
        ("promote", "applied", story.slots_before.champion.version, new_version)], "one audit entry"
    assert sum(1 for e in history if e["to_version"] == new_version) == 1

    slots, _ = registry.read_slots(store, keys)
    assert slots.champion.version == new_version and slots.champion.week == CLEAR_WEEK.isoformat()
    assert slots.previous == story.slots_before.champion
    assert slots.generation == story.slots_before.generation + 1
    assert registry_problems(store, keys) == [], "only complete, verified versions under registry/"


def test_the_scheduler_knows_the_weekly_deadline_and_gives_backfills_and_manual_runs_none(
        local_stack, backfill_story, clear_story):
    """The DAG processor serialized the bundle's deadline reference and the scheduler and API server
    read it back (plugins/retrain_deadlines.py); backfilled and hand-triggered weeks have no deadline
    row (only scheduled runs do, tests/integration/test_deadline.py), and the clear above worked."""
    alerts = local_stack.request("GET", "/ui/dags/retrain_fraud/deadlineAlerts")
    assert [(a["name"], a["reference_type"], a["interval"]) for a in alerts["deadline_alerts"]] == [
        ("fraud_weekly_deadline", "ScheduledRunDeadline", 0.0)]
    for run_id in [r["dag_run_id"] for r in backfill_story.runs] + [clear_story.run_id]:
        assert local_stack.request("GET", f"/ui/dags/retrain_fraud/dagRuns/{run_id}/deadlines")["total_entries"] == 0
