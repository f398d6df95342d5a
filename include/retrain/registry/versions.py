"""Immutable model versions: names, manifests, verified reads and publication.

A version's files are written with If-None-Match, its manifest.json LAST; bytes are returned only
after they match the manifest's sha256 and size, and `load_verified_model` is the only unpickling.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from retrain.errors import IntegrityError, RegistryError
from retrain.keys import VERSION_RE, Keys, version_id, week_start
from retrain.storage import ObjectNotFound, PreconditionFailed, dumps_json, sha256_hex

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"


MODEL_FILE = "model.joblib"


VERSION_FILES = (
    MODEL_FILE,
    "run_log.json",
    "gate.json",
    "reference.parquet",
    "canary.parquet",
    "canary_predictions.json",
)

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


JSON_TYPE = "application/json"


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


def version_key(keys: Keys, version: str, name: str) -> str:
    key = keys.version_file(check_version(version), check_file_name(name))
    if not key.startswith(keys.registry_prefix()):  # belt and braces: never outside the registry
        raise UnsafeNameError(f"{key!r} is outside {keys.registry_prefix()!r}")
    return key


def iso_week_of(week: dt.date | str) -> str:
    if isinstance(week, str):
        week = dt.date.fromisoformat(week)
    if not isinstance(week, dt.date):  # a malformed record: say so, never AttributeError
        raise TypeError(f"a week must be an ISO date string, not {type(week).__name__} {week!r}")
    return week_start(week).isoformat()


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
        iso_week_of(manifest.get("created_for_week"))
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
    key = version_key(keys, version, MANIFEST_FILE)
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


def get_checked(store, keys: Keys, version: str, manifest: dict[str, Any], name: str) -> bytes:
    entry = manifest["files"].get(name)
    if entry is None:
        raise RegistryError(f"{name} is not a file of {keys.model} version {version}")
    key = version_key(keys, version, name)
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
        get_checked(store, keys, version, manifest, name)
    return manifest


def load_verified(store, keys: Keys, version: str, name: str) -> bytes:
    """The bytes of one file of a version, returned only if sha256 and size match the manifest."""
    check_version(version)
    check_file_name(name)
    manifest = read_manifest(store, keys, version)
    return get_checked(store, keys, version, manifest, name)


def load_verified_model(store, keys: Keys, version: str, name: str = MODEL_FILE) -> Any:
    """The model object of a version: bytes verified against the manifest, then unpickled."""
    from retrain.storage.integrity import loads_verified

    manifest = read_manifest(store, keys, version)
    data = get_checked(store, keys, version, manifest, name)
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
            data = get_checked(store, keys, version, manifest, name)
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
        week_iso = iso_week_of(week)
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
    manifest_key = version_key(keys, version, MANIFEST_FILE)

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
        key = version_key(keys, version, name)
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
        store.put_bytes(manifest_key, manifest_bytes, if_none_match=True, content_type=JSON_TYPE)
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
