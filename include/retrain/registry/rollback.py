"""Rollback: swap the champion back (to the previous slot or a named version) with ONE conditional
write, after the target verified and deserialized. `plan_rollback` is the pure decision."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import retrain.registry.audit as audit
from retrain.errors import ConflictError, IntegrityError, ModelLoadError, RegistryError, TransientStorageError
from retrain.keys import Keys
from retrain.registry.audit import change_event_id, change_record, write_record
from retrain.registry.slots import (
    ALREADY_ROLLED_BACK,
    DRY_RUN,
    ROLLED_BACK,
    SKIPPED,
    RollbackResult,
    Slot,
    Slots,
    check_call,
    read_slots,
    refuse,
    repair_audit,
    write_slots,
)
from retrain.registry.versions import MODEL_FILE, check_version, get_checked, verify_version
from retrain.storage import ObjectNotFound, PreconditionFailed

log = logging.getLogger(__name__)

REFUSED = "refused"
SWAP = "swap"


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback would do, decided from the slots alone.

    status: SWAP (to_version is the target, from_version the champion it replaces),
    ALREADY_ROLLED_BACK / SKIPPED (nothing to do), or REFUSED (`message` says why; to_version is the
    target the refusal is audited under)."""

    status: str
    message: str = ""
    from_version: str | None = None
    to_version: str | None = None
    event: str | None = None  # ALREADY_ROLLED_BACK after an automatic rollback: the event that did it


def plan_rollback(slots: Slots | None, model: str, *, to_version: str | None = None,
                  expected_champion: str | None = None) -> RollbackPlan:
    """The target of a rollback, or why there is none: no I/O, no verification of the target."""
    if slots is None or slots.champion is None:
        return RollbackPlan(REFUSED, f"{model} has no champion: nothing to roll back", to_version=to_version)
    current = slots.champion
    last_action = slots.updated_by.get("action")
    rolled_back_from = slots.updated_by.get("from_version")

    if expected_champion is not None and current.version != expected_champion:
        if last_action == "rollback" and rolled_back_from == expected_champion:
            return RollbackPlan(
                ALREADY_ROLLED_BACK,
                f"{expected_champion} was already rolled back to {current.version} (generation {slots.generation})",
                from_version=expected_champion, to_version=current.version, event=slots.updated_by.get("event"),
            )
        return RollbackPlan(SKIPPED, f"champion of {model} is {current.version}, not {expected_champion}: "
                                     f"not rolled back (nothing changed)")

    if to_version is None:
        if last_action == "rollback" and expected_champion is not None:
            return RollbackPlan(REFUSED, (
                f"champion {current.version} is itself the result of a rollback from "
                f"{rolled_back_from}; refusing to swap back automatically - name the "
                f"version to roll back to"
            ))
        if last_action == "rollback":
            return RollbackPlan(
                ALREADY_ROLLED_BACK,
                f"champion {current.version} is already the result of a rollback from "
                f"{rolled_back_from} (generation {slots.generation}); nothing to do - "
                f"pass to_version to move the champion elsewhere",
                from_version=rolled_back_from, to_version=current.version,
            )
        if slots.previous is None:
            return RollbackPlan(REFUSED, (
                f"no previous version to roll back to for {model}: champion {current.version} is the "
                f"only promoted version; champion left untouched"
            ))
        return RollbackPlan(SWAP, from_version=current.version, to_version=slots.previous.version)
    if current.version == to_version:
        return RollbackPlan(ALREADY_ROLLED_BACK, f"{to_version} is already the champion of {model}; nothing to do",
                            from_version=rolled_back_from, to_version=to_version)
    return RollbackPlan(SWAP, from_version=current.version, to_version=to_version)


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
    check_call(reason, actor, run_id)
    if to_version is not None:
        check_version(to_version)
    if expected_champion is not None:
        check_version(expected_champion)

    slots, etag = read_slots(store, keys)
    if not dry_run:
        repair_audit(store, keys, slots)

    def refuse_unless_dry(action: str, exc: RegistryError, target: str | None) -> None:
        if not dry_run:
            refuse(store, keys, slots, action, to_version=target, reason=reason, actor=actor, run_id=run_id,
                   message=str(exc))

    plan = plan_rollback(slots, keys.model, to_version=to_version, expected_champion=expected_champion)
    if plan.status == REFUSED:
        exc = RegistryError(plan.message)
        refuse_unless_dry("rollback_refused", exc, plan.to_version)
        raise exc
    if plan.status == SKIPPED:
        event = None
        if not dry_run:
            event = refuse(store, keys, slots, "rollback_skipped", to_version=None, reason=reason, actor=actor,
                           run_id=run_id, message=plan.message)
        return RollbackResult(SKIPPED, slots, plan.message, from_version=None, to_version=None, event=event)
    if plan.status == ALREADY_ROLLED_BACK:
        return RollbackResult(ALREADY_ROLLED_BACK, slots, plan.message, from_version=plan.from_version,
                              to_version=plan.to_version, event=plan.event)
    current, target_version = slots.champion, plan.to_version

    # Transient storage errors propagate from here (the task retries); only a checksum/size/manifest
    # mismatch is an integrity failure, and a model that does not deserialize is its own verdict.
    try:
        manifest = verify_version(store, keys, target_version)
        if MODEL_FILE not in manifest["files"]:
            raise IntegrityError(f"version {target_version} has no {MODEL_FILE}")
        data = get_checked(store, keys, target_version, manifest, MODEL_FILE)
        _check_loads(data, manifest, keys, target_version, load_check)
    except RegistryError as exc:  # audited and re-raised; transient errors are not RegistryErrors and propagate
        if isinstance(exc, IntegrityError):
            action = "rollback_integrity_failed"
        elif isinstance(exc, ModelLoadError):
            action = "rollback_load_failed"
        else:
            action = "rollback_refused"
        refuse_unless_dry(action, exc, target_version)
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
            "at": audit.now_iso(),  # wall-clock ok
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
        write_slots(store, keys, new, etag)
    except (PreconditionFailed, ObjectNotFound):
        now, _ = read_slots(store, keys)
        repair_audit(store, keys, now)
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
        refuse(store, keys, now, "rollback_conflict", to_version=target_version, reason=reason, actor=actor,
                run_id=run_id, message=message)
        raise ConflictError(message) from None

    write_record(store, keys, change_record(new.to_dict()))
    log.warning("registry %s: rolled back %s", keys.model, summary)
    return RollbackResult(ROLLED_BACK, new, f"rolled back {keys.model} {summary}",
                          from_version=current.version, to_version=target_version, event=event)
