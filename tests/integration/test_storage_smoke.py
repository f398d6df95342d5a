def test_roundtrip(store):
    import pytest
    from retrain.storage import PreconditionFailed
    e = store.put_bytes("a/b.json", b"1", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("a/b.json", b"2", if_none_match=True)
    assert store.get_bytes("a/b.json") == b"1"
    store.put_bytes("a/b.json", b"3", if_match=e)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("a/b.json", b"4", if_match=e)
    assert store.list_keys("a/") == ["a/b.json"]
