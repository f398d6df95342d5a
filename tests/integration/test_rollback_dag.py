"""The on-call rollback DAG `rollback_fraud`, run for real with dag.test() (SQLite metadata DB,
moto S3 over HTTP) and triggered with the params of its form.

Every version in the registry is real: a fitted scikit-learn Pipeline over synthetic fraud data,
with its canary rows and the predictions recorded for them, published and promoted through
retrain.registry exactly as the weekly DAG's promote step does. So the DAG's smoke test
genuinely loads, scores and compares. Each test asserts the whole registry afterwards: the
champion and previous exist and verify against their manifests, previous is the champion that
was replaced, and the audit log has exactly one entry per action.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os

import pendulum
import pytest
from retrain import registry
from retrain.config import load_model_config
from retrain.keys import Keys, version_id
from retrain.storage import dumps_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "fraud"
KEYS = Keys(MODEL, "")
W1, W2, W3 = dt.date(2026, 1, 5), dt.date(2026, 1, 12), dt.date(2026, 1, 19)
_TRIGGERS = itertools.count()


# -- fixtures and helpers -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def rollback_dag(moto_server, airflow_db):
    """Returns a freshly parsed `rollback_fraud` per call (see `trigger`)."""
    from airflow.dag_processing.dagbag import DagBag

    def parse():
        bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        assert not bag.import_errors
        return bag.dags["rollback_fraud"]

    parse()
    return parse


def run_id_for(week: dt.date) -> str:
    return f"scheduled__{week.isoformat()}T01:00:00+00:00"


@pytest.fixture(scope="module")
def version_files() -> dict[dt.date, dict[str, bytes]]:
    """The files of one real model version per week (trained once per module, published per test)."""
    from retrain.core.frames import to_bytes
    from retrain.families import get_family
    from retrain.storage.integrity import dumps_model
    from retrain_dev.datagen.fraud import WeekSpec, generate_week
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    cfg = load_model_config(MODEL)
    family = get_family(cfg.family)
    feats = family.feature_columns(cfg)
    out = {}
    for i, week in enumerate((W1, W2, W3)):
        frame = family.prepare(generate_week(week, WeekSpec(rows=1500), seed=7), cfg)
        model = Pipeline([("prep", family.build_preprocessor(cfg)),
                          ("clf", LogisticRegression(C=0.5 + i, max_iter=500))])
        model.fit(frame[feats], family.target(frame, cfg))
        canary = frame.head(cfg.registry.canary_rows).reset_index(drop=True)
        predictions = [float(x) for x in family.score(model, canary[feats])]
        out[week] = {
            "model.joblib": dumps_model(model),
            "reference.parquet": to_bytes(frame.sample(n=300, random_state=0).reset_index(drop=True)),
            "canary.parquet": to_bytes(canary),
            "canary_predictions.json": dumps_json(predictions),
            "run_log.json": dumps_json({"week": week.isoformat(), "run_id": run_id_for(week)}),
            "gate.json": dumps_json({"passed": True, "first_deployment": i == 0}),
        }
    return out


def ship(store, version_files, week: dt.date) -> str:
    """Publish the week's real version and promote it, as the weekly DAG's promote step does."""
    run_id = run_id_for(week)
    version = version_id(week, run_id)
    registry.publish_version(store, KEYS, version, version_files[week],
                             metadata={"week": week.isoformat(), "run_id": run_id, "winner": "logreg"})
    result = registry.promote(store, KEYS, version, week, run_id, "weekly retrain passed the gate",
                              registry.dag_run_actor("retrain_fraud", run_id, "scheduler"))
    assert result.status == "promoted"
    return version


def trigger(parse_dag, **conf):
    """Trigger the rollback DAG with the form's params; returns (dag run, {task_id: state})."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    when = pendulum.datetime(2026, 3, 2, 9, tz="UTC").add(minutes=next(_TRIGGERS))
    # A freshly parsed DAG per trigger: in-process, Airflow's process_params() stores the run's conf
    # in the tasks' own Param objects (shared even by a deepcopy of the DAG), so a reused DAG object
    # would carry one trigger's params into the next one. A worker parses the DAG file for every
    # task, so production never shares them.
    dag = parse_dag()
    dagrun = dag.test(run_after=when, logical_date=when, run_conf=conf)
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == dagrun.run_id)
        ).all()
        states = {ti.task_id: str(ti.state) if ti.state else None for ti in tis}
    return dagrun, states


def returned(dagrun, task_id: str):
    """What a task of the run returned (its XCom)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(select(XComModel).where(
            XComModel.dag_id == dagrun.dag_id, XComModel.run_id == dagrun.run_id,
            XComModel.task_id == task_id, XComModel.key == "return_value")).one()
        return XComModel.deserialize_value(row)


def dag_run_count(dag_id: str) -> int:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id))


def tamper(store, version: str, name: str = registry.MODEL_FILE) -> bytes:
    """Flip one bit of one byte of a published file (same size); returns the tampered bytes."""
    key = KEYS.version_file(version, name)
    data = bytearray(store.get_bytes(key))
    data[len(data) // 2] ^= 0x01
    store.put_bytes(key, bytes(data))
    return bytes(data)


def registry_objects(store) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list_keys(KEYS.registry_prefix())}


def assert_registry(store, champion: str, previous: str | None, actions: list[tuple[str, str]]) -> list[dict]:
    """Slots, checksums and the audit log as a whole; returns the audit entries."""
    slots, _ = registry.read_slots(store, KEYS)
    assert slots.champion.version == champion
    assert (slots.previous.version if slots.previous else None) == previous
    for version, slot in ((champion, slots.champion), (previous, slots.previous)):
        if version is not None:
            manifest = registry.verify_version(store, KEYS, version)  # every file: sha256 + size
            assert (slot.week, slot.run_id) == (manifest["created_for_week"], manifest["run_id"])
    entries = registry.history(store, KEYS)
    assert [(e["action"], e["outcome"]) for e in entries] == actions
    assert all(e.get("recorded", True) for e in entries), "an audit record is missing"
    assert len({e["event"] for e in entries}) == len(entries), "an event was recorded twice"
    applied = [e for e in entries if e["outcome"] == "applied"]
    assert [e["generation_after"] for e in applied] == list(range(1, slots.generation + 1))
    assert (applied[-1]["to_version"], applied[-1]["from_version"]) == (champion, previous)
    return entries


PROMOTE = ("promote", "applied")
ROLLBACK = ("rollback", "applied")


# -- tests --------------------------------------------------------------------------------------
def test_rollback_to_previous(rollback_dag, store, version_files):
    v1, v2 = ship(store, version_files, W1), ship(store, version_files, W2)

    dagrun, states = trigger(rollback_dag, reason="fraud alerts doubled overnight")

    assert str(dagrun.state) == "success"
    assert states == {"rollback": "success", "smoke_test": "success"}
    entries = assert_registry(store, champion=v1, previous=v2, actions=[PROMOTE, PROMOTE, ROLLBACK])
    rb = entries[-1]
    assert (rb["from_version"], rb["to_version"]) == (v2, v1)
    assert rb["reason"] == "fraud alerts doubled overnight"
    assert rb["run_id"] == dagrun.run_id
    assert rb["actor"]["type"] == "manual_rollback"
    assert rb["actor"]["dag_id"] == "rollback_fraud" and rb["actor"]["run_id"] == dagrun.run_id
    assert rb["actor"]["user"] == "dag_test"  # the triggering user (the UI user in production)


def test_rollback_to_a_named_version(rollback_dag, store, version_files):
    v1, _, v3 = (ship(store, version_files, w) for w in (W1, W2, W3))

    dagrun, states = trigger(rollback_dag, reason="restore the January model", to_version=v1)

    assert str(dagrun.state) == "success"
    assert states == {"rollback": "success", "smoke_test": "success"}
    entries = assert_registry(store, champion=v1, previous=v3, actions=[PROMOTE, PROMOTE, PROMOTE, ROLLBACK])
    assert (entries[-1]["from_version"], entries[-1]["to_version"]) == (v3, v1)
    assert entries[-1]["reason"] == "restore the January model"


def test_dry_run_changes_nothing(rollback_dag, store, version_files):
    v1, v2 = ship(store, version_files, W1), ship(store, version_files, W2)
    before = registry_objects(store)

    dagrun, states = trigger(rollback_dag, reason="what would a rollback do?", dry_run=True)

    assert str(dagrun.state) == "success"
    assert states == {"rollback": "success", "smoke_test": "skipped"}
    report = returned(dagrun, "rollback")
    assert report["status"] == "dry_run" and report["dry_run"] is True
    assert f"would roll back fraud {v2} -> {v1}" in report["message"]
    assert registry_objects(store) == before  # not a byte changed, no audit record either
    assert_registry(store, champion=v2, previous=v1, actions=[PROMOTE, PROMOTE])


def test_no_previous_version_fails_clearly_and_leaves_the_champion(rollback_dag, store, version_files):
    v1 = ship(store, version_files, W1)

    dagrun, states = trigger(rollback_dag, reason="bad predictions reported")

    assert str(dagrun.state) == "failed"
    assert states == {"rollback": "failed", "smoke_test": "upstream_failed"}
    entries = assert_registry(store, champion=v1, previous=None, actions=[PROMOTE, ("rollback_refused", "refused")])
    assert "no previous version to roll back to" in entries[-1]["message"]
    assert "champion left untouched" in entries[-1]["message"]
    assert entries[-1]["reason"] == "bad predictions reported"


def test_corrupt_target_fails_before_moving_any_pointer(rollback_dag, store, version_files, monkeypatch):
    import joblib
    from retrain.errors import IntegrityError

    v1, v2 = ship(store, version_files, W1), ship(store, version_files, W2)
    tampered = tamper(store, v1)  # the previous slot: one byte changed, same size
    slots_before = store.get_bytes(KEYS.slots())
    real_load = joblib.load
    unpickled = []

    def guarded_load(src, *args, **kwargs):
        if isinstance(src, io.BytesIO) and src.getvalue() == tampered:
            unpickled.append(src)
            raise AssertionError("the tampered model.joblib was unpickled")
        return real_load(src, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", guarded_load)

    dagrun, states = trigger(rollback_dag, reason="roll back to the corrupt one")

    assert str(dagrun.state) == "failed"
    assert states == {"rollback": "failed", "smoke_test": "upstream_failed"}
    assert not unpickled
    assert store.get_bytes(KEYS.slots()) == slots_before  # no pointer moved
    slots, _ = registry.read_slots(store, KEYS)
    assert (slots.champion.version, slots.previous.version) == (v2, v1)
    registry.verify_version(store, KEYS, v2)
    with pytest.raises(IntegrityError):  # the corrupt previous stays refused
        registry.verify_version(store, KEYS, v1)
    entries = registry.history(store, KEYS)
    assert [(e["action"], e["outcome"]) for e in entries] == [
        PROMOTE, PROMOTE, ("rollback_integrity_failed", "refused")]
    msg = entries[-1]["message"]
    assert f"versions/{v1}/model.joblib does not match its manifest" in msg


@pytest.mark.parametrize("conf", [{}, {"reason": "no"}, {"reason": None}], ids=["missing", "too-short", "null"])
def test_missing_reason_is_rejected_by_the_form(rollback_dag, store, version_files, conf):
    from airflow.sdk.exceptions import ParamValidationError

    v1, v2 = ship(store, version_files, W1), ship(store, version_files, W2)
    before = registry_objects(store)
    runs_before = dag_run_count("rollback_fraud")

    with pytest.raises(ParamValidationError, match="reason"):
        trigger(rollback_dag, **conf)

    assert dag_run_count("rollback_fraud") == runs_before  # refused before a DAG run (or any task) exists
    assert registry_objects(store) == before
    assert_registry(store, champion=v2, previous=v1, actions=[PROMOTE, PROMOTE])


@pytest.mark.parametrize("conf", [{"reason": "   "}, {"reason": " a  "}, {"reason": "\n\t \n"},
                                  {"reason": "valid reason", "to_version": "../x"},
                                  {"reason": "valid reason", "to_version": "2026-W05-1a2b3c4d/../../slots"}],
                         ids=["blank", "one-char", "whitespace", "dotdot", "traversal"])
def test_blank_reason_and_bad_version_are_refused_by_the_form(rollback_dag, store, version_files, conf):
    """Issue 12: three spaces passed the form's minLength and a `to_version` like ../x passed too,
    then failed inside the task and paged on-call; the form now checks the stripped reason and the
    version id pattern, before a DAG run (or any task) exists."""
    from airflow.sdk.exceptions import ParamValidationError

    v1, v2 = ship(store, version_files, W1), ship(store, version_files, W2)
    before = registry_objects(store)
    runs_before = dag_run_count("rollback_fraud")

    with pytest.raises(ParamValidationError, match="reason" if "to_version" not in conf else "to_version"):
        trigger(rollback_dag, **conf)

    assert dag_run_count("rollback_fraud") == runs_before
    assert registry_objects(store) == before
    assert_registry(store, champion=v2, previous=v1, actions=[PROMOTE, PROMOTE])


def test_a_refused_rollback_is_audited(store, version_files):
    """A refusal decided by the task itself (here: a blank reason reaching it without the form)."""
    from retrain.errors import RegistryError
    from retrain.pipeline.oncall import manual_rollback

    v1, v2 = ship(store, version_files, W1), ship(store, version_files, W2)
    with pytest.raises(RegistryError, match="needs a reason"):
        manual_rollback(store, KEYS, load_model_config(MODEL), reason="  ", to_version=None, dry_run=False,
                        allow_failed_smoke_test=False, actor={"type": "manual_rollback"}, run_id="manual__x")
    entries = assert_registry(store, champion=v2, previous=v1, actions=[PROMOTE, PROMOTE, ("rollback_refused", "refused")])
    assert "needs a reason" in entries[-1]["message"]


# -- issue 9: the on-call rollback proves the target before the swap and restores after a failure --
def break_canary(store, version: str) -> None:
    """Publish-consistent but wrong: a version whose recorded canary predictions it cannot reproduce
    (the manifest is rewritten to match, as a buggy training run would have produced)."""
    import json

    key = KEYS.version_file(version, "canary_predictions.json")
    wrong = dumps_json([p + 0.2 for p in json.loads(store.get_bytes(key))])
    store.put_bytes(key, wrong)
    mkey = KEYS.version_file(version, registry.MANIFEST_FILE)
    manifest = json.loads(store.get_bytes(mkey))
    from retrain.storage.integrity import fingerprint

    manifest["files"]["canary_predictions.json"] = fingerprint(wrong)
    store.put_bytes(mkey, dumps_json(manifest))


def test_target_whose_canary_fails_is_refused_before_the_swap(rollback_dag, store, version_files):
    v1, _ = ship(store, version_files, W1), ship(store, version_files, W2)
    break_canary(store, v1)
    slots_before = store.get_bytes(KEYS.slots())

    dagrun, states = trigger(rollback_dag, reason="roll back to a model that does not work")

    assert str(dagrun.state) == "failed"
    assert states == {"rollback": "failed", "smoke_test": "upstream_failed"}
    assert store.get_bytes(KEYS.slots()) == slots_before  # the pointer never moved
    entries = registry.history(store, KEYS)
    assert [(e["action"], e["outcome"]) for e in entries] == [PROMOTE, PROMOTE, ("rollback_smoke_failed", "refused")]
    assert entries[-1]["to_version"] == v1 and "canary predictions differ" in entries[-1]["message"]


def test_target_that_failed_a_smoke_test_needs_the_override(rollback_dag, store, version_files):
    v1, v2, v3 = (ship(store, version_files, w) for w in (W1, W2, W3))
    auto = {"type": "automatic_rollback", "dag_id": "retrain_fraud", "run_id": run_id_for(W3)}
    registry.rollback(store, KEYS, f"automatic: smoke test failed for {v3}", auto, run_id=run_id_for(W3),
                      expected_champion=v3)  # v3 failed its smoke test; champion v2

    dagrun, states = trigger(rollback_dag, reason="v3 again please", to_version=v3)
    assert str(dagrun.state) == "failed" and states["rollback"] == "failed"
    assert registry.champion(store, KEYS).version == v2
    refusal = registry.history(store, KEYS)[-1]
    assert refusal["action"] == "rollback_refused" and "failed a smoke test" in refusal["message"]
    assert "allow_failed_smoke_test" in refusal["message"]

    dagrun, states = trigger(rollback_dag, reason="the smoke failure was the cache, v3 is fine",
                             to_version=v3, allow_failed_smoke_test=True)
    assert str(dagrun.state) == "success" and states == {"rollback": "success", "smoke_test": "success"}
    record = registry.history(store, KEYS)[-1]
    assert (record["action"], record["to_version"]) == ("rollback", v3)
    assert record["actor"]["override"] == "allow_failed_smoke_test" and record["restored_retired"] is True


def test_post_swap_smoke_failure_restores_the_previous_champion(rollback_dag, store, version_files, monkeypatch):
    from retrain.pipeline.steps import Steps

    v1, v2 = ship(store, version_files, W1), ship(store, version_files, W2)
    real = Steps.manual_rollback

    def swap_then_break(self, *args, **kwargs):  # the target breaks after its pre-swap check passed
        out = real(self, *args, **kwargs)
        break_canary(store, out["champion"])
        return out

    monkeypatch.setattr(Steps, "manual_rollback", swap_then_break)

    dagrun, states = trigger(rollback_dag, reason="roll back, then the target breaks")

    assert str(dagrun.state) == "failed"
    assert states == {"rollback": "success", "smoke_test": "failed"}
    slots, _ = registry.read_slots(store, KEYS)
    assert (slots.champion.version, slots.previous.version) == (v2, v1)  # restored in the same run
    assert v1 in slots.retired and v2 not in slots.retired
    entries = registry.history(store, KEYS)
    assert [(e["action"], e["to_version"]) for e in entries] == [
        ("promote", v1), ("promote", v2), ("rollback", v1), ("rollback", v2)]
    assert entries[-1]["actor"]["type"] == "smoke_restore" and entries[-1]["run_id"] == dagrun.run_id
