"""The model registry in S3: immutable versions, one slots object, an append-only audit log.

Layout (see retrain.keys)::

    registry/{model}/versions/{version}/{file}        immutable, written with If-None-Match
    registry/{model}/versions/{version}/manifest.json written LAST: {version, model,
                                                      created_for_week, run_id, files: {name:
                                                      {sha256, size}}, metadata}; a version without
                                                      it is invisible and can never be pointed at
    registry/{model}/slots.json                       {model, champion, previous, generation,
                                                      updated_by}: the only mutable object, changed
                                                      by ONE conditional write per promotion or
                                                      rollback (If-Match the ETag read at the start,
                                                      If-None-Match when absent), never blindly retried
    registry/{model}/audit/{event}.json               one record per event (retrain.registry.audit)

Invariants: the champion always names a version whose manifest verified (every file present with
the recorded sha256 and size) at the moment it was pointed at; the previous slot is the champion
it replaced; bytes are checked against the manifest before they are returned, and
`load_verified_model` is the only place that unpickles. Every public function can be re-run after
a crash at any point and converges to the state of an uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain.errors import ConflictError, IntegrityError, ModelLoadError, RegistryError, TransientStorageError
from retrain.keys import VERSION_RE, Keys, version_id, week_start
from retrain.registry.audit import (
    change_event_id,
    change_record,
    ensure_change_recorded,
    history,
    now_iso,
    refusal_record,
    write_record,
)
from retrain.storage import ObjectNotFound, PreconditionFailed, dumps_json, sha256_hex

log = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_FILE",
    "MODEL_FILE",
    "VERSION_FILES",
    "PromotionResult",
    "RollbackResult",
    "Slot",
    "Slots",
    "UnsafeNameError",
    "champion",
    "check_file_name",
    "check_version",
    "cli_actor",
    "dag_run_actor",
    "history",
    "load_verified",
    "load_verified_model",
    "materialize",
    "promote",
    "publish_run_version",
    "record_refusal",
    "publish_version",
    "read_manifest",
    "read_slots",
    "rollback",
    "verify_version",
]

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.joblib"
# What a trained version contains (the registry itself treats files as opaque named blobs).
VERSION_FILES = (
    MODEL_FILE,
    "run_log.json",
    "gate.json",
    "reference.parquet",
    "canary.parquet",
    "canary_predictions.json",
)

# Promotion statuses
PROMOTED = "promoted"
ALREADY_PROMOTED = "already_promoted"
SUPERSEDED = "superseded"
# Rollback statuses
ROLLED_BACK = "rolled_back"
ALREADY_ROLLED_BACK = "already_rolled_back"
DRY_RUN = "dry_run"
SKIPPED = "skipped"

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_JSON = "application/json"


class VersionContentDiffers(RegistryError):
    """A version id is already taken by different bytes (versions are immutable)."""


class VersionNotPublished(RegistryError):
    """No manifest: the version was never (completely) published and cannot be pointed at."""


class UnsafeNameError(RegistryError, ValueError):
    """A version id or file name that could escape the registry prefix (or a local directory)."""


# -- names ---------------------------------------------------------------------------------------
def check_version(version: Any) -> str:
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise UnsafeNameError(f"not a model version id: {version!r} (expected e.g. 2026-W02-1a2b3c4d)")
    return version


def check_file_name(name: Any) -> str:
    """A plain file name: no '/', no '\\', not '.' or '..', no leading dot, no NUL, <= 128 chars."""
    if not isinstance(name, str) or name in (".", "..") or not _NAME_RE.match(name):
        raise UnsafeNameError(f"unsafe file name in a model version: {name!r}")
    return name


def _key(keys: Keys, version: str, name: str) -> str:
    key = keys.version_file(check_version(version), check_file_name(name))
    if not key.startswith(keys.registry_prefix()):  # belt and braces: never outside the registry
        raise UnsafeNameError(f"{key!r} is outside {keys.registry_prefix()!r}")
    return key


def _week_iso(week: dt.date | str) -> str:
    if isinstance(week, str):
        week = dt.date.fromisoformat(week)
    if not isinstance(week, dt.date):  # a malformed record: say so, never AttributeError
        raise TypeError(f"a week must be an ISO date string, not {type(week).__name__} {week!r}")
    return week_start(week).isoformat()


def _check_call(reason: Any, actor: Any, run_id: Any) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise RegistryError("a reason is required for every registry change")
    if not isinstance(actor, dict) or not isinstance(actor.get("type"), str):
        raise RegistryError(f"actor must be a dict with a 'type' (e.g. dag_run, cli), not {actor!r}")
    if not isinstance(run_id, str) or not run_id:
        raise RegistryError("a run_id is required for every registry change")


def dag_run_actor(dag_id: str, run_id: str, triggered_by: str | None = None) -> dict[str, Any]:
    return {"type": "dag_run", "dag_id": dag_id, "run_id": run_id, "triggered_by": triggered_by}


def cli_actor(user: str) -> dict[str, Any]:
    return {"type": "cli", "user": user}


# -- slots ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    version: str
    week: str  # ISO date (Monday) of the data week the version was trained for
    run_id: str

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "week": self.week, "run_id": self.run_id}

    @classmethod
    def from_dict(cls, raw: Any) -> Slot | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise IntegrityError(f"malformed slot in slots.json: {raw!r}")
        try:
            slot = cls(version=check_version(raw["version"]), week=_week_iso(raw["week"]), run_id=str(raw["run_id"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise IntegrityError(f"malformed slot in slots.json {raw!r}: {exc!r}") from exc
        return slot


@dataclass(frozen=True)
class Slots:
    model: str
    champion: Slot | None
    previous: Slot | None
    generation: int
    updated_by: dict[str, Any] = field(default_factory=dict)
    # Rollbacks stick (retrain.registry_retired): versions rolled back away from, and the newest
    # data week among them; no promotion of such a version or of a week up to it is accepted.
    retired: tuple[str, ...] = ()
    retired_through_week: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "model": self.model,
            "champion": self.champion.to_dict() if self.champion else None,
            "previous": self.previous.to_dict() if self.previous else None,
            "generation": self.generation,
            "updated_by": self.updated_by,
        }
        if self.retired or self.retired_through_week:  # absent until the first rollback
            out["retired"] = sorted(self.retired)
            out["retired_through_week"] = self.retired_through_week
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> Slots:
        if not isinstance(raw, dict):
            raise IntegrityError(f"malformed slots object: {raw!r}")
        generation = raw.get("generation")
        if not isinstance(generation, int) or generation < 0:
            raise IntegrityError(f"malformed slots object: generation {generation!r}")
        retired = raw.get("retired") or []
        through = raw.get("retired_through_week")
        try:
            retired = tuple(check_version(v) for v in retired)
            through = _week_iso(through) if through is not None else None
        except (TypeError, ValueError) as exc:  # UnsafeNameError is a ValueError
            raise IntegrityError(f"malformed slots object: retired {retired!r} / {through!r}: {exc}") from exc
        updated_by = raw.get("updated_by") or {}
        if not isinstance(updated_by, dict):
            raise IntegrityError(f"malformed slots object: updated_by {updated_by!r}")
        return cls(
            model=str(raw.get("model")),
            champion=Slot.from_dict(raw.get("champion")),
            previous=Slot.from_dict(raw.get("previous")),
            generation=generation,
            updated_by=dict(updated_by),
            retired=retired,
            retired_through_week=through,
        )


@dataclass(frozen=True)
class PromotionResult:
    status: str  # promoted | already_promoted | superseded
    slots: Slots | None  # the registry's slots after the call
    message: str
    version: str = ""
    event: str | None = None  # audit event id written (or found) for this call


@dataclass(frozen=True)
class RollbackResult:
    status: str  # rolled_back | already_rolled_back | dry_run | skipped
    slots: Slots | None  # the registry's slots after the call (unchanged for a dry run)
    message: str
    from_version: str | None = None
    to_version: str | None = None
    would_be: Slots | None = None  # dry run only: the slots a real rollback would write
    event: str | None = None


def read_slots(store, keys: Keys) -> tuple[Slots | None, str | None]:
    """The current slots and their ETag, or (None, None) if nothing was ever promoted."""
    try:
        data, etag = store.get_with_etag(keys.slots())
    except ObjectNotFound:
        return None, None
    try:
        slots = Slots.from_dict(json.loads(data))
    except ValueError as exc:
        raise IntegrityError(f"{keys.slots()} is not valid JSON: {exc}") from exc
    if slots.model != keys.model:
        raise RegistryError(f"{keys.slots()} belongs to model {slots.model!r}, not {keys.model!r}")
    return slots, etag


def champion(store, keys: Keys) -> Slot | None:
    slots, _ = read_slots(store, keys)
    return slots.champion if slots else None


def _write_slots(store, keys: Keys, new: Slots, etag: str | None) -> str:
    data = dumps_json(new.to_dict())
    if etag is None:
        return store.put_bytes(keys.slots(), data, if_none_match=True, content_type=_JSON)
    return store.put_bytes(keys.slots(), data, if_match=etag, content_type=_JSON)


def _repair(store, keys: Keys, slots: Slots | None) -> None:
    if slots is not None:
        ensure_change_recorded(store, keys, slots.to_dict())


def record_refusal(store, keys: Keys, action: str, *, to_version, reason, actor, run_id, message) -> str:
    """Audit a refused registry change decided outside this module (e.g. the on-call DAG's checks)."""
    slots, _ = read_slots(store, keys)
    return _refuse(store, keys, slots, action, to_version=to_version, reason=reason, actor=actor, run_id=run_id,
                   message=message)


def _refuse(store, keys: Keys, slots: Slots | None, action: str, *, to_version, reason, actor, run_id, message) -> str:
    record = refusal_record(
        model=keys.model,
        action=action,
        generation=slots.generation if slots else 0,
        from_version=slots.champion.version if slots and slots.champion else None,
        to_version=to_version,
        reason=reason,
        actor=actor,
        run_id=run_id,
        message=message,
    )
    write_record(store, keys, record)
    log.warning("registry %s: %s refused: %s", keys.model, action, message)
    return record["event"]


# -- versions ------------------------------------------------------------------------------------
def _validate_manifest(manifest: Any, keys: Keys, version: str) -> dict[str, Any]:
    where = f"manifest of {keys.model} version {version}"
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{where} is not a JSON object")
    if manifest.get("version") != version or manifest.get("model") != keys.model:
        raise IntegrityError(
            f"{where} names version {manifest.get('version')!r} of model {manifest.get('model')!r}"
        )
    try:
        _week_iso(manifest.get("created_for_week"))
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"{where}: bad created_for_week {manifest.get('created_for_week')!r}") from exc
    if not isinstance(manifest.get("run_id"), str) or not manifest["run_id"]:
        raise IntegrityError(f"{where}: bad run_id {manifest.get('run_id')!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IntegrityError(f"{where} lists no files")
    for name, entry in files.items():
        try:
            check_file_name(name)
        except UnsafeNameError as exc:
            raise IntegrityError(f"{where} lists an unsafe file name {name!r}") from exc
        if name == MANIFEST_FILE:
            raise IntegrityError(f"{where} lists itself as a file")
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not _SHA_RE.match(entry["sha256"])
            or not isinstance(entry.get("size"), int)
            or entry["size"] < 0
        ):
            raise IntegrityError(f"{where}: bad entry for {name}: {entry!r}")
    return manifest


def read_manifest(store, keys: Keys, version: str) -> dict[str, Any]:
    """The (structurally validated) manifest of a published version; RegistryError if unpublished."""
    key = _key(keys, version, MANIFEST_FILE)
    try:
        data, _ = store.get_with_etag(key)
    except ObjectNotFound as exc:
        raise VersionNotPublished(
            f"version {version} of {keys.model} is not published (no {key}); it cannot be pointed at"
        ) from exc
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise IntegrityError(f"{key} is not valid JSON: {exc}") from exc
    return _validate_manifest(manifest, keys, version)


def _get_checked(store, keys: Keys, version: str, manifest: dict[str, Any], name: str) -> bytes:
    entry = manifest["files"].get(name)
    if entry is None:
        raise RegistryError(f"{name} is not a file of {keys.model} version {version}")
    key = _key(keys, version, name)
    try:
        data, _ = store.get_with_etag(key)
    except ObjectNotFound as exc:
        raise IntegrityError(
            f"{key} is missing: manifest expects sha256={entry['sha256']} size={entry['size']}"
        ) from exc
    actual_sha, actual_size = sha256_hex(data), len(data)
    if actual_size != entry["size"] or actual_sha != entry["sha256"]:
        raise IntegrityError(
            f"{key} does not match its manifest: expected sha256={entry['sha256']} size={entry['size']}, "
            f"actual sha256={actual_sha} size={actual_size}"
        )
    return data


def verify_version(store, keys: Keys, version: str) -> dict[str, Any]:
    """Download every file of a version and check it against the manifest; returns the manifest."""
    manifest = read_manifest(store, keys, version)
    for name in sorted(manifest["files"]):
        _get_checked(store, keys, version, manifest, name)
    return manifest


def load_verified(store, keys: Keys, version: str, name: str) -> bytes:
    """The bytes of one file of a version, returned only if sha256 and size match the manifest."""
    check_version(version)
    check_file_name(name)
    manifest = read_manifest(store, keys, version)
    return _get_checked(store, keys, version, manifest, name)


def load_verified_model(store, keys: Keys, version: str, name: str = MODEL_FILE) -> Any:
    """The model object of a version: bytes verified against the manifest, then unpickled."""
    from retrain.storage.integrity import loads_verified

    manifest = read_manifest(store, keys, version)
    data = _get_checked(store, keys, version, manifest, name)
    return loads_verified(data, manifest["files"][name], f"{version}/{name}")


def materialize(store, keys: Keys, version: str, dest_dir: str | os.PathLike) -> dict[str, Any]:
    """Download and verify every file of a version into `dest_dir` (for a serving process).

    Each file is checked before it is renamed into place, and manifest.json is written last, so a
    directory with a manifest is complete. Local paths are built only from validated names.
    """
    manifest = read_manifest(store, keys, version)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for name in sorted(manifest["files"]) + [MANIFEST_FILE]:
        check_file_name(name)
        path = dest / name
        if path.resolve().parent != root:
            raise UnsafeNameError(f"{name!r} would be written outside {root}")
        if name == MANIFEST_FILE:
            data = dumps_json(manifest)
        else:
            data = _get_checked(store, keys, version, manifest, name)
        tmp = dest / f".{name}.partial"
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return manifest


def publish_version(
    store,
    keys: Keys,
    version: str,
    files: dict[str, bytes],
    metadata: dict[str, Any],
    *,
    week: dt.date | None = None,
    run_id: str | None = None,
    revision: int = 0,
) -> dict[str, Any]:
    """Write an immutable version (files first, manifest.json last) and return its manifest.

    `week` / `run_id` (the data week and the run that trained it) default to metadata["week"]
    (or "created_for_week") and metadata["run_id"]; the version must be keys.version_id(week, run_id).
    Idempotent: a retried task finds its own files/manifest (same bytes) and succeeds; any
    different content under an existing name raises RegistryError - a version never changes.
    `metadata` must therefore be deterministic for the run (no wall-clock values).
    """
    check_version(version)
    if not isinstance(metadata, dict):
        raise RegistryError("metadata must be a dict")
    week = week if week is not None else metadata.get("week", metadata.get("created_for_week"))
    run_id = run_id if run_id is not None else metadata.get("run_id")
    if week is None or not isinstance(run_id, str) or not run_id:
        raise RegistryError(f"version {version}: the data week and run_id are required (arguments or metadata)")
    try:
        week_iso = _week_iso(week)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"version {version}: bad week {week!r}") from exc
    expected_version = version_id(dt.date.fromisoformat(week_iso), revision_run_key(run_id, revision))
    if version != expected_version:
        raise RegistryError(f"version {version} does not belong to week {week_iso} / run {run_id!r} "
                            f"(expected {expected_version})")
    if not isinstance(files, dict) or not files:
        raise RegistryError(f"version {version}: no files to publish")
    for name, data in files.items():
        check_file_name(name)
        if name == MANIFEST_FILE:
            raise RegistryError(f"{MANIFEST_FILE} is written by the registry, not passed as a file")
        if not isinstance(data, bytes | bytearray):
            raise RegistryError(f"version {version}: {name} must be bytes, not {type(data).__name__}")

    manifest = {
        "version": version,
        "model": keys.model,
        "created_for_week": week_iso,
        "run_id": run_id,
        "files": {name: {"sha256": sha256_hex(bytes(d)), "size": len(d)} for name, d in sorted(files.items())},
        "metadata": metadata,
        **({"revision": revision} if revision else {}),
    }
    manifest_bytes = dumps_json(manifest)
    manifest = json.loads(manifest_bytes)  # the exact form that is stored (and read back)
    manifest_key = _key(keys, version, MANIFEST_FILE)

    try:  # already published (a retried task)?
        existing = read_manifest(store, keys, version)
    except VersionNotPublished:  # only "no manifest yet"; integrity and transient errors propagate
        existing = None
    if existing is not None:
        if existing != manifest:
            raise VersionContentDiffers(f"version {version} of {keys.model} is already published with different content")
        return existing

    for name in sorted(files):
        data = bytes(files[name])
        key = _key(keys, version, name)
        try:
            store.put_bytes(key, data, if_none_match=True)
        except PreconditionFailed:
            current, _ = store.get_with_etag(key)
            if current != data:
                raise VersionContentDiffers(
                    f"{key} already exists with different content (sha256 {sha256_hex(current)}, "
                    f"ours {sha256_hex(data)}): versions are immutable"
                ) from None
    try:
        store.put_bytes(manifest_key, manifest_bytes, if_none_match=True, content_type=_JSON)
    except PreconditionFailed:
        current = read_manifest(store, keys, version)
        if current != manifest:
            raise VersionContentDiffers(
                f"version {version} of {keys.model} was published concurrently with different content"
            ) from None
    log.info("registry %s: published version %s (%d files)", keys.model, version, len(files))
    return manifest


def revision_run_key(run_id: str, revision: int) -> str:
    """What a run's version id hashes: the run id, plus the revision after a superseded publication."""
    if not isinstance(revision, int) or revision < 0:
        raise RegistryError(f"bad revision {revision!r}")
    return run_id if revision == 0 else f"{run_id}#r{revision}"


MAX_REVISIONS = 20


def publish_run_version(store, keys: Keys, week: dt.date, run_id: str, files: dict[str, bytes],
                        metadata: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
    """Publish a run's version so that a re-run can always finish.

    Revision 0 is `version_id(week, run_id)`. If a crash left it published but never pointed at and
    the re-run's content differs (a new bundle version in run_log.json, a re-evaluated gate), that
    publication is superseded - audited as `version_superseded` - and the next revision is used. A
    version that was ever champion is never superseded: its content is what ran in production.
    """
    week_iso = _week_iso(week)
    pointed: set[str] | None = None
    superseded: set[str] = set()
    for revision in range(MAX_REVISIONS):
        version = version_id(dt.date.fromisoformat(week_iso), revision_run_key(run_id, revision))
        try:
            return publish_version(store, keys, version, files, metadata, week=week, run_id=run_id,
                                   revision=revision)
        except VersionContentDiffers as exc:
            if pointed is None:
                pointed, superseded = _ever_pointed_at(store, keys)
            if version in pointed:
                raise RegistryError(f"{exc}; it was champion once, so it is never superseded - "
                                    f"start a new run instead") from exc
            if version in superseded:  # recorded by an earlier re-run
                continue
            slots, _ = read_slots(store, keys)
            write_record(store, keys, refusal_record(
                model=keys.model, action="version_superseded", generation=slots.generation if slots else 0,
                from_version=slots.champion.version if slots and slots.champion else None,
                to_version=version, reason="a re-run publishes different content", actor=actor, run_id=run_id,
                message=f"{version} was published by an earlier attempt of run {run_id} but never pointed at; "
                        f"the re-run's content differs, so it publishes revision {revision + 1} instead"))
            log.warning("registry %s: %s superseded by revision %d of run %s", keys.model, version,
                        revision + 1, run_id)
    raise RegistryError(f"run {run_id} of {keys.model}: {MAX_REVISIONS} superseded publications; start a new run")


def _ever_pointed_at(store, keys: Keys) -> tuple[set[str], set[str]]:
    """(versions that were ever champion, versions already recorded as superseded)."""
    slots, _ = read_slots(store, keys)
    entries = history(store, keys)
    out = {e.get("to_version") for e in entries if e.get("outcome") == "applied"}
    if slots is not None:
        out |= {s.version for s in (slots.champion, slots.previous) if s} | set(slots.retired)
    superseded = {e.get("to_version") for e in entries if e.get("action") == "version_superseded"}
    return {v for v in out if v}, superseded


# -- promotion -----------------------------------------------------------------------------------
def judge_promotion(slots: Slots | None, version: str, week_iso: str) -> tuple[str, str] | None:
    """already_promoted / superseded (with a message), or None when the promotion may proceed."""
    if slots is None or slots.champion is None:
        return None
    cur = slots.champion
    if cur.version == version:
        return ALREADY_PROMOTED, f"{version} is already the champion of {slots.model} (generation {slots.generation})"
    if (
        slots.previous is not None
        and slots.previous.version == version
        and slots.updated_by.get("action") == "rollback"
    ) or version in slots.retired:
        return SUPERSEDED, (
            f"{version} was rolled back (generation {slots.generation}, champion now {cur.version}); "
            f"re-running its promotion does not undo a rollback - roll back to it explicitly instead"
        )
    if slots.retired_through_week is not None and week_iso <= slots.retired_through_week:
        return SUPERSEDED, (
            f"a rollback retired every data week up to {slots.retired_through_week} (champion now "
            f"{cur.version}); {version} (week {week_iso}) is not promoted by a re-run or backfill - "
            f"roll back to it explicitly instead"
        )
    if cur.week >= week_iso:
        return SUPERSEDED, (
            f"champion {cur.version} (week {cur.week}, run {cur.run_id}) is as new as or newer than "
            f"{version} (week {week_iso}); not promoted"
        )
    return None


def promote(
    store,
    keys: Keys,
    version: str,
    week: dt.date,
    run_id: str,
    reason: str,
    actor: dict[str, Any],
    *,
    gate_champion: str | None | object = ...,
) -> PromotionResult:
    """Point the champion slot at a published, verified version with ONE conditional write.

    `gate_champion` (the champion the evaluation gate compared against, from gate.json): when
    given, the promotion happens only while that version is still the champion - a decision
    taken against another champion is stale (ConflictError, audited; re-running promote
    re-evaluates the gate).
    """
    check_version(version)
    _check_call(reason, actor, run_id)
    week_iso = _week_iso(week)

    slots, etag = read_slots(store, keys)
    _repair(store, keys, slots)
    judged = judge_promotion(slots, version, week_iso)
    if judged is not None:
        status, message = judged
        if status == ALREADY_PROMOTED:
            return PromotionResult(status, slots, message, version, (slots.updated_by or {}).get("event"))
        event = _refuse(store, keys, slots, "promote_superseded", to_version=version, reason=reason,
                        actor=actor, run_id=run_id, message=message)
        return PromotionResult(status, slots, message, version, event)

    current = slots.champion.version if slots and slots.champion else None
    if gate_champion is not ... and gate_champion != current:
        message = (f"the evaluation gate of {version} compared it with champion {gate_champion}, but the "
                   f"champion is now {current}: that decision is stale, nothing was changed - re-run promote "
                   f"to re-evaluate the gate against {current}")
        _refuse(store, keys, slots, "promote_stale_gate", to_version=version, reason=reason, actor=actor,
                run_id=run_id, message=message)
        raise ConflictError(message)

    try:
        manifest = verify_version(store, keys, version)
        if manifest["created_for_week"] != week_iso:
            raise RegistryError(
                f"version {version} was trained for week {manifest['created_for_week']}, not {week_iso}"
            )
    except RegistryError as exc:  # audited and re-raised; transient errors are not RegistryErrors and propagate
        action = "promote_integrity_failed" if isinstance(exc, IntegrityError) else "promote_refused"
        _refuse(store, keys, slots, action, to_version=version, reason=reason, actor=actor, run_id=run_id,
                message=str(exc))
        raise

    old = slots.champion if slots else None
    gen_before = slots.generation if slots else 0
    event = change_event_id(gen_before + 1, "promote", run_id)
    new = Slots(
        model=keys.model,
        champion=Slot(version, manifest["created_for_week"], manifest["run_id"]),
        previous=old,
        generation=gen_before + 1,
        updated_by={
            "action": "promote",
            "event": event,
            "run_id": run_id,
            "actor": actor,
            "reason": reason,
            "from_version": old.version if old else None,
            "to_version": version,
            "generation_before": gen_before,
            "at": now_iso(),  # wall-clock ok
        },
        retired=slots.retired if slots else (),
        retired_through_week=slots.retired_through_week if slots else None,
    )
    try:
        _write_slots(store, keys, new, etag)
    except (PreconditionFailed, ObjectNotFound):
        # Someone (or our own lost-response write) changed the slots: re-read and re-judge, never retry.
        now, _ = read_slots(store, keys)
        _repair(store, keys, now)
        judged = judge_promotion(now, version, week_iso)
        if judged is not None and judged[0] == ALREADY_PROMOTED:
            return PromotionResult(ALREADY_PROMOTED, now, judged[1], version, (now.updated_by or {}).get("event"))
        if judged is not None:
            ev = _refuse(store, keys, now, "promote_superseded", to_version=version, reason=reason,
                         actor=actor, run_id=run_id, message=judged[1])
            return PromotionResult(SUPERSEDED, now, judged[1], version, ev)
        message = (
            f"conflict promoting {version} of {keys.model}: the slots changed between our read "
            f"(generation {gen_before}, champion {old.version if old else None}) and our conditional write "
            f"(now generation {now.generation if now else None}, champion "
            f"{now.champion.version if now and now.champion else None}); nothing was changed - re-run to "
            f"re-evaluate against the new state"
        )
        _refuse(store, keys, now, "promote_conflict", to_version=version, reason=reason, actor=actor,
                run_id=run_id, message=message)
        raise ConflictError(message) from None

    write_record(store, keys, change_record(new.to_dict()))
    message = f"promoted {version} to champion of {keys.model} (generation {new.generation}; previous " \
              f"{old.version if old else None})"
    log.info("registry %s: %s", keys.model, message)
    return PromotionResult(PROMOTED, new, message, version, event)


# -- rollback ------------------------------------------------------------------------------------
def _check_loads(data: bytes, manifest: dict, keys: Keys, version: str, load_check) -> None:
    """Deserialize verified model bytes; any failure (other than a transient one) -> ModelLoadError."""
    from retrain.storage.integrity import loads_verified

    if load_check is None:
        loads_verified(data, manifest["files"][MODEL_FILE], f"{version}/{MODEL_FILE}")
        return
    try:
        load_check(data)
    except (TransientStorageError, RegistryError):
        raise
    except Exception as exc:  # broad ok: transient and registry errors are re-raised above; the rest is the model's verdict
        raise ModelLoadError(
            f"{MODEL_FILE} of {keys.model} version {version} does not deserialize: {exc!r}"
        ) from exc


def rollback(
    store,
    keys: Keys,
    reason: str,
    actor: dict[str, Any],
    *,
    run_id: str,
    to_version: str | None = None,
    dry_run: bool = False,
    load_check: Callable[[bytes], Any] | None = None,
    expected_champion: str | None = None,
) -> RollbackResult:
    """Swap the champion back to the previous slot (or to `to_version`) with ONE conditional write.

    The target must be published, verify against its manifest and deserialize (`load_check(bytes)`,
    or `load_verified_model`). A dry run performs every check and reports the change but writes
    nothing at all (no audit record either). Re-running is a no-op: a default rollback right after
    a rollback, or a rollback to the current champion, returns "already_rolled_back".

    `expected_champion` (automatic rollback after a failed smoke test): only roll back if that
    version is still the champion; if it was already rolled back -> "already_rolled_back", if
    something else replaced it -> "skipped" (nothing changed, the refusal is audited).
    """
    _check_call(reason, actor, run_id)
    if to_version is not None:
        check_version(to_version)
    if expected_champion is not None:
        check_version(expected_champion)

    slots, etag = read_slots(store, keys)
    if not dry_run:
        _repair(store, keys, slots)

    def refuse(action: str, exc: RegistryError, target: str | None) -> None:
        if not dry_run:
            _refuse(store, keys, slots, action, to_version=target, reason=reason, actor=actor, run_id=run_id,
                    message=str(exc))

    if slots is None or slots.champion is None:
        exc = RegistryError(f"{keys.model} has no champion: nothing to roll back")
        refuse("rollback_refused", exc, to_version)
        raise exc
    current = slots.champion
    last_action = slots.updated_by.get("action")

    if expected_champion is not None and current.version != expected_champion:
        if last_action == "rollback" and slots.updated_by.get("from_version") == expected_champion:
            return RollbackResult(
                ALREADY_ROLLED_BACK, slots,
                f"{expected_champion} was already rolled back to {current.version} (generation {slots.generation})",
                from_version=expected_champion, to_version=current.version, event=slots.updated_by.get("event"),
            )
        message = (
            f"champion of {keys.model} is {current.version}, not {expected_champion}: not rolled back "
            f"(nothing changed)"
        )
        event = None
        if not dry_run:
            event = _refuse(store, keys, slots, "rollback_skipped", to_version=None, reason=reason, actor=actor,
                            run_id=run_id, message=message)
        return RollbackResult(SKIPPED, slots, message, from_version=None, to_version=None, event=event)

    if to_version is None:
        if last_action == "rollback" and expected_champion is not None:
            exc = RegistryError(
                f"champion {current.version} is itself the result of a rollback from "
                f"{slots.updated_by.get('from_version')}; refusing to swap back automatically - name the "
                f"version to roll back to"
            )
            refuse("rollback_refused", exc, None)
            raise exc
        if last_action == "rollback":
            return RollbackResult(
                ALREADY_ROLLED_BACK, slots,
                f"champion {current.version} is already the result of a rollback from "
                f"{slots.updated_by.get('from_version')} (generation {slots.generation}); nothing to do - "
                f"pass to_version to move the champion elsewhere",
                from_version=slots.updated_by.get("from_version"), to_version=current.version,
            )
        if slots.previous is None:
            exc = RegistryError(
                f"no previous version to roll back to for {keys.model}: champion {current.version} is the "
                f"only promoted version; champion left untouched"
            )
            refuse("rollback_refused", exc, None)
            raise exc
        target_version = slots.previous.version
    else:
        if current.version == to_version:
            return RollbackResult(
                ALREADY_ROLLED_BACK, slots, f"{to_version} is already the champion of {keys.model}; nothing to do",
                from_version=slots.updated_by.get("from_version"), to_version=to_version,
            )
        target_version = to_version

    # Transient storage errors propagate from here (the task retries); only a checksum/size/manifest
    # mismatch is an integrity failure, and a model that does not deserialize is its own verdict.
    try:
        manifest = verify_version(store, keys, target_version)
        if MODEL_FILE not in manifest["files"]:
            raise IntegrityError(f"version {target_version} has no {MODEL_FILE}")
        data = _get_checked(store, keys, target_version, manifest, MODEL_FILE)
        _check_loads(data, manifest, keys, target_version, load_check)
    except RegistryError as exc:  # audited and re-raised; transient errors are not RegistryErrors and propagate
        if isinstance(exc, IntegrityError):
            action = "rollback_integrity_failed"
        elif isinstance(exc, ModelLoadError):
            action = "rollback_load_failed"
        else:
            action = "rollback_refused"
        refuse(action, exc, target_version)
        if isinstance(exc, IntegrityError | ModelLoadError):
            raise type(exc)(f"rollback refused, champion {current.version} untouched: {exc}") from exc
        raise

    event = change_event_id(slots.generation + 1, "rollback", run_id)
    new = Slots(
        model=keys.model,
        champion=Slot(target_version, manifest["created_for_week"], manifest["run_id"]),
        previous=current,
        generation=slots.generation + 1,
        updated_by={
            "action": "rollback",
            "event": event,
            "run_id": run_id,
            "actor": actor,
            "reason": reason,
            "from_version": current.version,
            "to_version": target_version,
            "generation_before": slots.generation,
            "at": now_iso(),  # wall-clock ok
            **({"restored_retired": True} if target_version in slots.retired else {}),
        },
        # the version rolled back away from is retired (with every week up to it); an explicit
        # rollback naming a retired version brings it back (and the audit record says so)
        retired=tuple(sorted((set(slots.retired) | {current.version}) - {target_version})),
        retired_through_week=max(filter(None, (slots.retired_through_week, current.week))),
    )
    summary = f"{current.version} -> {target_version} (generation {slots.generation} -> {new.generation})"
    if dry_run:
        return RollbackResult(DRY_RUN, slots, f"dry run: would roll back {keys.model} {summary}; nothing written",
                              from_version=current.version, to_version=target_version, would_be=new)

    try:
        _write_slots(store, keys, new, etag)
    except (PreconditionFailed, ObjectNotFound):
        now, _ = read_slots(store, keys)
        _repair(store, keys, now)
        if (
            now is not None
            and now.champion is not None
            and now.champion.version == target_version
            and now.updated_by.get("action") == "rollback"
        ):
            return RollbackResult(ALREADY_ROLLED_BACK, now, f"{target_version} is already the champion "
                                  f"(rolled back at generation {now.generation})",
                                  from_version=now.updated_by.get("from_version"), to_version=target_version,
                                  event=now.updated_by.get("event"))
        message = (
            f"conflict rolling back {keys.model} {summary}: the slots changed meanwhile (now generation "
            f"{now.generation if now else None}, champion {now.champion.version if now and now.champion else None}); "
            f"nothing was changed - check the registry and re-run"
        )
        _refuse(store, keys, now, "rollback_conflict", to_version=target_version, reason=reason, actor=actor,
                run_id=run_id, message=message)
        raise ConflictError(message) from None

    write_record(store, keys, change_record(new.to_dict()))
    log.warning("registry %s: rolled back %s", keys.model, summary)
    return RollbackResult(ROLLED_BACK, new, f"rolled back {keys.model} {summary}",
                          from_version=current.version, to_version=target_version, event=event)
