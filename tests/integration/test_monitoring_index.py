"""The monitoring index on a real S3 endpoint: one entry per run, re-runs rewrite their own entry,
a concurrent writer's entry survives a lost race, and page views only read."""

from __future__ import annotations

import pytest
from retrain.keys import Keys
from retrain.monitoring import index as mi
from retrain.storage import PreconditionFailed

pytestmark = pytest.mark.integration


def _entry(run: str, outcome: str = "promoted") -> dict:
    return mi.index_entry({"run_id": run, "week": "2026-01-05", "outcome": outcome}, {})


def test_one_entry_per_run_and_a_re_run_rewrites_it(store):
    keys = Keys("fraud")
    mi.update_index(store, keys, _entry("r1"))
    mi.update_index(store, keys, _entry("r2"))
    mi.update_index(store, keys, _entry("r1", "gate_rejected"))
    index, etag = mi.read_index(store, keys)
    assert sorted(index["runs"]) == ["r1", "r2"] and index["runs"]["r1"]["outcome"] == "gate_rejected"
    mi.update_index(store, keys, _entry("r1", "gate_rejected"))  # same content: no write
    assert mi.read_index(store, keys)[1] == etag


def test_a_lost_race_merges_again_and_keeps_both_entries(store, monkeypatch):
    keys = Keys("fraud")
    mi.update_index(store, keys, _entry("r1"))
    real_put = store.put_json
    raced = []

    def put_after_a_racer(key, obj, **kwargs):
        if not raced:  # another run's writer lands between our read and our write
            raced.append(True)
            index, etag = mi.read_index(store, keys)
            real_put(key, mi.merge(index, _entry("racer"), {}), if_match=etag)
        return real_put(key, obj, **kwargs)

    monkeypatch.setattr(store, "put_json", put_after_a_racer)
    mi.update_index(store, keys, _entry("r2"))
    assert sorted(mi.read_index(store, keys)[0]["runs"]) == ["r1", "r2", "racer"]


def test_the_first_write_is_create_only(store):
    keys = Keys("fraud")
    store.put_json(mi.index_key(keys), {"runs": {"other": {}}})
    with pytest.raises(PreconditionFailed):
        store.put_json(mi.index_key(keys), {"runs": {}}, if_none_match=True)
    mi.update_index(store, keys, _entry("r1"))
    assert sorted(mi.read_index(store, keys)[0]["runs"]) == ["other", "r1"]


def test_registry_events_are_cached_and_page_views_only_read(store):
    keys = Keys("fraud")
    store.put_json(keys.audit_event("00000001-0-promote-r1"), {"event": "00000001-0-promote-r1", "outcome": "applied",
                                                                "action": "promote", "to_version": "v1"})
    mi.update_index(store, keys, _entry("r1"))
    assert "00000001-0-promote-r1" in mi.read_index(store, keys)[0]["registry_events"]
    store.put_json(keys.audit_event("00000002-0-rollback-oncall"), {"event": "00000002-0-rollback-oncall",
                                                                     "outcome": "applied", "action": "rollback"})
    etag = mi.read_index(store, keys)[1]
    index, slots = mi.load_for_page(store, keys)
    assert set(index["registry_events"]) == {"00000001-0-promote-r1", "00000002-0-rollback-oncall"}
    assert slots is None and mi.read_index(store, keys)[1] == etag
