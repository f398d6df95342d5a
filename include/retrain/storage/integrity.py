"""Model (de)serialisation. Model files are code: bytes are unpickled only after their
SHA-256 and size match what was recorded when they were written."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from retrain.errors import IntegrityError, ModelLoadError, TransientStorageError


def fingerprint(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def dumps_model(model: Any) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    return buf.getvalue()


def verify(data: bytes, expected: dict, name: str) -> None:
    actual = fingerprint(data)
    if actual["size"] != int(expected.get("size", -1)) or actual["sha256"] != expected.get("sha256"):
        raise IntegrityError(
            f"{name}: checksum mismatch (expected sha256={expected.get('sha256')} size={expected.get('size')}, "
            f"got sha256={actual['sha256']} size={actual['size']}); refusing to load it"
        )


def loads_verified(data: bytes, expected: dict, name: str) -> Any:
    """Unpickle `data` only if it matches `expected` ({"sha256", "size"})."""
    verify(data, expected, name)
    import joblib

    try:
        return joblib.load(io.BytesIO(data))
    except TransientStorageError:
        raise
    except Exception as exc:  # broad ok: in-memory unpickling of verified bytes touches no storage; any error is the model's own verdict
        raise ModelLoadError(f"{name} matches its manifest but does not deserialize: {exc!r}") from exc
