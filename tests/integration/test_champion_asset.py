"""The champion as an Airflow Asset, end to end on the metadata DB: `retrain_fraud`, `rollback_fraud`
and `score_fraud` run with dag.test() (SQLite, moto S3 over HTTP), in one story:

    week 1 first deployment -> one event · week 2 stable -> skip, none · week 1 re-run -> already
    promoted, none · week 3 forced -> promoted, one event · on-call rollback -> one event (week 1's
    version) · after each event the scheduler's own run-creation step makes exactly one
    score_fraud run, and score_fraud scores with the version the event announced.

Training uses one small forest (as in test_smoke_rollback): the assets do not depend on the estimator.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pendulum
import pytest
from assets_db import release_champion_asset
from fast_training import fast_config
from retrain import registry
from retrain.config import Settings, load_model_config
from retrain.keys import Keys
from retrain.storage import S3Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "fraud"
KEYS = Keys(MODEL, "")
START = dt.date(2026, 1, 5)
W1, W2, W3 = (START + dt.timedelta(weeks=n) for n in range(3))


def parse(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors
    return bag.dags[dag_id]


def champion_events(uri: str) -> list[dict]:
    """Every AssetEvent of `fraud_champion` at this bucket's URI, oldest first (extra + source)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == f"{MODEL}_champion", AssetModel.uri == uri).order_by(AssetEvent.id)
        ).all()
        return [{**dict(r.extra or {}), "source": (r.source_dag_id, r.source_task_id)} for r in rows]


def register_dags() -> None:
    """Write the bundle's DAGs to the metadata DB, as the DAG processor (and dag.test()) does."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
        release_champion_asset(MODEL, session)  # see assets_db: one bucket per test module
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        sync_bag_to_db(BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
                       bundle.name, bundle.version)


def unpause(dag_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=False))


def scheduler_creates_consumer_runs() -> list[list[dict]]:
    """The scheduler's own step that turns queued asset events into runs of asset-scheduled DAGs;
    returns, per new score_fraud run, the extras of the events it consumed."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        before = set(session.scalars(select(DagRun.run_id).where(DagRun.dag_id == f"score_{MODEL}")))
        query, triggered = DagModel.dags_needing_dagruns(session)
        models = [d for d in query.all() if d.dag_id in triggered]
        SchedulerJobRunner(job=Job())._create_dag_runs_asset_triggered(dag_models=models, session=session)
        session.flush()
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == f"score_{MODEL}")).all()
        new = [r for r in runs if r.run_id not in before]
        out = [[dict(e.extra or {}) for e in r.consumed_asset_events] for r in new]
        for run in new:  # the test executes the consumer with dag.test(); close the queued run
            run.state = "success"
    return out


def score(when: pendulum.DateTime) -> dict:
    dagrun = parse(f"score_{MODEL}").test(run_after=when, logical_date=when)
    assert str(dagrun.state) == "success"
    return dagrun


@pytest.fixture(scope="module")
def story(moto_server, airflow_db):
    from retrain.airflow.assets import champion_uri
    from retrain_dev.datagen.landing import land_weeks
    from retrain_dev.demo import run_weeks

    bucket = f"retrain-asset-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        import retrain.airflow.tasks

        mp.setenv("RETRAIN_BUCKET", bucket)
        mp.setattr(retrain.airflow.tasks, "load_model_config", fast_config)
        store = S3Store(Settings(bucket=bucket))
        store.ensure_bucket()
        land_weeks(store, load_model_config(MODEL), start=START, weeks=3, scenario="stable", rows=1500,
                   history_weeks=1)
        uri = champion_uri(MODEL)
        cfg = load_model_config(MODEL)
        steps: dict[str, dict] = {}

        def week(label: str, w: dt.date, **conf):
            outcome = run_weeks(parse(f"retrain_{MODEL}"), cfg, store, [w], conf=conf)[0]
            steps[label] = {"outcome": outcome, "events": champion_events(uri),
                            "consumer_runs": scheduler_creates_consumer_runs()}

        register_dags()
        unpause(f"score_{MODEL}")  # new DAGs start paused
        week("w1", W1)
        week("w1 again", W1, force=True)  # dag.test replaces the run: a cleared re-run, already promoted
        steps["score after w1"] = {"predictions": score(pendulum.datetime(2026, 3, 2, 9, tz="UTC"))}
        week("w2", W2)
        week("w3", W3, force=True)
        steps["score after w3"] = {"predictions": score(pendulum.datetime(2026, 3, 2, 10, tz="UTC"))}
        when = pendulum.datetime(2026, 3, 2, 11, tz="UTC")
        rb = parse(f"rollback_{MODEL}").test(run_after=when, logical_date=when,
                                             run_conf={"reason": "alerts doubled overnight"})
        steps["rollback"] = {"state": str(rb.state), "events": champion_events(uri),
                             "consumer_runs": scheduler_creates_consumer_runs()}
        steps["score after rollback"] = {"predictions": score(pendulum.datetime(2026, 3, 2, 12, tz="UTC"))}
        yield {"steps": steps, "store": store, "uri": uri}


def predictions_of(store, version: str) -> dict:
    """The manifest score_fraud wrote for `version` (the newest landed week is W3)."""
    return store.get_json(KEYS.predictions(W3, version, "manifest.json"))


def test_a_first_promotion_emits_one_event_with_version_generation_and_reason(story):
    s = story["steps"]["w1"]
    assert s["outcome"]["outcome"] == "promoted"
    v1 = s["outcome"]["champion_after"]
    assert len(s["events"]) == 1
    event = s["events"][0]
    assert (event["version"], event["generation"], event["action"]) == (v1, 1, "promote")
    assert "passed the evaluation gate" in event["reason"]
    assert event["source"] == (f"retrain_{MODEL}", "promote")
    assert [[e["version"] for e in run] for run in s["consumer_runs"]] == [[v1]]


def test_a_no_op_rerun_and_a_skipped_week_emit_nothing_and_start_no_consumer(story):
    steps = story["steps"]
    o = steps["w1 again"]["outcome"]
    assert o["outcome"] == "promoted" and o["champion_after"] == steps["w1"]["outcome"]["champion_after"]
    promotion = story["store"].get_json(KEYS.run_artifact(W1, o["run_id"], "promotion.json"))
    assert promotion["status"] == "already_promoted"
    assert len(steps["w1 again"]["events"]) == 1
    assert steps["w1 again"]["consumer_runs"] == []
    assert steps["w2"]["outcome"]["outcome"] == "skipped"
    assert len(steps["w2"]["events"]) == 1 and steps["w2"]["consumer_runs"] == []


def test_a_promotion_starts_exactly_one_consumer_run_that_scores_with_the_new_version(story):
    steps, store = story["steps"], story["store"]
    v3 = steps["w3"]["outcome"]["champion_after"]
    assert steps["w3"]["outcome"]["outcome"] == "promoted" and v3 != steps["w1"]["outcome"]["champion_after"]
    assert len(steps["w3"]["events"]) == 2 and steps["w3"]["events"][-1]["version"] == v3
    assert [[e["version"] for e in run] for run in steps["w3"]["consumer_runs"]] == [[v3]]
    manifest = predictions_of(store, v3)
    assert manifest["version"] == v3 and manifest["generation"] == 2 and manifest["week"] == W3.isoformat()
    assert manifest["rows"] > 0
    assert store.get_json(KEYS.predictions(W3, v3, "manifest.json"))["files"]["predictions.parquet"]


def test_an_on_call_rollback_starts_one_consumer_run_that_scores_with_the_restored_version(story):
    steps, store = story["steps"], story["store"]
    v1 = steps["w1"]["outcome"]["champion_after"]
    s = steps["rollback"]
    assert s["state"] == "success"
    assert len(s["events"]) == 3
    event = s["events"][-1]
    assert (event["version"], event["action"], event["generation"]) == (v1, "rollback", 3)
    assert event["reason"] == "alerts doubled overnight"
    assert event["source"] == (f"rollback_{MODEL}", "rollback")
    assert [[e["version"] for e in run] for run in s["consumer_runs"]] == [[v1]]
    assert registry.champion(store, KEYS).version == v1
    manifest = predictions_of(store, v1)
    assert manifest["version"] == v1 and manifest["generation"] == 3


def test_every_outcome_and_prediction_says_which_code_ran_it(story):
    from retrain.pipeline.run import bundle_version

    for label in ("w1", "w1 again", "w2", "w3"):
        assert story["steps"][label]["outcome"]["bundle_version"] == bundle_version(), label
    v1 = story["steps"]["w1"]["outcome"]["champion_after"]
    assert predictions_of(story["store"], v1)["bundle_version"] == bundle_version()


def test_predictions_carry_the_version_that_produced_them(story):
    from retrain.core.frames import from_bytes

    store = story["store"]
    v1 = story["steps"]["w1"]["outcome"]["champion_after"]
    frame = from_bytes(store.get_bytes(KEYS.predictions(W3, v1, "predictions.parquet")), "parquet")
    assert set(frame["model_version"]) == {v1}
    assert frame["score"].between(0, 1).all()
