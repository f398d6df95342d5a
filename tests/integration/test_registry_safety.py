"""Issue 9, sections 1-2, at the registry level: a transient error is not a verdict, malformed
records are integrity errors, rollbacks stick, and a run id can always finish.

Real S3 (moto server over HTTP) and real fraud model versions (a fitted scikit-learn Pipeline with
its canary rows and recorded predictions). Transient errors are injected at the exact S3 call with
a store wrapper that raises TransientStorageError once - what `S3Store` raises for a 503.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from retrain import registry
from retrain.config import load_model_config
from retrain.errors import (
    ConflictError,
    IntegrityError,
    MissingInputError,
    RegistryError,
    TransientStorageError,
)
from retrain.keys import Keys, version_id
from retrain.storage import dumps_json

pytestmark = pytest.mark.integration

MODEL = "fraud"
KEYS = Keys(MODEL, "")
W1, W2, W3, W4 = (dt.date(2026, 1, 5) + dt.timedelta(weeks=n) for n in range(4))
ONCALL = registry.cli_actor("oncall")


def run_id_for(week: dt.date, tag: str = "") -> str:
    return f"scheduled__{week.isoformat()}T01:00:00+00:00{tag}"


@pytest.fixture(scope="module")
def model_files() -> dict[str, bytes]:
    """The files of one real fraud version (trained once per module)."""
    from retrain.core.frames import to_bytes
    from retrain.families import get_family
    from retrain.storage.integrity import dumps_model
    from retrain_dev.datagen.fraud import WeekSpec, generate_week
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    cfg = load_model_config(MODEL)
    family = get_family(cfg.family)
    feats = family.feature_columns(cfg)
    frame = family.prepare(generate_week(W1, WeekSpec(rows=800), seed=3), cfg)
    model = Pipeline([("prep", family.build_preprocessor(cfg)), ("clf", LogisticRegression(max_iter=300))])
    model.fit(frame[feats], family.target(frame, cfg))
    canary = frame.head(cfg.registry.canary_rows).reset_index(drop=True)
    return {
        "model.joblib": dumps_model(model),
        "canary.parquet": to_bytes(canary),
        "canary_predictions.json": dumps_json([float(x) for x in family.score(model, canary[feats])]),
        "gate.json": b'{"passed": true}',
    }


def files_for(model_files, week: dt.date, tag: str = "") -> dict[str, bytes]:
    run_log = {"week": week.isoformat(), "run_id": run_id_for(week, tag),
               "data_window": {"content_hash": f"hash-{week.isoformat()}{tag}"}}
    return {**model_files, "run_log.json": dumps_json(run_log)}


def publish(store, model_files, week: dt.date, tag: str = "") -> str:
    run_id = run_id_for(week, tag)
    version = version_id(week, run_id)
    registry.publish_version(store, KEYS, version, files_for(model_files, week, tag),
                             {"week": week.isoformat(), "run_id": run_id})
    return version


def ship(store, model_files, week: dt.date, tag: str = "") -> registry.PromotionResult:
    version = publish(store, model_files, week, tag)
    run_id = run_id_for(week, tag)
    return registry.promote(store, KEYS, version, week, run_id, "weekly retrain passed the gate",
                            registry.dag_run_actor("retrain_fraud", run_id, "scheduler"))


class FlakyStore:
    """Delegates to the real store; the n-th GET of `key_suffix` raises TransientStorageError (a 503)."""

    def __init__(self, inner, key_suffix: str, nth: int = 1):
        self.inner, self.key_suffix, self.nth, self.seen, self.raised = inner, key_suffix, nth, 0, 0

    def get_with_etag(self, key):
        if key.endswith(self.key_suffix):
            self.seen += 1
            if self.seen == self.nth:
                self.raised += 1
                raise TransientStorageError(f"get s3://{self.inner.bucket}/{key}: ServiceUnavailable")
        return self.inner.get_with_etag(key)

    def get_bytes(self, key):
        return self.get_with_etag(key)[0]

    def get_json(self, key):
        return json.loads(self.get_bytes(key))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def actions(store) -> list[tuple[str, str]]:
    return [(e["action"], e["outcome"]) for e in registry.history(store, KEYS)]


# -- 1. transient is not permanent --------------------------------------------------------------
def test_transient_error_in_smoke_test_propagates(store, model_files):
    """One 503 while the smoke test fetches the champion's model: the task must retry, not fail."""
    from retrain.pipeline.smoke import smoke_test_champion

    v1 = ship(store, model_files, W1).version
    cfg = load_model_config(MODEL)
    flaky = FlakyStore(store, f"{v1}/model.joblib")
    with pytest.raises(TransientStorageError):
        smoke_test_champion(flaky, KEYS, cfg, expected_version=v1)
    assert flaky.raised == 1
    assert smoke_test_champion(store, KEYS, cfg, expected_version=v1)["status"] == "passed"  # the retry


def test_smoke_test_verdicts_still_fail(store, model_files):
    from retrain.pipeline.smoke import smoke_test_champion

    cfg = load_model_config(MODEL)
    bad = {**model_files, "model.joblib": b"not a pickle"}
    run_id = run_id_for(W1)
    v1 = version_id(W1, run_id)
    registry.publish_version(store, KEYS, v1, {**bad, "run_log.json": b"{}"}, {"week": W1.isoformat(), "run_id": run_id})
    registry.promote(store, KEYS, v1, W1, run_id, "test", ONCALL)
    result = smoke_test_champion(store, KEYS, cfg, expected_version=v1)
    assert result["status"] == "failed" and "does not deserialize" in result["reason"]


def test_transient_error_while_rollback_loads_its_target_is_not_corruption(store, model_files):
    """verify_version reads model.joblib once, the load reads it again: the 503 hits the load."""
    v1, v2 = ship(store, model_files, W1).version, ship(store, model_files, W2).version
    slots_before = store.get_bytes(KEYS.slots())
    flaky = FlakyStore(store, f"{v1}/model.joblib", nth=2)
    with pytest.raises(TransientStorageError):
        registry.rollback(flaky, KEYS, "smoke test failed", {"type": "automatic_rollback"},
                          run_id=run_id_for(W2), expected_champion=v2)
    assert flaky.raised == 1
    assert store.get_bytes(KEYS.slots()) == slots_before
    assert actions(store) == [("promote", "applied")] * 2  # no "rollback_integrity_failed" against v1
    result = registry.rollback(store, KEYS, "smoke test failed", {"type": "automatic_rollback"},
                               run_id=run_id_for(W2), expected_champion=v2)  # the retry
    assert result.status == "rolled_back" and result.slots.champion.version == v1


def test_data_version_lookup_says_what_happened(store, model_files):
    from retrain.registry.data_versions import find_data_version

    v1, v2 = publish(store, model_files, W1), publish(store, model_files, W2)
    wanted = f"hash-{W1.isoformat()}"
    assert find_data_version(store, KEYS, MODEL, wanted)["version"] == v1
    # a 503 on the matching run log: transient, never "no version was trained on it"
    with pytest.raises(TransientStorageError):
        find_data_version(FlakyStore(store, f"{v1}/run_log.json"), KEYS, MODEL, wanted)
    # the matching run log's bytes were changed: say so, naming the version
    key = KEYS.version_file(v1, "run_log.json")
    store.put_bytes(key, store.get_bytes(key) + b" ")
    with pytest.raises(IntegrityError, match=f"{v1}.*does not match its manifest"):
        find_data_version(store, KEYS, MODEL, wanted)
    assert find_data_version(store, KEYS, MODEL, f"hash-{W2.isoformat()}")["version"] == v2
    # an interrupted publication (files, no manifest) is still simply not a data version
    store.put_bytes(KEYS.version_file(version_id(W3, "x"), "run_log.json"), b"{}")
    store.put_bytes(key, files_for(model_files, W1)["run_log.json"])  # repaired
    with pytest.raises(MissingInputError, match="no published model version"):
        find_data_version(store, KEYS, MODEL, "hash-that-no-version-has")


@pytest.mark.parametrize("week", [5, None, ["2026-01-05"], {"d": 1}])
def test_malformed_slots_week_is_an_integrity_error(store, model_files, week):
    v1 = ship(store, model_files, W1).version
    raw = json.loads(store.get_bytes(KEYS.slots()))
    raw["champion"]["week"] = week
    store.put_bytes(KEYS.slots(), dumps_json(raw))
    with pytest.raises(IntegrityError, match="malformed slot"):
        registry.read_slots(store, KEYS)
    with pytest.raises(IntegrityError):
        registry.promote(store, KEYS, v1, W1, run_id_for(W1), "re-run", ONCALL)


@pytest.mark.parametrize("field,value", [("created_for_week", 5), ("created_for_week", None), ("run_id", 7)])
def test_malformed_manifest_is_an_integrity_error(store, model_files, field, value):
    v1 = publish(store, model_files, W1)
    key = KEYS.version_file(v1, registry.MANIFEST_FILE)
    manifest = json.loads(store.get_bytes(key))
    manifest[field] = value
    store.put_bytes(key, dumps_json(manifest))
    with pytest.raises(IntegrityError, match=field):
        registry.read_manifest(store, KEYS, v1)


# -- 2. rollbacks stick -------------------------------------------------------------------------
def test_rerun_of_an_older_promotion_does_not_undo_an_oncall_rollback(store, model_files):
    v1, v2, v3 = (ship(store, model_files, w).version for w in (W1, W2, W3))
    registry.rollback(store, KEYS, "W2 and W3 misbehave", ONCALL, run_id="manual__1", to_version=v1)

    for week in (W2, W3):  # re-runs of the promotions that were rolled back past
        again = ship(store, model_files, week)
        assert again.status == "superseded" and "roll back to it explicitly" in again.message
    backfill = ship(store, model_files, W2, tag="-backfill")  # a backfill: new run id, new version
    assert backfill.status == "superseded"
    slots, _ = registry.read_slots(store, KEYS)
    assert slots.champion.version == v1 and slots.retired == (v3,) and slots.retired_through_week == W3.isoformat()

    later = ship(store, model_files, W4)  # a newer data week promotes as usual
    assert later.status == "promoted"
    # only an explicit rollback naming a retired version brings it back, and the audit says so
    back = registry.rollback(store, KEYS, "v3 was fine after all", ONCALL, run_id="manual__2", to_version=v3)
    assert back.status == "rolled_back" and back.slots.champion.version == v3
    assert v3 not in back.slots.retired and later.version in back.slots.retired
    record = registry.history(store, KEYS)[-1]
    assert record["action"] == "rollback" and record["restored_retired"] is True
    assert ship(store, model_files, W3).status == "already_promoted"


def test_automatic_rollback_retires_the_version(store, model_files):
    v1, v2, v3 = (ship(store, model_files, w).version for w in (W1, W2, W3))
    registry.rollback(store, KEYS, "automatic: smoke test failed", {"type": "automatic_rollback"},
                      run_id=run_id_for(W3), expected_champion=v3)
    registry.rollback(store, KEYS, "roll back to v1 by hand", ONCALL, run_id="manual__3", to_version=v1)
    # v3 is no longer in the previous slot (the old protection); it stays retired all the same
    assert ship(store, model_files, W3).status == "superseded"
    assert registry.champion(store, KEYS).version == v1
    assert set(registry.read_slots(store, KEYS)[0].retired) == {v2, v3}


def test_stale_gate_decision_is_refused(store, model_files):
    v1 = ship(store, model_files, W1).version
    v2 = publish(store, model_files, W2)
    with pytest.raises(ConflictError, match="stale"):
        registry.promote(store, KEYS, v2, W2, run_id_for(W2), "gate passed", ONCALL, gate_champion=None)
    assert registry.champion(store, KEYS).version == v1
    assert actions(store)[-1] == ("promote_stale_gate", "refused")
    ok = registry.promote(store, KEYS, v2, W2, run_id_for(W2), "gate passed", ONCALL, gate_champion=v1)
    assert ok.status == "promoted"


def test_a_run_id_never_gets_stuck(store, model_files):
    """Published, never pointed at (the worker died before the slots write), then re-run with a
    different run log: the re-run publishes a superseding revision and finishes."""
    ship(store, model_files, W1)
    run_id = run_id_for(W2)
    first = registry.publish_run_version(store, KEYS, W2, run_id, files_for(model_files, W2),
                                         {"week": W2.isoformat(), "run_id": run_id}, ONCALL)
    changed = {**files_for(model_files, W2), "run_log.json": b'{"bundle_version": "0.2.0+new"}'}
    with pytest.raises(registry.VersionContentDiffers):  # what every re-run hit before
        registry.publish_version(store, KEYS, first["version"], changed, {"week": W2.isoformat(), "run_id": run_id})
    second = registry.publish_run_version(store, KEYS, W2, run_id, changed,
                                          {"week": W2.isoformat(), "run_id": run_id}, ONCALL)
    assert second["version"] != first["version"] and second["revision"] == 1 and second["run_id"] == run_id
    superseded = registry.history(store, KEYS)[-1]
    assert (superseded["action"], superseded["to_version"]) == ("version_superseded", first["version"])
    result = registry.promote(store, KEYS, second["version"], W2, run_id, "gate passed", ONCALL)
    assert result.status == "promoted"
    # the same re-run again converges on the same revision (idempotent), no second audit record
    assert registry.publish_run_version(store, KEYS, W2, run_id, changed,
                                        {"week": W2.isoformat(), "run_id": run_id}, ONCALL) == second
    assert [a for a, _ in actions(store)].count("version_superseded") == 1
    # a version that was champion is never superseded: its bytes are what ran in production
    with pytest.raises(RegistryError, match="never superseded"):
        registry.publish_run_version(store, KEYS, W2, run_id, {**changed, "gate.json": b"{}"},
                                     {"week": W2.isoformat(), "run_id": run_id}, ONCALL)
