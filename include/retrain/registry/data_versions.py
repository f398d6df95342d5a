"""Which published model version a `data_version` param names.

A version id names itself; a content hash is looked up in the run logs of every published version.
Errors say what happened: a transient storage error propagates (the task retries), a version whose
bytes do not match its manifest is named in the error rather than skipped as "not found", and only
versions that are unpublished (no manifest: an interrupted publication) or that carry no data
window are skipped.
"""

from __future__ import annotations

import json
from typing import Any

from retrain.errors import IntegrityError, MissingInputError
from retrain.keys import VERSION_RE, Keys


def _source(store, keys: Keys, version: str) -> dict[str, Any]:
    from retrain import registry

    raw = registry.load_verified(store, keys, version, "run_log.json")  # IntegrityError / RegistryError
    try:
        run_log = json.loads(raw)
        return {"version": version, "run_id": run_log["run_id"], "week": run_log["week"],
                "content_hash": run_log["data_window"]["content_hash"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise MissingInputError(f"version {version}: its run_log.json records no data window ({exc!r})") from exc


def find_data_version(store, keys: Keys, model: str, data_version: str) -> dict[str, Any]:
    from retrain.registry import VersionNotPublished

    data_version = data_version.strip()
    if VERSION_RE.match(data_version):
        return _source(store, keys, data_version)
    prefix = keys.registry_prefix() + "versions/"
    versions = sorted({k[len(prefix):].split("/")[0] for k in store.list_keys(prefix)}, reverse=True)
    unverifiable: list[str] = []
    for version in (v for v in versions if VERSION_RE.match(v)):
        try:
            found = _source(store, keys, version)
        except IntegrityError as exc:  # corrupt: it may be the one asked for, so it is reported below
            unverifiable.append(f"{version}: {exc}")
            continue
        except MissingInputError:  # published without a data window (not a data version)
            continue
        except VersionNotPublished:  # an interrupted publication has no manifest yet
            continue
        if found["content_hash"] == data_version:
            return found
    if unverifiable:
        raise IntegrityError(
            f"data version {data_version!r}: no verified version of {model} was trained on it, and "
            f"{len(unverifiable)} version(s) could not be checked because their bytes do not match their "
            "manifest: " + "; ".join(unverifiable))
    raise MissingInputError(f"data version {data_version!r}: no published model version of "
                            f"{model} was trained on it (give a version id or a run log's "
                            "data_window.content_hash)")
