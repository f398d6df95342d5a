"""The weekly DAG's safety paths, run for real: `retrain_fraud` with dag.test() on a SQLite
metadata DB and a moto S3 endpoint over HTTP.

* a promotion whose smoke test fails is rolled back by the `rollback` task and the run fails;
* a tampered champion (one byte changed) fails the next week's `evaluate_triggers` closed,
  before anything is unpickled and without retries;
* an old week cleared and re-run after a newer week was promoted records "superseded" and
  leaves the newer champion in place.

Every scenario starts from the same registry state - week 3 deployed as the first champion -
produced once per module by a real run and copied object by object into each test's bucket.
Training uses one small forest instead of the configured candidates (`fast_training`): these
tests are about the registry and the DAG's control flow, which do not depend on the estimator.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import uuid

import pytest
from fast_training import fast_config
from retrain import registry
from retrain.config import Settings, load_model_config
from retrain.keys import Keys
from retrain.storage import S3Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "fraud"
KEYS = Keys(MODEL, "")
START = dt.date(2026, 1, 5)  # scenario week 1; one stable history week is landed before it
W3, W4, W5 = (START + dt.timedelta(weeks=n - 1) for n in (3, 4, 5))


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_training(monkeypatch):
    import retrain.airflow.tasks

    monkeypatch.setattr(retrain.airflow.tasks, "load_model_config", fast_config)


TAMPERED: list[bytes] = []


@pytest.fixture(autouse=True)
def no_tampered_unpickling(monkeypatch):
    """Fail the test if any bytes this module tampered with ever reach joblib.load."""
    import joblib

    real_load = joblib.load
    loaded: list[int] = []

    def guarded_load(src, *args, **kwargs):
        if isinstance(src, io.BytesIO) and src.getvalue() in TAMPERED:
            loaded.append(len(src.getvalue()))
            raise AssertionError("a tampered model file was unpickled")
        return real_load(src, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", guarded_load)
    TAMPERED.clear()
    yield
    assert not loaded, "a tampered model file was unpickled"


def tamper(store, key: str) -> bytes:
    """Flip one bit of one byte (same size, different sha256)."""
    data = bytearray(store.get_bytes(key))
    data[len(data) // 2] ^= 0x01
    store.put_bytes(key, bytes(data))
    TAMPERED.append(bytes(data))
    return bytes(data)


@pytest.fixture(scope="module")
def parse_weekly(moto_server, airflow_db):
    """Returns a freshly parsed `retrain_fraud` per call: in-process, Airflow's process_params()
    stores a run's conf (e.g. force=True) in the tasks' own Param objects, so a reused DAG object
    would carry it into the next run. A worker parses the DAG file per task, so production never
    shares them."""
    from airflow.dag_processing.dagbag import DagBag

    def parse():
        bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        assert not bag.import_errors
        return bag.dags["retrain_fraud"]

    parse()
    return parse


def run_week(parse_weekly, store, week: dt.date, force: bool) -> dict:
    """One weekly run (same run id every time for the same week: a re-run is a cleared run)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from retrain_dev.demo import run_weeks
    from sqlalchemy import select

    cfg = load_model_config(MODEL)
    outcome = run_weeks(parse_weekly(), cfg, store, [week], conf={"force": force})[0]
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == "retrain_fraud", TaskInstance.run_id == outcome["run_id"])
        ).all()
        outcome["tis"] = {ti.task_id: (str(ti.state) if ti.state else None, ti.try_number) for ti in tis}
    return outcome


def champion_events(store) -> list[dict]:
    """The `fraud_champion` asset events of this test's bucket (extra + emitting task), oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from retrain.airflow.assets import champion_uri
    from sqlalchemy import select

    uri = champion_uri(MODEL, Settings(bucket=store.bucket))
    with create_session() as session:
        rows = session.scalars(select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetModel.uri == uri).order_by(AssetEvent.id)).all()
        return [{**dict(r.extra or {}), "source": r.source_task_id} for r in rows]


def states(outcome: dict) -> dict[str, str | None]:
    return {task: state for task, (state, _) in outcome["tis"].items()}


@pytest.fixture(scope="module")
def base(parse_weekly):
    """A bucket where week 3 was deployed as the first champion by a real weekly run."""
    from retrain_dev.datagen.landing import land_weeks

    name = f"retrain-base-{uuid.uuid4().hex[:8]}"
    store = S3Store(Settings(bucket=name))
    with pytest.MonkeyPatch.context() as mp:
        import retrain.airflow.tasks

        mp.setenv("RETRAIN_BUCKET", name)
        mp.setattr(retrain.airflow.tasks, "load_model_config", fast_config)
        store.ensure_bucket()
        land_weeks(store, load_model_config(MODEL), start=START, weeks=5, scenario="stable", rows=1500,
                   history_weeks=1)
        outcome = run_week(parse_weekly, store, W3, force=False)
    assert outcome["outcome"] == "promoted" and outcome["trigger"] == "first_deployment", outcome
    return {"store": store, "champion": outcome["champion_after"], "run_id": outcome["run_id"]}


@pytest.fixture
def deployed(base, store) -> str:
    """This test's bucket, holding a byte-for-byte copy of the base bucket; returns the champion A."""
    for key in base["store"].list_keys(""):
        store.put_bytes(key, base["store"].get_bytes(key))
    return base["champion"]


def assert_registry(store, champion: str, previous: str | None, actions: list[tuple[str, str, str]],
                    verify_previous: bool = True) -> list[dict]:
    """Slots, checksums and the audit log as a whole: (action, outcome, to_version) per entry."""
    slots, _ = registry.read_slots(store, KEYS)
    assert slots.champion.version == champion
    assert (slots.previous.version if slots.previous else None) == previous
    registry.verify_version(store, KEYS, champion)
    if previous is not None and verify_previous:
        registry.verify_version(store, KEYS, previous)
    entries = registry.history(store, KEYS)
    assert [(e["action"], e["outcome"], e["to_version"]) for e in entries] == actions
    assert all(e.get("recorded", True) for e in entries), "an audit record is missing"
    assert len({e["event"] for e in entries}) == len(entries), "an event was recorded twice"
    applied = [e for e in entries if e["outcome"] == "applied"]
    assert [e["generation_after"] for e in applied] == list(range(1, slots.generation + 1))
    assert (applied[-1]["to_version"], applied[-1]["from_version"]) == (champion, previous)
    return entries


# -- smoke test failure -> automatic rollback ---------------------------------------------------
@pytest.mark.parametrize("fault", ["predictions", "model_bytes"])
def test_failed_smoke_test_rolls_back_and_fails_the_run(parse_weekly, store, deployed, monkeypatch, fault):
    """predictions: the promoted model does not reproduce the canary predictions recorded at
    training time (the version itself is consistent). model_bytes: the champion's model.joblib is
    corrupted in S3 right after the promotion (the smoke test refuses it on its checksum)."""
    from retrain.errors import IntegrityError
    from retrain.pipeline.steps import Steps

    a = deployed
    real_promote = Steps.promote

    def promote_then_break(self):
        if fault == "predictions":
            key = self.ctx.artifact("challenger/canary_predictions.json")
            store.put_bytes(key, json.dumps([p + 0.05 for p in store.get_json(key)]).encode())
        result = real_promote(self)
        if fault == "model_bytes":
            tamper(store, KEYS.version_file(result["version"], registry.MODEL_FILE))
        return result

    monkeypatch.setattr(Steps, "promote", promote_then_break)

    o = run_week(parse_weekly, store, W4, force=True)
    b = o["challenger_version"]

    assert o["dag_run_state"] == "failed"  # the failed promotion never looks like success
    assert states(o) == {
        "evaluate_triggers": "success", "branch_on_decision": "success", "skip": "skipped",
        "validate_data": "success", "build_features": "success", "train": "success",
        # rollback succeeded (so it can emit the champion event: Airflow emits for successful tasks only);
        # the run still fails through record_outcome
        "evaluation_gate": "success", "promote": "success", "smoke_test": "failed", "rollback": "success",
        "record_outcome": "failed",
    }
    assert o["outcome"] == "rolled_back" and o["ok"] is False and o["failed_task"] == "smoke_test"
    assert o["champion_after"] == a
    smoke = store.get_json(KEYS.run_artifact(W4, o["run_id"], "smoke_test.json"))
    assert smoke["status"] == "failed" and smoke["version"] == b
    expected = "canary predictions differ" if fault == "predictions" else "model.joblib does not match its manifest"
    assert expected in smoke["reason"]
    assert store.get_json(KEYS.run_artifact(W4, o["run_id"], "rollback.json"))["status"] == "rolled_back"

    entries = assert_registry(
        store, champion=a, previous=b,
        actions=[("promote", "applied", a), ("promote", "applied", b), ("rollback", "applied", a)],
        verify_previous=fault == "predictions",
    )
    rb = entries[-1]
    assert rb["from_version"] == b and rb["run_id"] == o["run_id"]
    assert rb["actor"]["type"] == "automatic_rollback" and rb["reason"].startswith("automatic: smoke test failed")
    # the champion asset: one event for the promotion of B, one for the automatic rollback to A
    assert [(e["action"], e["version"], e["source"]) for e in champion_events(store)] == [
        ("promote", b, "promote"), ("rollback", a, "rollback")]
    if fault == "model_bytes":  # the rolled-back version stays refused, it is never loaded again
        with pytest.raises(IntegrityError):
            registry.verify_version(store, KEYS, b)


# -- tampered champion -> the next week fails closed --------------------------------------------
def test_tampered_champion_fails_the_next_week_closed(parse_weekly, store, deployed, monkeypatch):
    from retrain.errors import IntegrityError
    from retrain.pipeline.steps import Steps

    a = deployed
    model_key = KEYS.version_file(a, registry.MODEL_FILE)
    tamper(store, model_key)
    slots_before = store.get_bytes(KEYS.slots())
    raised: list[BaseException] = []
    real_evaluate = Steps.evaluate_triggers

    def evaluate_spy(self, *args, **kwargs):
        try:
            return real_evaluate(self, *args, **kwargs)
        except BaseException as exc:
            raised.append(exc)
            raise

    monkeypatch.setattr(Steps, "evaluate_triggers", evaluate_spy)

    o = run_week(parse_weekly, store, W4, force=False)

    assert o["dag_run_state"] == "failed"
    assert parse_weekly().get_task("evaluate_triggers").retries == 2
    assert o["tis"]["evaluate_triggers"] == ("failed", 1)  # AirflowFailException: failed at once, no retry
    downstream = ("branch_on_decision", "skip", "validate_data", "build_features", "train", "evaluation_gate",
                  "promote", "smoke_test")
    assert {t: states(o)[t] for t in downstream} == dict.fromkeys(downstream, "upstream_failed")
    assert o["tis"]["rollback"] == ("skipped", 1)  # it ran, saw this run promoted nothing, and left A alone
    assert o["outcome"] == "failed" and o["failed_task"] == "evaluate_triggers"
    [exc] = raised
    assert isinstance(exc, IntegrityError)
    assert f"{model_key} does not match its manifest" in str(exc)
    assert store.get_bytes(KEYS.slots()) == slots_before  # the registry is untouched
    assert [(e["action"], e["outcome"]) for e in registry.history(store, KEYS)] == [("promote", "applied")]


# -- an old week cleared and re-run after a newer promotion -------------------------------------
def test_old_week_rerun_after_newer_promotion_is_superseded(parse_weekly, store, deployed, base):
    a = deployed
    o5 = run_week(parse_weekly, store, W5, force=True)
    assert o5["outcome"] == "promoted" and o5["dag_run_state"] == "success"
    c = o5["champion_after"]
    assert c != a
    manifest_a = store.get_bytes(KEYS.version_file(a, registry.MANIFEST_FILE))

    o3 = run_week(parse_weekly, store, W3, force=True)  # same run id as the run that deployed A

    assert o3["run_id"] == base["run_id"] and o3["challenger_version"] == a
    assert o3["dag_run_state"] == "success"
    assert o3["outcome"] == "superseded" and o3["ok"] is True
    assert states(o3)["promote"] == "success"
    assert states(o3)["smoke_test"] == "skipped" and states(o3)["rollback"] == "skipped"
    promotion = store.get_json(KEYS.run_artifact(W3, o3["run_id"], "promotion.json"))
    assert promotion["status"] == "superseded" and c in promotion["message"]
    assert o3["champion_after"] == c
    assert store.get_bytes(KEYS.version_file(a, registry.MANIFEST_FILE)) == manifest_a  # A never rewritten
    # the re-run's gate judged against C this time: its gate.json differs from A's published one,
    # so the re-run must not try to publish A again (versions are immutable)
    rerun_gate = store.get_json(KEYS.run_artifact(W3, o3["run_id"], "gate.json"))
    assert rerun_gate["champion_version"] == c
    assert store.get_json(KEYS.version_file(a, "gate.json"))["champion_version"] is None
    entries = assert_registry(
        store, champion=c, previous=a,
        actions=[("promote", "applied", a), ("promote", "applied", c), ("promote_superseded", "refused", a)],
    )
    assert entries[-1]["run_id"] == o3["run_id"]


# -- issue 9: a rolled-back run stays red however its tasks are cleared -------------------------
@pytest.mark.parametrize("cleared", [
    ("smoke_test", "rollback", "record_outcome"),
    ("promote", "smoke_test", "rollback", "record_outcome"),
    ("smoke_test",),
], ids=["smoke_test+downstream", "promote+downstream", "smoke_test-only"])
def test_clearing_after_an_automatic_rollback_keeps_the_run_red(parse_weekly, store, deployed, monkeypatch,
                                                                 cleared):
    from clearing import clear_and_rerun
    from retrain.pipeline.steps import Steps

    a = deployed
    real_promote = Steps.promote

    def promote_with_wrong_canary(self):  # the version is consistent but does not reproduce its canary
        key = self.ctx.artifact("challenger/canary_predictions.json")
        store.put_bytes(key, json.dumps([p + 0.05 for p in store.get_json(key)]).encode())
        return real_promote(self)

    monkeypatch.setattr(Steps, "promote", promote_with_wrong_canary)
    o = run_week(parse_weekly, store, W4, force=True)
    assert o["outcome"] == "rolled_back" and o["champion_after"] == a
    monkeypatch.setattr(Steps, "promote", real_promote)
    slots_before = store.get_bytes(KEYS.slots())

    tis = clear_and_rerun(parse_weekly(), o["run_id"], list(cleared))

    assert tis["__run__"][0] == "failed"
    assert tis["smoke_test"] == ("failed", 2)  # it ran again and failed again
    smoke = store.get_json(KEYS.run_artifact(W4, o["run_id"], "smoke_test.json"))
    assert smoke["status"] == "rolled_back"
    assert smoke["reason"].startswith("rolled back: smoke test failed (canary predictions differ"), smoke
    again = store.get_json(KEYS.run_artifact(W4, o["run_id"], "outcome.json"))
    assert again["outcome"] == "rolled_back" and again["ok"] is False
    assert "smoke test failed (canary predictions differ" in again["reason"]
    if "record_outcome" in cleared:
        assert tis["record_outcome"] == ("failed", 2)
        assert again["reason"].startswith("rolled back: smoke test failed (canary"), again["reason"]
    assert "newer run" not in again["reason"]
    assert store.get_bytes(KEYS.slots()) == slots_before  # nothing was promoted again
    assert registry.champion(store, KEYS).version == a


# -- issue 9: after a lost race, clearing promote re-evaluates the gate and the run id finishes ---
def test_clearing_promote_after_a_lost_race_reevaluates_the_gate(parse_weekly, store, deployed, monkeypatch):
    """W5's gate compares against A; before W5's promote lands, a racing run makes C champion.
    W5's promote must refuse the stale decision (ConflictError: it already published its version).
    Clearing only `promote` re-runs the gate against C; the re-run's gate.json differs from the
    published one, so the unpointed publication is superseded by a revision and the run finishes."""
    from clearing import clear_and_rerun
    from retrain.keys import version_id

    a = deployed
    real_promote = registry.promote
    racer_run = "manual__racer"
    c = version_id(W4, racer_run)

    def racing_promote(store_, keys, version, week, run_id, *args, **kwargs):
        if not store.exists(KEYS.version_file(c, registry.MANIFEST_FILE)):
            manifest_a = registry.read_manifest(store, KEYS, a)
            files = {name: registry.load_verified(store, KEYS, a, name) for name in manifest_a["files"]}
            registry.publish_version(store, KEYS, c, files, {"week": W4.isoformat(), "run_id": racer_run})
            assert real_promote(store, KEYS, c, W4, racer_run, "racing run", {"type": "dag_run"}).status == "promoted"
        return real_promote(store_, keys, version, week, run_id, *args, **kwargs)

    monkeypatch.setattr(registry, "promote", racing_promote)
    o5 = run_week(parse_weekly, store, W5, force=True)
    monkeypatch.setattr(registry, "promote", real_promote)

    assert o5["dag_run_state"] == "failed" and states(o5)["promote"] == "failed"
    assert registry.champion(store, KEYS).version == c
    gate = store.get_json(KEYS.run_artifact(W5, o5["run_id"], "gate.json"))
    assert gate["champion_version"] == a
    rev0 = o5["challenger_version"]
    assert store.exists(KEYS.version_file(rev0, registry.MANIFEST_FILE))  # published, never pointed at
    assert registry.history(store, KEYS)[-1]["action"] == "promote_stale_gate"

    tis = clear_and_rerun(parse_weekly(), o5["run_id"], ["promote"])

    assert tis["promote"] == ("success", 2)
    gate = store.get_json(KEYS.run_artifact(W5, o5["run_id"], "gate.json"))
    assert gate["champion_version"] == c and gate["passed"] is True  # decided against the current champion
    promotion = store.get_json(KEYS.run_artifact(W5, o5["run_id"], "promotion.json"))
    assert promotion["status"] == "promoted" and promotion["version"] != rev0
    slots, _ = registry.read_slots(store, KEYS)
    assert (slots.champion.version, slots.previous.version) == (promotion["version"], c)
    published_gate = json.loads(registry.load_verified(store, KEYS, promotion["version"], "gate.json"))
    assert published_gate["champion_version"] == c
    actions = [(e["action"], e["to_version"]) for e in registry.history(store, KEYS)]
    assert actions[-3:] == [("promote_stale_gate", rev0), ("version_superseded", rev0),
                            ("promote", promotion["version"])]
