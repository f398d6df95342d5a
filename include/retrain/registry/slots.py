"""The one mutable registry object, slots.json (champion, previous, generation, retired), its
conditional write, and the audited refusals every registry change may end in."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from retrain.errors import IntegrityError, RegistryError
from retrain.keys import Keys
from retrain.registry.audit import ensure_change_recorded, refusal_record, write_record
from retrain.registry.versions import JSON_TYPE, check_version, iso_week_of
from retrain.storage import ObjectNotFound, dumps_json

log = logging.getLogger(__name__)

PROMOTED = "promoted"


ALREADY_PROMOTED = "already_promoted"


SUPERSEDED = "superseded"

ROLLED_BACK = "rolled_back"

ALREADY_ROLLED_BACK = "already_rolled_back"

DRY_RUN = "dry_run"

SKIPPED = "skipped"


def check_call(reason: Any, actor: Any, run_id: Any) -> None:
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
            slot = cls(version=check_version(raw["version"]), week=iso_week_of(raw["week"]), run_id=str(raw["run_id"]))
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
            through = iso_week_of(through) if through is not None else None
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


def write_slots(store, keys: Keys, new: Slots, etag: str | None) -> str:
    data = dumps_json(new.to_dict())
    if etag is None:
        return store.put_bytes(keys.slots(), data, if_none_match=True, content_type=JSON_TYPE)
    return store.put_bytes(keys.slots(), data, if_match=etag, content_type=JSON_TYPE)


def repair_audit(store, keys: Keys, slots: Slots | None) -> None:
    if slots is not None:
        ensure_change_recorded(store, keys, slots.to_dict())


def record_refusal(store, keys: Keys, action: str, *, to_version, reason, actor, run_id, message) -> str:
    """Audit a refused registry change decided outside this module (e.g. the on-call DAG's checks)."""
    slots, _ = read_slots(store, keys)
    return refuse(store, keys, slots, action, to_version=to_version, reason=reason, actor=actor, run_id=run_id,
                   message=message)


def refuse(store, keys: Keys, slots: Slots | None, action: str, *, to_version, reason, actor, run_id, message) -> str:
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
