"""An in-memory `ObjectStore`: the same keys, ETags, conditional writes and errors as `S3Store`,
without a network, for unit tests of code that reads and writes the store."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from retrain.keys import validate_key
from retrain.storage.protocol import ObjectInfo, ObjectNotFound, PreconditionFailed, dumps_json


class MemoryStore:
    def __init__(self, bucket: str = "memory", settings=None):
        self.settings = settings
        self.bucket = settings.bucket if settings is not None else bucket
        self.objects: dict[str, tuple[bytes, str]] = {}

    def get_bytes(self, key: str) -> bytes:
        return self.get_with_etag(key)[0]

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        validate_key(key)
        try:
            return self.objects[key]
        except KeyError:
            raise ObjectNotFound(f"memory://{self.bucket}/{key} does not exist") from None

    def head(self, key: str) -> ObjectInfo | None:
        validate_key(key)
        if key not in self.objects:
            return None
        data, etag = self.objects[key]
        return ObjectInfo(key=key, etag=etag, size=len(data))

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def list_keys(self, prefix: str) -> list[str]:
        validate_key(prefix.rstrip("/") or "x")
        return sorted(k for k in self.objects if k.startswith(prefix))

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def put_bytes(self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False,
                  content_type: str = "application/octet-stream") -> str:
        validate_key(key)
        current = self.objects.get(key)
        if if_none_match and current is not None:
            raise PreconditionFailed(f"put memory://{self.bucket}/{key}: precondition failed (exists)")
        if if_match is not None and (current is None or current[1] != if_match):
            raise PreconditionFailed(f"put memory://{self.bucket}/{key}: precondition failed (etag)")
        etag = f'"{hashlib.md5(data).hexdigest()}"'  # S3's ETag of a single-part upload
        self.objects[key] = (bytes(data), etag)
        return etag

    def put_json(self, key: str, obj: Any, **kwargs) -> str:
        return self.put_bytes(key, dumps_json(obj), content_type="application/json", **kwargs)

    def ensure_bucket(self) -> None:
        return None
