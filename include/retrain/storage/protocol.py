"""What every object store offers the pipeline: byte- and JSON-level reads and (conditional) writes
under validated keys, with narrowed errors. `S3Store` (s3.py) is the production implementation,
`MemoryStore` (memory.py) the in-process one for unit tests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from retrain.errors import RetrainError


class ObjectNotFound(RetrainError):
    """The key does not exist in the bucket."""


class PreconditionFailed(RetrainError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps_json(obj: Any) -> bytes:
    """Stable JSON bytes: the same record always serialises to the same bytes (and ETag)."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str).encode() + b"\n"


@runtime_checkable
class ObjectStore(Protocol):
    """One bucket. A missing object raises `ObjectNotFound`, a lost conditional write
    `PreconditionFailed`, anything worth a retry `TransientStorageError`."""

    bucket: str

    def get_bytes(self, key: str) -> bytes: ...

    def get_with_etag(self, key: str) -> tuple[bytes, str]: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def get_json(self, key: str) -> Any: ...

    def put_bytes(self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False,
                  content_type: str = "application/octet-stream") -> str: ...

    def put_json(self, key: str, obj: Any, **kwargs) -> str: ...

    def ensure_bucket(self) -> None: ...
