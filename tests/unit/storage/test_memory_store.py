"""MemoryStore keeps the ObjectStore contract S3Store keeps: narrowed errors, conditional writes."""

from __future__ import annotations

import pytest
from retrain.storage import ObjectNotFound, ObjectStore, PreconditionFailed, S3Store
from retrain.storage.memory import MemoryStore


def test_both_stores_implement_the_protocol():
    assert isinstance(MemoryStore(), ObjectStore)
    methods = [n for n, v in vars(ObjectStore).items() if callable(v) and not n.startswith("_")]
    assert len(methods) == 9
    assert all(callable(getattr(S3Store, name, None)) for name in methods)


def test_reads_writes_and_conditions():
    store = MemoryStore()
    with pytest.raises(ObjectNotFound):
        store.get_bytes("a/b.json")
    assert store.head("a/b.json") is None
    etag = store.put_json("a/b.json", {"x": 1}, if_none_match=True)
    assert store.get_json("a/b.json") == {"x": 1} and store.exists("a/b.json")
    with pytest.raises(PreconditionFailed):
        store.put_json("a/b.json", {"x": 2}, if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put_json("a/b.json", {"x": 2}, if_match='"stale"')
    assert store.put_json("a/b.json", {"x": 2}, if_match=etag) != etag
    assert store.get_with_etag("a/b.json")[1] == store.head("a/b.json").etag
    store.put_bytes("a/c.bin", b"1")
    assert store.list_keys("a/") == ["a/b.json", "a/c.bin"]
