"""Model bytes are unpickled only after their recorded SHA-256 and size match."""

import joblib
import pytest
from retrain.errors import IntegrityError
from retrain.storage.integrity import dumps_model, fingerprint, loads_verified


def test_verified_bytes_round_trip():
    data = dumps_model({"weights": [1, 2, 3]})
    assert loads_verified(data, fingerprint(data), "model.joblib") == {"weights": [1, 2, 3]}


def test_one_changed_byte_is_refused_before_unpickling(monkeypatch):
    data = dumps_model({"weights": [1, 2, 3]})
    expected = fingerprint(data)
    tampered = data[:-1] + bytes([data[-1] ^ 0x01])
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled unverified bytes"))
    with pytest.raises(IntegrityError, match="model.joblib: checksum mismatch"):
        loads_verified(tampered, expected, "model.joblib")
    with pytest.raises(IntegrityError):
        loads_verified(data + b"x", expected, "model.joblib")  # size differs
