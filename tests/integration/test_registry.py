"""The model registry against a real S3 endpoint (moto server on loopback).

Every test ends by checking the registry as a whole: champion and previous exist and verify
against their manifests, previous is the prior champion, and the audit log has exactly one
entry per action.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from retrain import registry
from retrain.errors import IntegrityError, ModelLoadError, RegistryError
from retrain.keys import Keys, validate_key, version_id
from retrain.registry import (
    MODEL_FILE,
    UnsafeNameError,
    cli_actor,
    dag_run_actor,
    history,
    load_verified,
    load_verified_model,
    materialize,
    promote,
    publish_version,
    read_manifest,
    read_slots,
    rollback,
    verify_version,
)
from retrain.registry.report import format_history, format_history_json, format_slots, format_slots_json
from retrain.storage import sha256_hex

pytestmark = pytest.mark.integration

MODEL = "churn"
W1, W2, W3, W5 = (dt.date(2026, 1, 5), dt.date(2026, 1, 12), dt.date(2026, 1, 19), dt.date(2026, 2, 2))


# -- helpers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    """One tiny sklearn Pipeline (scaler + LogisticRegression on 20 rows), pickled by joblib."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = (X[:, 0] + 0.1 * rng.normal(size=20) > 0).astype(int)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    buf = io.BytesIO()
    joblib.dump(pipe, buf)
    return buf.getvalue()


def run_id_for(week: dt.date, tag: str = "") -> str:
    return f"scheduled__{week.isoformat()}T02:00:00+00:00{tag}"


def files_for(model: bytes, week: dt.date, run_id: str) -> dict[str, bytes]:
    return {
        "model.joblib": model,
        "run_log.json": json.dumps({"week": week.isoformat(), "run_id": run_id}).encode(),
        "gate.json": b'{"passed": true}',
        "reference.parquet": b"PAR1-reference-" + week.isoformat().encode(),
        "canary.parquet": b"PAR1-canary",
        "canary_predictions.json": b"[0.1, 0.9]",
    }


def publish(store, keys, model: bytes, week: dt.date, tag: str = "") -> str:
    run_id = run_id_for(week, tag)
    version = version_id(week, run_id)
    metadata = {"week": week.isoformat(), "run_id": run_id, "winner": "logreg"}
    publish_version(store, keys, version, files_for(model, week, run_id), metadata)
    return version


def ship(store, keys, model: bytes, week: dt.date, tag: str = ""):
    version = publish(store, keys, model, week, tag)
    run_id = run_id_for(week, tag)
    return version, promote(store, keys, version, week, run_id, "weekly retrain passed the gate",
                            dag_run_actor("retrain_churn", run_id, "scheduler"))


def tamper(store, keys, version: str, name: str = MODEL_FILE, mode: str = "flip") -> None:
    key = keys.version_file(version, name)
    data = bytearray(store.get_bytes(key))
    if mode == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data += b"\x00"
    store.put_bytes(key, bytes(data))


def snapshot(store, keys) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list_keys(keys.registry_prefix())}


def actions(store, keys) -> list[str]:
    return [e["action"] for e in history(store, keys)]


def assert_registry(store, keys, champion: str, previous: str | None, expected_actions: list[str]) -> None:
    slots, etag = read_slots(store, keys)
    assert slots is not None and etag
    assert slots.champion.version == champion
    assert (slots.previous.version if slots.previous else None) == previous
    for version in filter(None, (champion, previous)):
        manifest = verify_version(store, keys, version)  # every file present, sha256 + size match
        assert manifest["version"] == version
        slot = slots.champion if version == champion else slots.previous
        assert (slot.week, slot.run_id) == (manifest["created_for_week"], manifest["run_id"])
    entries = history(store, keys)
    assert [e["action"] for e in entries] == expected_actions
    assert all(e.get("recorded", True) for e in entries), "an audit record is missing"
    assert len({e["event"] for e in entries}) == len(entries)
    applied = [e for e in entries if e["outcome"] == "applied"]
    assert [e["generation_after"] for e in applied] == list(range(1, slots.generation + 1))
    last = applied[-1]
    assert (last["to_version"], last["from_version"]) == (champion, previous)
    if previous is not None and last["action"] == "promote":
        assert applied[-2]["to_version"] == previous  # previous is the prior champion


# -- publish + promote --------------------------------------------------------------------------
def test_publish_then_first_and_second_promotion(store, model_bytes):
    keys = Keys(MODEL)
    v1, r1 = ship(store, keys, model_bytes, W1)
    assert r1.status == "promoted" and r1.slots.generation == 1 and r1.slots.previous is None
    manifest = read_manifest(store, keys, v1)
    assert manifest["created_for_week"] == W1.isoformat() and manifest["run_id"] == run_id_for(W1)
    assert manifest["files"][MODEL_FILE] == {"sha256": sha256_hex(model_bytes), "size": len(model_bytes)}
    assert set(manifest["files"]) == set(registry.VERSION_FILES)
    assert manifest["metadata"]["winner"] == "logreg"

    v2, r2 = ship(store, keys, model_bytes, W2)
    assert r2.status == "promoted" and r2.slots.generation == 2
    assert r2.slots.champion.version == v2 and r2.slots.previous.version == v1
    assert registry.champion(store, keys).version == v2
    assert_registry(store, keys, v2, v1, ["promote", "promote"])
    audit = history(store, keys)
    assert audit[1]["from_version"] == v1 and audit[1]["actor"]["dag_id"] == "retrain_churn"
    assert audit[1]["generation_before"] == 1 and audit[1]["generation_after"] == 2
    assert store.list_keys(keys.audit_prefix())[0].endswith("00000001-0-promote-" + "scheduled__2026-01-05T02_00_00_00_00.json")
    # the object names alone sort chronologically
    assert [json.loads(store.get_bytes(k))["generation_after"] for k in store.list_keys(keys.audit_prefix())] == [1, 2]

    # the model loads (the only unpickling path), and a serving process can materialize it
    model = load_verified_model(store, keys, v2)
    assert model.predict([[1.0, 0.0, 0.0]]).shape == (1,)


def test_promotion_and_publish_are_idempotent(store, model_bytes):
    keys = Keys(MODEL)
    v1, _ = ship(store, keys, model_bytes, W1)
    before = snapshot(store, keys)
    v1_again, again = ship(store, keys, model_bytes, W1)  # a retried / cleared task
    assert v1_again == v1 and again.status == "already_promoted"
    assert snapshot(store, keys) == before
    assert_registry(store, keys, v1, None, ["promote"])


def test_versions_are_immutable(store, model_bytes):
    keys = Keys(MODEL)
    run_id = run_id_for(W1)
    version = version_id(W1, run_id)
    meta = {"week": W1.isoformat(), "run_id": run_id}
    # a file left by an earlier attempt with DIFFERENT bytes: refused, no manifest written
    store.put_bytes(keys.version_file(version, "gate.json"), b'{"passed": false}')
    with pytest.raises(RegistryError, match="immutable"):
        publish_version(store, keys, version, files_for(model_bytes, W1, run_id), meta)
    assert not store.exists(keys.version_file(version, "manifest.json"))
    # a version without manifest is invisible: it can never be promoted
    with pytest.raises(RegistryError, match="not published"):
        promote(store, keys, version, W1, run_id, "gate passed", dag_run_actor("retrain_churn", run_id))
    assert read_slots(store, keys) == (None, None)

    keys2 = Keys("other")
    publish_version(store, keys2, version, files_for(model_bytes, W1, run_id), meta)
    with pytest.raises(RegistryError, match="different content"):
        publish_version(store, keys2, version, files_for(model_bytes + b"x", W1, run_id), meta)
    with pytest.raises(RegistryError, match="does not belong"):
        publish_version(store, keys2, version_id(W2, run_id), files_for(model_bytes, W1, run_id), meta)
    with pytest.raises(UnsafeNameError):
        publish_version(store, keys2, version, {"../slots.json": b"{}"}, meta)
    with pytest.raises(RegistryError, match="written by the registry"):
        publish_version(store, keys2, version, {"manifest.json": b"{}"}, meta)


def test_older_week_rerun_is_superseded_and_recorded_once(store, model_bytes):
    keys = Keys(MODEL)
    v3, _ = ship(store, keys, model_bytes, W3)
    v5, _ = ship(store, keys, model_bytes, W5)
    # week 3 is re-run (cleared task / backfill) after week 5 was promoted - twice
    for _ in range(2):
        version, result = ship(store, keys, model_bytes, W3, tag="-rerun")
        assert result.status == "superseded" and "newer" in result.message
        assert result.slots.champion.version == v5
    # a second run for the SAME week as the champion is refused too
    _, same_week = ship(store, keys, model_bytes, W5, tag="-manual")
    assert same_week.status == "superseded"
    assert_registry(store, keys, v5, v3, ["promote", "promote", "promote_superseded", "promote_superseded"])
    refusals = [e for e in history(store, keys) if e["outcome"] == "refused"]
    assert [e["to_version"] for e in refusals] == [version, version_id(W5, run_id_for(W5, "-manual"))]
    assert all(e["generation_after"] == 2 and e["from_version"] == v5 for e in refusals)


# -- integrity ----------------------------------------------------------------------------------
def test_tampered_model_is_refused_before_unpickling(store, model_bytes, monkeypatch, tmp_path):
    import joblib

    keys = Keys(MODEL)
    v1, _ = ship(store, keys, model_bytes, W1)
    tamper(store, keys, v1)

    def never(*args, **kwargs):
        pytest.fail("joblib.load was called on unverified bytes")

    monkeypatch.setattr(joblib, "load", never)
    with pytest.raises(IntegrityError) as err:
        load_verified_model(store, keys, v1)
    msg = str(err.value)
    assert MODEL_FILE in msg and sha256_hex(model_bytes) in msg and "actual sha256=" in msg
    with pytest.raises(IntegrityError):
        load_verified(store, keys, v1, MODEL_FILE)
    with pytest.raises(IntegrityError):
        verify_version(store, keys, v1)
    dest = tmp_path / "serving"
    with pytest.raises(IntegrityError):
        materialize(store, keys, v1, dest)
    assert not (dest / MODEL_FILE).exists() and not (dest / "manifest.json").exists()
    # other files of the version still load (they verify on their own)
    assert load_verified(store, keys, v1, "gate.json") == b'{"passed": true}'

    # a size change is caught as well
    tamper(store, keys, v1, "canary.parquet", mode="append")
    with pytest.raises(IntegrityError, match="size"):
        load_verified(store, keys, v1, "canary.parquet")

    # a tampered challenger is never promoted; the refusal is audited, the champion untouched
    v2 = publish(store, keys, model_bytes, W2)
    tamper(store, keys, v2, "reference.parquet")
    with pytest.raises(IntegrityError):
        promote(store, keys, v2, W2, run_id_for(W2), "gate passed", dag_run_actor("retrain_churn", run_id_for(W2)))
    slots, _ = read_slots(store, keys)
    assert slots.champion.version == v1 and slots.generation == 1
    assert actions(store, keys) == ["promote", "promote_integrity_failed"]


def test_materialize_downloads_verified_files(store, model_bytes, tmp_path):
    keys = Keys(MODEL)
    v1, _ = ship(store, keys, model_bytes, W1)
    dest = tmp_path / "model"
    manifest = materialize(store, keys, v1, dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted([*registry.VERSION_FILES, "manifest.json"])
    assert (dest / MODEL_FILE).read_bytes() == model_bytes
    assert json.loads((dest / "manifest.json").read_text()) == manifest
    materialize(store, keys, v1, dest)  # idempotent
    assert_registry(store, keys, v1, None, ["promote"])


# -- rollback -----------------------------------------------------------------------------------
def _three_versions(store, keys, model_bytes):
    return [ship(store, keys, model_bytes, w)[0] for w in (W1, W2, W3)]


def test_rollback_to_previous_and_twice_is_idempotent(store, model_bytes):
    keys = Keys(MODEL)
    v1, v2, v3 = _three_versions(store, keys, model_bytes)
    oncall = cli_actor("alice")
    result = rollback(store, keys, "bad predictions in prod", oncall, run_id="manual__1")
    assert result.status == "rolled_back" and (result.from_version, result.to_version) == (v3, v2)
    assert result.slots.generation == 4
    assert_registry(store, keys, v2, v3, ["promote"] * 3 + ["rollback"])

    before = snapshot(store, keys)
    again = rollback(store, keys, "bad predictions in prod", oncall, run_id="manual__1")  # the same run re-run
    other = rollback(store, keys, "still bad?", oncall, run_id="manual__2")  # a second rollback request
    assert again.status == "already_rolled_back" and other.status == "already_rolled_back"
    assert snapshot(store, keys) == before
    assert_registry(store, keys, v2, v3, ["promote"] * 3 + ["rollback"])
    entry = history(store, keys)[-1]
    assert entry["actor"] == {"type": "cli", "user": "alice"} and entry["reason"] == "bad predictions in prod"

    # re-running week 3's promotion (a cleared task) does not silently undo the rollback
    _, rerun = ship(store, keys, model_bytes, W3)
    assert rerun.status == "superseded" and "rolled back" in rerun.message
    assert_registry(store, keys, v2, v3, ["promote"] * 3 + ["rollback", "promote_superseded"])


def test_rollback_to_named_version(store, model_bytes):
    keys = Keys(MODEL)
    v1, v2, v3 = _three_versions(store, keys, model_bytes)
    checked = []
    result = rollback(store, keys, "restore the January model", cli_actor("bob"), run_id="manual__2",
                      to_version=v1, load_check=checked.append)
    assert result.status == "rolled_back" and checked == [model_bytes]
    assert_registry(store, keys, v1, v3, ["promote"] * 3 + ["rollback"])
    again = rollback(store, keys, "restore the January model", cli_actor("bob"), run_id="manual__2", to_version=v1)
    assert again.status == "already_rolled_back"
    with pytest.raises(RegistryError, match="not published"):
        rollback(store, keys, "typo", cli_actor("bob"), run_id="manual__3", to_version=version_id(W5, "nope"))
    assert_registry(store, keys, v1, v3, ["promote"] * 3 + ["rollback", "rollback_refused"])


def test_rollback_dry_run_changes_nothing(store, model_bytes):
    keys = Keys(MODEL)
    v1, v2, v3 = _three_versions(store, keys, model_bytes)
    before = snapshot(store, keys)
    result = rollback(store, keys, "what if", cli_actor("carol"), run_id="manual__3", dry_run=True)
    assert result.status == "dry_run" and (result.from_version, result.to_version) == (v3, v2)
    assert result.would_be.champion.version == v2 and result.would_be.previous.version == v3
    assert result.slots.champion.version == v3
    named = rollback(store, keys, "what if", cli_actor("carol"), run_id="manual__3", to_version=v1, dry_run=True)
    assert named.would_be.champion.version == v1
    assert snapshot(store, keys) == before
    assert_registry(store, keys, v3, v2, ["promote"] * 3)


def test_rollback_without_previous_leaves_champion(store, model_bytes):
    keys = Keys(MODEL)
    with pytest.raises(RegistryError, match="no champion"):
        rollback(store, keys, "empty", cli_actor("dave"), run_id="manual__0", dry_run=True)
    v1, _ = ship(store, keys, model_bytes, W1)
    for _ in range(2):
        with pytest.raises(RegistryError, match="no previous version to roll back to"):
            rollback(store, keys, "oops", cli_actor("dave"), run_id="manual__4")
    assert_registry(store, keys, v1, None, ["promote", "rollback_refused"])


def test_rollback_to_corrupt_target_leaves_champion(store, model_bytes):
    keys = Keys(MODEL)
    v1, v2, v3 = _three_versions(store, keys, model_bytes)
    tamper(store, keys, v2)
    with pytest.raises(IntegrityError, match="untouched"):
        rollback(store, keys, "bad v3", cli_actor("erin"), run_id="manual__5")
    # checksums fine but the model file does not deserialize (e.g. pickled by an incompatible sklearn)
    v4 = version_id(W5, run_id_for(W5))
    publish_version(store, keys, v4, {**files_for(b"not a pickle", W5, run_id_for(W5))},
                    {"week": W5.isoformat(), "run_id": run_id_for(W5)})
    # (its own verdict, issue 9: the bytes match their manifest, so it is not an integrity failure)
    with pytest.raises(ModelLoadError, match="does not deserialize"):
        rollback(store, keys, "bad v3", cli_actor("erin"), run_id="manual__6", to_version=v4)
    with pytest.raises(ModelLoadError, match="does not deserialize"):
        rollback(store, keys, "bad v3", cli_actor("erin"), run_id="manual__7", to_version=v1,
                 load_check=lambda data: (_ for _ in ()).throw(ValueError("incompatible")))
    slots, _ = read_slots(store, keys)
    assert slots.champion.version == v3 and slots.previous.version == v2 and slots.generation == 3
    assert actions(store, keys) == ["promote"] * 3 + ["rollback_integrity_failed"] + ["rollback_load_failed"] * 2


def test_automatic_rollback_only_if_champion_is_expected(store, model_bytes):
    keys = Keys(MODEL)
    v1, v2, v3 = _three_versions(store, keys, model_bytes)
    actor = {"type": "automatic_rollback", "dag_id": "retrain_churn", "run_id": run_id_for(W2)}
    skipped = rollback(store, keys, "smoke test failed", actor, run_id=run_id_for(W2), expected_champion=v2)
    assert skipped.status == "skipped"
    done = rollback(store, keys, "smoke test failed", actor, run_id=run_id_for(W3), expected_champion=v3)
    assert done.status == "rolled_back" and done.slots.champion.version == v2
    again = rollback(store, keys, "smoke test failed", actor, run_id=run_id_for(W3), expected_champion=v3)
    assert again.status == "already_rolled_back"
    assert_registry(store, keys, v2, v3, ["promote"] * 3 + ["rollback_skipped", "rollback"])


# -- names --------------------------------------------------------------------------------------
class NoCallsStore:
    """Fails the test if the registry touches S3 before refusing an unsafe name."""

    def __getattr__(self, name):
        pytest.fail(f"S3 was called ({name}) for an unsafe name")


@pytest.mark.parametrize("name", ["../slots.json", "/etc/passwd", "a/b", "..", ".", "", "x\\y", ".hidden", "a\x00"])
def test_unsafe_file_names_are_refused(name):
    keys = Keys(MODEL)
    with pytest.raises(UnsafeNameError):
        load_verified(NoCallsStore(), keys, "2026-W02-0123abcd", name)


@pytest.mark.parametrize("version", ["../2026-W02-0123abcd", "/abs", "2026-W02-0123abcd/..", "latest", "2026-W02-XYZ"])
def test_unsafe_versions_are_refused(version, tmp_path):
    keys = Keys(MODEL)
    with pytest.raises(UnsafeNameError):
        load_verified(NoCallsStore(), keys, version, MODEL_FILE)
    with pytest.raises(UnsafeNameError):
        materialize(NoCallsStore(), keys, version, tmp_path)
    with pytest.raises(UnsafeNameError):
        rollback(NoCallsStore(), keys, "x", cli_actor("eve"), run_id="r", to_version=version)
    for key in ("../x", "/abs/key", "a/../b", "a//b"):
        with pytest.raises(ValueError):
            validate_key(key)


def test_manifest_with_unsafe_names_is_never_materialized(store, model_bytes, tmp_path):
    keys = Keys(MODEL)
    v1 = publish(store, keys, model_bytes, W1)
    key = keys.version_file(v1, "manifest.json")
    manifest = json.loads(store.get_bytes(key))
    manifest["files"]["../../escape.txt"] = {"sha256": "0" * 64, "size": 0}
    store.put_bytes(key, json.dumps(manifest).encode())
    dest = tmp_path / "serving" / "churn"
    with pytest.raises(IntegrityError, match="unsafe file name"):
        materialize(store, keys, v1, dest)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "serving" / "escape.txt").exists()
    with pytest.raises(IntegrityError):
        promote(store, keys, v1, W1, run_id_for(W1), "gate passed", dag_run_actor("retrain_churn", run_id_for(W1)))
    assert read_slots(store, keys) == (None, None)


# -- report -------------------------------------------------------------------------------------
def test_report_renders_slots_and_history(store, model_bytes):
    keys = Keys(MODEL)
    assert "no champion" in format_slots(None)
    assert "no registry events" in format_history([])
    v1, v2, v3 = _three_versions(store, keys, model_bytes)
    ship(store, keys, model_bytes, W1, tag="-late")  # superseded
    rollback(store, keys, "latency regression", cli_actor("frank"), run_id="manual__9")
    slots, _ = read_slots(store, keys)
    text = format_slots(slots)
    assert v2 in text and v3 in text and "generation: 4" in text and "cli:frank" in text
    assert json.loads(format_slots_json(slots))["champion"]["version"] == v2
    entries = history(store, keys)
    table = format_history(entries)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["GEN", "TIME", "ACTION"] and len(lines) == 2 + 5
    assert "promote_superseded [refused]" in table and f"{v3} -> {v2}" in table
    assert "dag_run:retrain_churn/" in table and "latency regression" in table
    assert json.loads(format_history_json(entries)) == entries
