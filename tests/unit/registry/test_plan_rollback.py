"""plan_rollback: the rollback decision from the slots alone (no S3), and rollback() acting on it
against the in-memory store."""

from __future__ import annotations

import datetime as dt

import pytest
from retrain import registry
from retrain.errors import RegistryError
from retrain.keys import Keys, version_id
from retrain.registry.rollback import REFUSED, SWAP, plan_rollback
from retrain.registry.slots import ALREADY_ROLLED_BACK, SKIPPED, Slot, Slots
from retrain.storage.memory import MemoryStore

A = version_id(dt.date(2026, 1, 5), "run_a")
B = version_id(dt.date(2026, 1, 12), "run_b")
C = version_id(dt.date(2026, 1, 19), "run_c")


def slot(version: str, week: str) -> Slot:
    return Slot(version, week, f"run_{version[-1]}")


def slots(champion=B, previous=A, action="promote", from_version=None, event="e1") -> Slots:
    weeks = {A: "2026-01-05", B: "2026-01-12", C: "2026-01-19"}
    return Slots(model="fraud", champion=slot(champion, weeks[champion]) if champion else None,
                 previous=slot(previous, weeks[previous]) if previous else None, generation=2,
                 updated_by={"action": action, "from_version": from_version, "event": event})


def test_no_champion_is_refused_under_the_named_target():
    plan = plan_rollback(None, "fraud", to_version=A)
    assert (plan.status, plan.to_version) == (REFUSED, A)
    assert "has no champion" in plan.message
    assert plan_rollback(slots(champion=None), "fraud").status == REFUSED


def test_default_rollback_swaps_to_the_previous_slot():
    plan = plan_rollback(slots(), "fraud")
    assert (plan.status, plan.from_version, plan.to_version) == (SWAP, B, A)


def test_default_rollback_without_previous_is_refused():
    plan = plan_rollback(slots(previous=None), "fraud")
    assert plan.status == REFUSED and "no previous version" in plan.message and plan.to_version is None


def test_default_rollback_after_a_rollback_is_already_done():
    plan = plan_rollback(slots(champion=A, previous=B, action="rollback", from_version=B), "fraud")
    assert (plan.status, plan.from_version, plan.to_version, plan.event) == (ALREADY_ROLLED_BACK, B, A, None)


def test_automatic_rollback_never_swaps_a_rollback_back():
    plan = plan_rollback(slots(champion=A, previous=B, action="rollback", from_version=C), "fraud",
                         expected_champion=A)
    assert plan.status == REFUSED and "refusing to swap back automatically" in plan.message


def test_expected_champion_already_rolled_back_or_replaced():
    done = plan_rollback(slots(champion=A, previous=B, action="rollback", from_version=B, event="ev"), "fraud",
                         expected_champion=B)
    assert (done.status, done.from_version, done.to_version, done.event) == (ALREADY_ROLLED_BACK, B, A, "ev")
    replaced = plan_rollback(slots(champion=C, previous=B), "fraud", expected_champion=B)
    assert replaced.status == SKIPPED and "not rolled back" in replaced.message


def test_named_target():
    assert plan_rollback(slots(), "fraud", to_version=B).status == ALREADY_ROLLED_BACK
    plan = plan_rollback(slots(), "fraud", to_version=C)
    assert (plan.status, plan.from_version, plan.to_version) == (SWAP, B, C)


def _publish(store, keys, week: dt.date, run_id: str) -> str:
    version = version_id(week, run_id)
    registry.publish_version(store, keys, version, {"model.joblib": b"m-" + run_id.encode()},
                             {"week": week.isoformat(), "run_id": run_id})
    return version


def test_rollback_acts_on_the_plan_in_memory():
    store, keys = MemoryStore(), Keys("fraud")
    actor = {"type": "cli", "user": "t"}
    a = _publish(store, keys, dt.date(2026, 1, 5), "run_a")
    b = _publish(store, keys, dt.date(2026, 1, 12), "run_b")
    for week, version, run in ((dt.date(2026, 1, 5), a, "run_a"), (dt.date(2026, 1, 12), b, "run_b")):
        assert registry.promote(store, keys, version, week, run, "test", actor).status == registry.PROMOTED

    swapped = registry.rollback(store, keys, "bad model", actor, run_id="r1", load_check=len)
    assert (swapped.status, swapped.from_version, swapped.to_version) == (registry.ROLLED_BACK, b, a)
    with pytest.raises(RegistryError, match="refusing to swap back automatically"):
        registry.rollback(store, keys, "auto", actor, run_id="r2", load_check=len, expected_champion=a)
    assert registry.champion(store, keys).version == a
    assert registry.history(store, keys)[-1]["action"] == "rollback_refused"  # the plan's refusal is audited
    again = registry.rollback(store, keys, "again", actor, run_id="r3", load_check=len)
    assert (again.status, again.to_version) == (ALREADY_ROLLED_BACK, a)
