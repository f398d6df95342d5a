"""Human approval before promotion (`promotion.approval: required`), driven the way the UI does:
through the HITL endpoint of Airflow's REST API (the real core API app, in process, on the same
metadata DB), while `retrain_fraud` runs with dag.test() and waits in AWAITING_INPUT.

    week 1 approve  -> promoted (first deployment), approval.json names the approver
    week 2 reject   -> not_approved: promote and smoke test skipped, champion unchanged, one alert
    week 3 timeout  -> no answer; the scheduler's own timeout sweep applies the default (Reject)

Training uses one small forest (as in test_smoke_rollback).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
import yaml
from fast_training import fast_config
from retrain import registry
from retrain.config import DEFAULT_MODELS_DIR, Settings, load_model_config
from retrain.keys import Keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = dt.date(2026, 1, 5)
W1, W2, W3 = (START + dt.timedelta(weeks=n) for n in range(3))
KEYS = Keys("fraud", "")


def write_models_dir(path, timeout_hours: float) -> None:
    raw = yaml.safe_load((DEFAULT_MODELS_DIR / "fraud.yaml").read_text())
    raw["promotion"] = {"approval": "required", "approval_timeout_hours": timeout_hours}
    path.mkdir(exist_ok=True)
    (path / "fraud.yaml").write_text(yaml.safe_dump(raw))


def parse_weekly():
    import os

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors
    return bag.dags["retrain_fraud"]


def waiting_run_id(timeout: float = 900) -> str:
    """The run whose approve_promotion task waits for a human (polls the metadata DB)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with create_session() as session:
            run_id = session.scalar(select(TaskInstance.run_id).where(
                TaskInstance.dag_id == "retrain_fraud", TaskInstance.task_id == "approve_promotion",
                TaskInstance.state == "awaiting_input"))
        if run_id:
            return run_id
        time.sleep(0.5)
    raise AssertionError("approve_promotion never waited for input")


def respond(choice: str) -> dict:
    """Approve or reject through PATCH .../hitlDetails, as the Required Actions page does."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    run_id = waiting_run_id()
    with TestClient(create_app("core")) as client:
        detail = client.get(f"/api/v2/dags/retrain_fraud/dagRuns/{run_id}/taskInstances/approve_promotion/-1/hitlDetails")
        assert detail.status_code == 200, detail.text
        resp = client.patch(
            f"/api/v2/dags/retrain_fraud/dagRuns/{run_id}/taskInstances/approve_promotion/-1/hitlDetails",
            json={"chosen_options": [choice]})
        assert resp.status_code == 200, resp.text
        return {"detail": detail.json(), "response": resp.json()}


def let_it_time_out() -> dict:
    """Wait past the response timeout, then run the scheduler's AWAITING_INPUT timeout sweep."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    waiting_run_id()
    time.sleep(5)  # approval_timeout_hours=0.001 is 3.6 s
    SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()
    return {}


def run_with(week: dt.date, answer, **conf) -> dict:
    """Run the week; `answer` responds from another thread while dag.test() waits."""
    from retrain_dev.demo import run_weeks

    seen: dict = {}

    def answer_in_background():
        try:
            seen.update(answer())
        except BaseException as exc:  # broad ok: re-raised in the test thread below
            seen["error"] = exc

    thread = threading.Thread(target=answer_in_background, daemon=True)
    thread.start()
    outcome = run_weeks(parse_weekly(), load_model_config("fraud"), STORE[0], [week], conf=conf)[0]
    thread.join(timeout=60)
    if "error" in seen:
        raise seen["error"]
    return {"outcome": outcome, **seen}


STORE: list = []


@pytest.fixture(scope="module")
def story(moto_server, airflow_db, tmp_path_factory):
    from retrain.storage import S3Store
    from retrain_dev.datagen.landing import land_weeks

    models = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        import retrain.airflow.tasks

        mp.setenv("RETRAIN_BUCKET", f"retrain-approval-{uuid.uuid4().hex[:8]}")
        mp.setenv("RETRAIN_MODELS_DIR", str(models))
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        mp.setattr(retrain.airflow.tasks, "load_model_config", fast_config)
        store = S3Store(Settings.from_env())
        store.ensure_bucket()
        STORE[:] = [store]
        write_models_dir(models, timeout_hours=2)
        land_weeks(store, load_model_config("fraud"), start=W1, weeks=3, scenario="stable", rows=1500,
                   history_weeks=1)
        steps = {"approve": run_with(W1, lambda: respond("Approve"))}
        steps["reject"] = run_with(W2, lambda: respond("Reject"), force=True)
        write_models_dir(models, timeout_hours=0.001)
        steps["timeout"] = run_with(W3, let_it_time_out, force=True)
        yield {"steps": steps, "store": store}


def approval_record(store, week, outcome) -> dict:
    return store.get_json(KEYS.run_artifact(week, outcome["run_id"], "approval.json"))


def test_approved_promotion_goes_ahead_and_records_the_approver(story):
    s = story["steps"]["approve"]
    o = s["outcome"]
    assert o["outcome"] == "promoted" and o["dag_run_state"] == "success"
    assert "**Challenger**" in s["detail"]["body"] and "Gate: **passed**" in s["detail"]["body"]
    assert s["detail"]["options"] == ["Approve", "Reject"]
    record = approval_record(story["store"], W1, o)
    assert record["decision"] == "approved" and record["by"] is not None and not record["timed_out"]


def test_rejected_promotion_ends_not_approved_and_leaves_the_champion(story):
    o = story["steps"]["reject"]["outcome"]
    v1 = story["steps"]["approve"]["outcome"]["champion_after"]
    assert o["outcome"] == "not_approved" and o["ok"] is False and o["dag_run_state"] == "failed"
    assert o["reason"].startswith("not approved: rejected by ")
    assert o["task_states"]["promote"] == "skipped" and o["task_states"]["smoke_test"] == "skipped"
    assert o["champion_after"] == v1
    assert approval_record(story["store"], W2, o)["decision"] == "rejected"


def test_only_the_approved_promotion_emitted_a_champion_event(story):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from retrain.airflow.assets import champion_uri
    from sqlalchemy import select

    uri = champion_uri("fraud", Settings(bucket=story["store"].bucket))
    with create_session() as session:
        extras = [dict(e.extra or {}) for e in session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri))]
    assert [e["version"] for e in extras] == [story["steps"]["approve"]["outcome"]["champion_after"]]


def test_no_answer_in_time_counts_as_rejected(story):
    o = story["steps"]["timeout"]["outcome"]
    v1 = story["steps"]["approve"]["outcome"]["champion_after"]
    assert o["outcome"] == "not_approved" and o["ok"] is False
    record = approval_record(story["store"], W3, o)
    assert record["decision"] == "rejected" and record["timed_out"] is True and record["by"] is None
    assert "no answer within" in o["reason"]
    assert registry.champion(story["store"], KEYS).version == v1
