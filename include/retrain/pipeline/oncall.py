"""The on-call rollback: prove the target works before the swap, and undo the swap if it does not.

1. Plan with the registry's own rules (a dry run: which target, verified and deserialized).
2. Refuse a target whose audit history shows a failed smoke test, unless the on-call engineer
   sets `allow_failed_smoke_test` (recorded with the actor in the audit log).
3. Load the target as serving would and replay its canary predictions - before any pointer moves.
4. One conditional swap, guarded on the champion the plan saw.
5. After the swap, the DAG's smoke test checks the new champion; if it fails, `restore` puts the
   champion from before back in the same run.

Every refusal is written to the registry's audit log.
"""

from __future__ import annotations

import logging
from typing import Any

from retrain.errors import ConflictError, RegistryError, SmokeTestFailed

log = logging.getLogger(__name__)

# actor types whose rollbacks mean "the version rolled back from failed its smoke test"
SMOKE_FAILURE_ACTORS = ("automatic_rollback", "smoke_restore")
SMOKE_REFUSAL = "rollback_smoke_failed"
MIN_REASON = 3


def failed_smoke_tests(entries: list[dict[str, Any]]) -> dict[str, str]:
    """{version: what the audit log says about its failed smoke test}."""
    out: dict[str, str] = {}
    for e in entries:
        actor_type = (e.get("actor") or {}).get("type")
        if e.get("outcome") == "applied" and e.get("action") == "rollback" and actor_type in SMOKE_FAILURE_ACTORS:
            out[e.get("from_version")] = f"{e.get('event')}: {e.get('reason')}"
        elif e.get("action") == SMOKE_REFUSAL:
            out[e.get("to_version")] = f"{e.get('event')}: {e.get('message')}"
    return {k: v for k, v in out.items() if k}


def manual_rollback(store, keys, cfg, *, reason: str, to_version: str | None, dry_run: bool,
                    allow_failed_smoke_test: bool, actor: dict[str, Any], run_id: str) -> dict[str, Any]:
    from retrain import registry
    from retrain.pipeline.smoke import smoke_test_version

    def refuse(action: str, message: str, target: str | None) -> None:
        if not dry_run:
            registry.record_refusal(store, keys, action, to_version=target, reason=reason or "(none)",
                                    actor=actor, run_id=run_id, message=message)

    if len((reason or "").strip()) < MIN_REASON:
        message = f"a rollback needs a reason of at least {MIN_REASON} characters (param 'reason'); nothing was changed"
        refuse("rollback_refused", message, to_version)
        raise RegistryError(message)
    reason = reason.strip()
    if allow_failed_smoke_test:
        actor = {**actor, "override": "allow_failed_smoke_test"}

    try:  # a dry run audits nothing, so its refusals are recorded here
        plan = registry.rollback(store, keys, reason, actor, run_id=run_id, to_version=to_version, dry_run=True)
    except RegistryError as exc:  # audited and re-raised; transient errors propagate untouched
        slots, _ = registry.read_slots(store, keys)
        target = to_version or (slots.previous.version if slots and slots.previous else None)
        refuse(_refusal_action(exc), str(exc.__cause__ or exc), target)
        raise
    if plan.status != registry.DRY_RUN:  # already rolled back / already the champion: nothing to do
        return _report(plan, dry_run, canary=None)
    target, before = plan.to_version, plan.from_version

    failed = failed_smoke_tests(registry.history(store, keys)).get(target)
    if failed and not allow_failed_smoke_test:
        message = (f"{target} failed a smoke test before ({failed}); refusing to make it champion again - set "
                   f"allow_failed_smoke_test to override; champion {before} untouched")
        refuse("rollback_refused", message, target)
        raise RegistryError(message)

    canary = smoke_test_version(store, keys, cfg, target)  # transient errors propagate (retry)
    if canary["status"] != "passed":
        message = f"{target} does not pass its smoke test, champion {before} untouched: {canary['reason']}"
        refuse(SMOKE_REFUSAL, message, target)
        raise SmokeTestFailed(message)
    if dry_run:
        return _report(plan, dry_run, canary=canary)

    result = registry.rollback(store, keys, reason, actor, run_id=run_id, to_version=target,
                               expected_champion=before)
    if result.status == registry.SKIPPED:  # the champion changed between the plan and the swap
        raise ConflictError(f"{result.message}; re-trigger the rollback to re-check the new state")
    return _report(result, dry_run, canary=canary)


def _refusal_action(exc: RegistryError) -> str:
    from retrain.errors import IntegrityError, ModelLoadError

    if isinstance(exc, IntegrityError):
        return "rollback_integrity_failed"
    if isinstance(exc, ModelLoadError):
        return "rollback_load_failed"
    return "rollback_refused"


def _report(result, dry_run: bool, canary: dict | None) -> dict[str, Any]:
    slots = result.would_be if result.would_be is not None else result.slots
    return {
        "status": result.status,
        "message": result.message,
        "dry_run": dry_run,
        "from_version": result.from_version,
        "to_version": result.to_version,
        "champion": slots.champion.version if slots and slots.champion else None,
        "previous": slots.previous.version if slots and slots.previous else None,
        "canary": canary,
        # the champion asset event (retrain.airflow.assets) only when this call moved the pointer itself
        "champion_event": _champion_event(result) if not dry_run else None,
    }


def _champion_event(result) -> dict | None:
    from retrain import registry
    from retrain.airflow.assets import champion_event

    if result.status != registry.ROLLED_BACK or result.slots is None:
        return None
    return champion_event(result.slots)


def smoke_test_or_restore(store, keys, cfg, rollback_result: dict[str, Any], actor: dict[str, Any],
                          run_id: str) -> dict[str, Any]:
    """The post-swap smoke test; if it fails, restore the champion from before the swap (same run)."""
    from retrain import registry
    from retrain.pipeline.smoke import smoke_test_champion

    expected = rollback_result.get("champion")
    result = smoke_test_champion(store, keys, cfg, expected_version=expected)
    if result["status"] == "passed":
        return result
    before = rollback_result.get("from_version")
    if rollback_result.get("status") != registry.ROLLED_BACK or not before or result["status"] != "failed":
        raise SmokeTestFailed(f"smoke test of the restored champion: {result['status']}: {result.get('reason')}")
    restored = registry.rollback(
        store, keys, f"on-call rollback to {expected} failed its smoke test ({result.get('reason')}); "
        f"restoring {before}", {**actor, "type": "smoke_restore"}, run_id=run_id, to_version=before,
        expected_champion=expected)
    raise SmokeTestFailed(f"smoke test of {expected} failed after the swap: {result.get('reason')}; "
                          f"restore of {before}: {restored.status} ({restored.message})")
