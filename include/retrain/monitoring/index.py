"""The monitoring index: one small JSON object per model, so a page view reads one object
instead of listing and downloading every run's records.

    {prefix}/monitoring/{model}/index.json
        {"model", "runs": {run_id: entry}, "registry_events": {event_id: audit record}}

`record_outcome` merges its run's entry (keyed by run id: a cleared or re-run task rewrites its own
entry, never adds a second one) with a conditional write (If-Match on the ETag read, or
If-None-Match for the first write), retrying on a lost race, so two models' or two runs' writers
never drop each other's entries. Registry audit records are immutable once written, so the index
also caches those it has seen; a reader fetches only the events written since (e.g. an on-call
rollback between two weekly runs).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from retrain.errors import TransientStorageError
from retrain.keys import Keys, validate_key
from retrain.storage import ObjectNotFound, PreconditionFailed, dumps_json

log = logging.getLogger(__name__)

INDEX_VERSION = 1
MAX_WRITE_ATTEMPTS = 8
MAX_EXAMPLES = 5  # offending values kept per failed expectation
MAX_TEXT = 300  # characters kept of any free text from the data


def index_key(keys: Keys) -> str:
    base = [keys.prefix] if keys.prefix else []
    return validate_key("/".join([*base, "monitoring", keys.model, "index.json"]))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _failed_checks(validation: dict | None) -> list[dict]:
    out = []
    for r in (validation or {}).get("results") or []:
        if r.get("success"):
            continue
        examples = [_text(v) for v in (r.get("unexpected_examples") or [])[:MAX_EXAMPLES]]
        if r.get("missing_columns"):
            examples = [f"missing column: {c}" for c in r["missing_columns"][:MAX_EXAMPLES]] + examples
        if r.get("unexpected_columns"):
            examples = [f"unexpected column: {_text(c)}" for c in r["unexpected_columns"][:MAX_EXAMPLES]] + examples
        out.append({
            "expectation": r.get("expectation_type"),
            "column": r.get("column"),
            "severity": r.get("severity"),
            "unexpected_count": r.get("unexpected_count"),
            "unexpected_percent": r.get("unexpected_percent"),
            "observed": _text(r.get("observed_value")),
            "examples": examples,
            "message": _text(r.get("message") or r.get("exception")),
        })
    return out


def _drift(decision: dict | None) -> dict | None:
    """PSI per feature (with its noise floor and band) and KS on scores, as the trigger saw them."""
    signals = (decision or {}).get("signals") or {}
    features = (signals.get("drift") or {}).get("features") or {}
    if not features and signals.get("score_ks") is None:
        return None
    thresholds = signals.get("thresholds") or {}
    return {
        "features": {f: {k: e.get(k) for k in ("psi", "noise_floor", "band", "effective")}
                     for f, e in features.items()},
        "psi_warn": thresholds.get("psi_warn"),
        "psi_action": thresholds.get("psi_action"),
        "ks": signals.get("score_ks"),
        "ks_action": thresholds.get("ks_action"),
    }


def index_entry(outcome: dict, records: dict[str, dict | None]) -> dict:
    """The part of one run that the page shows: small, and a pure function of the run's records."""
    gate = records.get("gate") or {}
    validation = records.get("validation")
    return {
        "run_id": outcome.get("run_id"),
        "dag_id": outcome.get("dag_id"),
        "week": outcome.get("week"),
        "logical_date": outcome.get("logical_date"),
        "outcome": outcome.get("outcome"),
        "ok": outcome.get("ok"),
        "reason": _text(outcome.get("reason")),
        "trigger": outcome.get("trigger"),
        "trigger_reason": _text(outcome.get("trigger_reason")),
        "challenger_version": outcome.get("challenger_version"),
        "champion_after": outcome.get("champion_after"),
        "gate": None if not gate else {
            "passed": gate.get("passed"),
            "first_deployment": gate.get("first_deployment"),
            "reasons": [_text(r) for r in gate.get("reasons") or []],
            "challenger": gate.get("challenger") or {},
            "champion": gate.get("champion") or {},
        },
        "validation": None if validation is None else {
            "passed": validation.get("passed"),
            "status": validation.get("status"),
            "total": validation.get("total"),
            "failed": validation.get("failed"),
            "failures": _failed_checks(validation),
        },
        "drift": _drift(records.get("decision")),
    }


def read_index(store, keys: Keys) -> tuple[dict, str | None]:
    """The index and its ETag; an empty index (and None) when no run has written one yet."""
    try:
        data, etag = store.get_with_etag(index_key(keys))
    except ObjectNotFound:
        return {"version": INDEX_VERSION, "model": keys.model, "runs": {}, "registry_events": {}}, None
    return json.loads(data), etag


def new_registry_events(store, keys: Keys, known: dict) -> dict[str, dict]:
    """Audit records not yet in `known`: one LIST, and one GET per new record only."""
    out = {}
    prefix = keys.audit_prefix()
    for key in store.list_keys(prefix):
        event = key[len(prefix):].removesuffix(".json")
        if event not in known:
            out[event] = store.get_json(key)
    return out


def merge(index: dict, entry: dict | None, events: dict[str, dict]) -> dict:
    """Pure: the index with `entry` (replacing any entry of the same run) and `events` added."""
    runs = dict(index.get("runs") or {})
    if entry is not None:
        runs[entry["run_id"]] = entry
    return {**index, "version": INDEX_VERSION, "runs": runs,
            "registry_events": {**(index.get("registry_events") or {}), **events}}


def update_index(store, keys: Keys, entry: dict | None) -> dict:
    """Merge `entry` and the new audit records into the index with a conditional write.

    A lost race (412) re-reads and merges again; after MAX_WRITE_ATTEMPTS the error is transient
    (Airflow retries the task). Writing the same content again is skipped: re-runs cost one GET.
    """
    for _attempt in range(MAX_WRITE_ATTEMPTS):
        index, etag = read_index(store, keys)
        updated = merge(index, entry, new_registry_events(store, keys, index.get("registry_events") or {}))
        if etag is not None and dumps_json(updated) == dumps_json(index):
            return updated
        try:
            if etag is None:
                store.put_json(index_key(keys), updated, if_none_match=True)
            else:
                store.put_json(index_key(keys), updated, if_match=etag)
            return updated
        except PreconditionFailed:
            log.info("monitoring index of %s changed while merging run %s; merging again", keys.model,
                     entry and entry.get("run_id"))
        except ObjectNotFound:  # If-Match on an index deleted meanwhile
            log.info("monitoring index of %s vanished while merging; writing it again", keys.model)
    raise TransientStorageError(f"monitoring index of {keys.model}: lost {MAX_WRITE_ATTEMPTS} conditional "
                                "writes in a row")


def load_for_page(store, keys: Keys) -> tuple[dict, dict | None]:
    """What a page view reads: the index, the slots object, and only the registry events written
    since the last run (one LIST + one GET each; a reader never writes)."""
    from retrain.registry.audit import change_record

    index, _ = read_index(store, keys)
    events = new_registry_events(store, keys, index.get("registry_events") or {})
    try:
        slots = store.get_json(keys.slots())
    except ObjectNotFound:
        slots = None
    pending = change_record(slots) if slots else None
    known = {**(index.get("registry_events") or {}), **events}
    if pending is not None and not any(e.get("event") == pending["event"] for e in known.values()):
        events[pending["event"]] = {**pending, "recorded": False}  # crash between slots and audit write
    return merge(index, None, events), slots
