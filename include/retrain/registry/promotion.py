"""Promotion: publish a run's version (a superseding revision after a crashed attempt) and point
the champion slot at it with ONE conditional write, judged again after a lost race."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import retrain.registry.audit as audit
from retrain.errors import ConflictError, IntegrityError, RegistryError
from retrain.keys import Keys, version_id
from retrain.registry.audit import change_event_id, change_record, history, refusal_record, write_record
from retrain.registry.slots import (
    ALREADY_PROMOTED,
    PROMOTED,
    SUPERSEDED,
    PromotionResult,
    Slot,
    Slots,
    check_call,
    read_slots,
    refuse,
    repair_audit,
    write_slots,
)
from retrain.registry.versions import (
    VersionContentDiffers,
    check_version,
    iso_week_of,
    publish_version,
    revision_run_key,
    verify_version,
)
from retrain.storage import ObjectNotFound, PreconditionFailed

log = logging.getLogger(__name__)

MAX_REVISIONS = 20


def publish_run_version(store, keys: Keys, week: dt.date, run_id: str, files: dict[str, bytes],
                        metadata: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
    """Publish a run's version so that a re-run can always finish.

    Revision 0 is `version_id(week, run_id)`. If a crash left it published but never pointed at and
    the re-run's content differs (a new bundle version in run_log.json, a re-evaluated gate), that
    publication is superseded - audited as `version_superseded` - and the next revision is used. A
    version that was ever champion is never superseded: its content is what ran in production.
    """
    week_iso = iso_week_of(week)
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
    check_call(reason, actor, run_id)
    week_iso = iso_week_of(week)

    slots, etag = read_slots(store, keys)
    repair_audit(store, keys, slots)
    judged = judge_promotion(slots, version, week_iso)
    if judged is not None:
        status, message = judged
        if status == ALREADY_PROMOTED:
            return PromotionResult(status, slots, message, version, (slots.updated_by or {}).get("event"))
        event = refuse(store, keys, slots, "promote_superseded", to_version=version, reason=reason,
                        actor=actor, run_id=run_id, message=message)
        return PromotionResult(status, slots, message, version, event)

    current = slots.champion.version if slots and slots.champion else None
    if gate_champion is not ... and gate_champion != current:
        message = (f"the evaluation gate of {version} compared it with champion {gate_champion}, but the "
                   f"champion is now {current}: that decision is stale, nothing was changed - re-run promote "
                   f"to re-evaluate the gate against {current}")
        refuse(store, keys, slots, "promote_stale_gate", to_version=version, reason=reason, actor=actor,
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
        refuse(store, keys, slots, action, to_version=version, reason=reason, actor=actor, run_id=run_id,
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
            "at": audit.now_iso(),  # wall-clock ok
        },
        retired=slots.retired if slots else (),
        retired_through_week=slots.retired_through_week if slots else None,
    )
    try:
        write_slots(store, keys, new, etag)
    except (PreconditionFailed, ObjectNotFound):
        # Someone (or our own lost-response write) changed the slots: re-read and re-judge, never retry.
        now, _ = read_slots(store, keys)
        repair_audit(store, keys, now)
        judged = judge_promotion(now, version, week_iso)
        if judged is not None and judged[0] == ALREADY_PROMOTED:
            return PromotionResult(ALREADY_PROMOTED, now, judged[1], version, (now.updated_by or {}).get("event"))
        if judged is not None:
            ev = refuse(store, keys, now, "promote_superseded", to_version=version, reason=reason,
                         actor=actor, run_id=run_id, message=judged[1])
            return PromotionResult(SUPERSEDED, now, judged[1], version, ev)
        message = (
            f"conflict promoting {version} of {keys.model}: the slots changed between our read "
            f"(generation {gen_before}, champion {old.version if old else None}) and our conditional write "
            f"(now generation {now.generation if now else None}, champion "
            f"{now.champion.version if now and now.champion else None}); nothing was changed - re-run to "
            f"re-evaluate against the new state"
        )
        refuse(store, keys, now, "promote_conflict", to_version=version, reason=reason, actor=actor,
                run_id=run_id, message=message)
        raise ConflictError(message) from None

    write_record(store, keys, change_record(new.to_dict()))
    message = f"promoted {version} to champion of {keys.model} (generation {new.generation}; previous " \
              f"{old.version if old else None})"
    log.info("registry %s: %s", keys.model, message)
    return PromotionResult(PROMOTED, new, message, version, event)
