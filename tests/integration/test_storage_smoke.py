"""S3Store against the moto endpoint: conditional writes, and the client it builds from the connection."""

from __future__ import annotations

import inspect

import pytest

pytestmark = pytest.mark.integration


def test_roundtrip(store):
    from retrain.storage import PreconditionFailed
    e = store.put_bytes("a/b.json", b"1", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("a/b.json", b"2", if_none_match=True)
    assert store.get_bytes("a/b.json") == b"1"
    store.put_bytes("a/b.json", b"3", if_match=e)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("a/b.json", b"4", if_match=e)
    assert store.list_keys("a/") == ["a/b.json"]


def test_the_client_is_the_hooks_own_without_its_call_stack_walk(store, monkeypatch):
    """S3Hook.get_conn() walks the call stack for its user agent (its caller's class name); the store's
    client leaves that out and keeps the connection's endpoint, region, credentials and retry config."""
    from airflow import __version__ as airflow_version
    from retrain.storage import S3Store

    walks = []
    real_stack = inspect.stack
    monkeypatch.setattr(inspect, "stack", lambda *a, **k: walks.append(1) or real_stack(*a, **k))
    hooks = store.hook.get_conn()
    assert walks, "the hook's client walks the stack (else this test checks nothing)"
    walks.clear()
    fresh = S3Store(store.settings)
    ours = fresh.client
    assert walks == []
    assert ours.meta.endpoint_url == hooks.meta.endpoint_url
    assert ours.meta.region_name == hooks.meta.region_name
    for option in ("retries", "connect_timeout", "read_timeout"):
        assert getattr(ours.meta.config, option) == getattr(hooks.meta.config, option), option
    assert ours.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}  # botocore: 3 retries + 1
    assert ours.meta.config.user_agent_extra == f"Airflow/{airflow_version}"
    fresh.put_bytes("c/d.json", b"5")  # signed with the connection's credentials
    assert store.get_bytes("c/d.json") == b"5"
