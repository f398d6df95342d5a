"""The audit log of the model registry: one immutable S3 object per registry event.

Object names (under ``keys.audit_prefix()``) sort chronologically with a plain ``list_keys``::

    {generation:08d}-0-{action}-{run}.json             a change of the slots (promote, rollback);
                                                       `generation` is the generation it PRODUCED
    {generation:08d}-1-{action}-{version}-{run}.json   a refusal (superseded, conflict, integrity
                                                       failure, nothing to roll back); `generation`
                                                       is the generation it SAW

so a refusal sorts after the change that produced the generation it saw and before the next change.
Refusals seen at the same generation are ordered by their wall-clock `at` in `history()`. Every name
is deterministic (generation, action, version, run id - never the clock), and every record is written
with If-None-Match, so a re-run of the same task never adds a second record for the same event.

Crash safety - "write after, repair from the slots" (the slots object is the source of truth):
    Every slots write carries the complete description of its change in ``updated_by`` (action,
    event id, from/to version, actor, reason, run id, generation before, wall-clock time), and the
    audit record of a change is a pure function of the slots object that made it
    (`change_record`). The record is written right AFTER the conditional slots write succeeded, so
    the log never claims a change that did not happen. If the process dies between the two writes,
    the record is re-derived - byte-identical - from the slots and written by the next registry
    operation before it does anything else (`ensure_change_recorded`): the retried task (which sees
    "already_promoted"), any later promotion or rollback, or a racer that lost against it. A later
    change can only happen after that repair, so no change event is ever lost, and `history()`
    shows the record of the current slots even while it is still missing in S3.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from retrain.keys import Keys, run_slug
from retrain.storage import ObjectNotFound, PreconditionFailed, dumps_json

log = logging.getLogger(__name__)

APPLIED = "applied"
REFUSED = "refused"

_EVENT_RE = re.compile(r"^(\d{8})-([01])-")


def now_iso() -> str:
    """The wall-clock time of an event (a recorded fact, never used to build a key)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")  # wall-clock ok


def change_event_id(generation_after: int, action: str, run_id: str) -> str:
    return run_slug(f"{generation_after:08d}-0-{action}-{run_id}")


def refusal_event_id(generation_seen: int, action: str, version: str | None, run_id: str) -> str:
    return run_slug(f"{generation_seen:08d}-1-{action}-{version or 'none'}-{run_id}")


def change_record(slots: dict[str, Any]) -> dict[str, Any] | None:
    """The audit record of the change that produced `slots` (a pure function of the slots object)."""
    ub = slots.get("updated_by") or {}
    if not ub.get("event"):
        return None
    return {
        "event": ub["event"],
        "action": ub.get("action"),
        "outcome": APPLIED,
        "model": slots.get("model"),
        "from_version": ub.get("from_version"),
        "to_version": ub.get("to_version"),
        "reason": ub.get("reason"),
        "actor": ub.get("actor"),
        "run_id": ub.get("run_id"),
        "generation_before": ub.get("generation_before"),
        "generation_after": slots.get("generation"),
        "at": ub.get("at"),
        # an explicit rollback that brought back a version a rollback had retired
        **({"restored_retired": True} if ub.get("restored_retired") else {}),
    }


def refusal_record(
    *,
    model: str,
    action: str,
    generation: int,
    from_version: str | None,
    to_version: str | None,
    reason: str,
    actor: dict[str, Any],
    run_id: str,
    message: str,
) -> dict[str, Any]:
    return {
        "event": refusal_event_id(generation, action, to_version, run_id),
        "action": action,
        "outcome": REFUSED,
        "model": model,
        "from_version": from_version,
        "to_version": to_version,
        "reason": reason,
        "actor": actor,
        "run_id": run_id,
        "generation_before": generation,
        "generation_after": generation,
        "message": message,
        "at": now_iso(),
    }


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("at", "message")}


def write_record(store, keys: Keys, record: dict[str, Any]) -> bool:
    """Write one record exactly once; True if this call created it, False if it was already there."""
    key = keys.audit_event(record["event"])
    try:
        store.put_bytes(key, dumps_json(record), if_none_match=True, content_type="application/json")
        return True
    except PreconditionFailed:
        # A re-run of the same event (same deterministic name). Keep the first record.
        existing, _ = store.get_with_etag(key)
        if _identity(json.loads(existing)) != _identity(json.loads(dumps_json(record))):
            log.warning("audit record %s already exists with different content; keeping the first one", key)
        return False


def ensure_change_recorded(store, keys: Keys, slots: dict[str, Any] | None) -> bool:
    """Write the audit record of the change that produced `slots` if a crash left it missing."""
    record = change_record(slots or {})
    if record is None:
        return False
    if store.head(keys.audit_event(record["event"])) is not None:
        return False
    created = write_record(store, keys, record)
    if created:
        log.warning("audit: repaired the missing record %s (generation %s)", record["event"], record["generation_after"])
    return created


def sort_key(record: dict[str, Any]) -> tuple:
    match = _EVENT_RE.match(str(record.get("event", "")))
    if match:
        generation, phase = int(match.group(1)), int(match.group(2))
    else:
        generation = int(record.get("generation_after") or 0)
        phase = 0 if record.get("outcome") == APPLIED else 1
    return (generation, phase, str(record.get("at") or ""), str(record.get("event", "")))


def history(store, keys: Keys) -> list[dict[str, Any]]:
    """Every audit record of the model, oldest first (read-only).

    If the change that produced the current slots has no record yet (a crash between the slots
    write and the audit write that no later operation has repaired), it is included, derived from
    the slots and marked ``"recorded": False``.
    """
    prefix = keys.audit_prefix()
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key in store.list_keys(prefix):
        name = key[len(prefix) :]
        if "/" in name or not name.endswith(".json"):
            continue
        data, _ = store.get_with_etag(key)
        try:
            record = json.loads(data)
        except ValueError:
            log.warning("audit: %s is not JSON; skipped", key)
            continue
        if not isinstance(record, dict):
            continue
        entries.append(record)
        seen.add(str(record.get("event", name[: -len(".json")])))
    try:
        raw, _ = store.get_with_etag(keys.slots())
        pending = change_record(json.loads(raw))
    except ObjectNotFound:
        pending = None
    if pending is not None and run_slug(pending["event"]) not in seen:
        entries.append({**pending, "recorded": False})
    return sorted(entries, key=sort_key)
