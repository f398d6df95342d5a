"""The only module that talks to S3 (the `ObjectStore` protocol over the Amazon provider's S3Hook).

Everything goes through the Airflow connection named in Settings (default `aws_default`,
usually set by AIRFLOW_CONN_AWS_DEFAULT; its `extra.endpoint_url` points at moto or MinIO
locally and is absent on AWS) and one bucket, so the same code runs against all three.

Errors are narrowed: a missing object is `ObjectNotFound`, a failed conditional write is
`PreconditionFailed`, and anything that may succeed on retry is `TransientStorageError`.
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from typing import Any

from retrain.config import Settings
from retrain.errors import TransientStorageError
from retrain.keys import validate_key
from retrain.storage.protocol import ObjectInfo, ObjectNotFound, PreconditionFailed, dumps_json

log = logging.getLogger(__name__)

_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "500",
    "502",
    "503",
    "504",
}


class S3Store:
    """Byte-level access to one bucket through the Amazon provider's S3Hook client."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.bucket = settings.bucket

    @classmethod
    def from_env(cls) -> S3Store:
        return cls(Settings.from_env())

    @cached_property
    def hook(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        return S3Hook(
            aws_conn_id=self.settings.aws_conn_id,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )

    @cached_property
    def client(self):
        """The client S3Hook.get_conn() builds (the connection's session, endpoint, region and the retry
        config above), without the user agent it adds: get_conn() finds its caller for it by walking the
        whole call stack with inspect.stack(), which reads the source file of every frame, 0.13-0.2 s in
        each fresh task process (measured; 0.09 s for the client itself). The user agent keeps the Airflow
        version; the hook's caller, DAG-run key and team fields are left out."""
        from airflow import __version__ as airflow_version
        from botocore.config import Config

        hook = self.hook
        return hook.get_session().client(
            service_name="s3",
            endpoint_url=hook.conn_config.get_service_endpoint_url(service_name="s3"),
            config=hook.config.merge(Config(user_agent_extra=f"Airflow/{airflow_version}")),
            verify=hook.verify,
        )

    # -- lineage ----------------------------------------------------------------------------
    def _report_lineage(self, direction: str, key: str) -> None:
        """Tell Airflow's hook lineage collector (OpenLineage, if installed) what the raw client
        calls read and wrote, as S3Hook's own methods do: landing objects in, registry versions,
        slots and predictions out. Run scratch files stay out of the lineage graph."""
        rel = key[len(self.settings.prefix) + 1:] if self.settings.prefix else key
        parts = rel.split("/")
        if direction == "input":
            relevant = parts[0] == "landing"
        else:
            relevant = parts[0] == "predictions" or (
                parts[0] == "registry" and len(parts) > 2 and (parts[2] == "versions" or parts[2] == "slots.json"))
        hook = self.__dict__.get("hook")  # None: a client injected without Airflow (fault-injection tests)
        if not relevant or hook is None:
            return
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

        add = getattr(get_hook_lineage_collector(), f"add_{direction}_asset")
        add(context=hook, scheme="s3", asset_kwargs={"bucket": self.bucket, "key": key})

    # -- error mapping ----------------------------------------------------------------------
    def _call(self, op: str, key: str, fn, **kwargs) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                raise ObjectNotFound(f"s3://{self.bucket}/{key} does not exist") from exc
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict") or status in (409, 412):
                raise PreconditionFailed(f"{op} s3://{self.bucket}/{key}: precondition failed ({code})") from exc
            if code in _TRANSIENT_CODES or (status or 0) >= 500:
                raise TransientStorageError(f"{op} s3://{self.bucket}/{key}: {code}") from exc
            raise
        except BotoCoreError as exc:  # connection refused, timeouts, broken responses
            raise TransientStorageError(f"{op} s3://{self.bucket}/{key}: {exc}") from exc

    # -- reads ------------------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes:
        data, _ = self.get_with_etag(key)
        return data

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        validate_key(key)
        resp = self._call("get", key, self.client.get_object, Bucket=self.bucket, Key=key)
        data = resp["Body"].read()
        self._report_lineage("input", key)
        return data, resp["ETag"]

    def head(self, key: str) -> ObjectInfo | None:
        validate_key(key)
        try:
            resp = self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return None
        return ObjectInfo(key=key, etag=resp["ETag"], size=int(resp["ContentLength"]))

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def list_keys(self, prefix: str) -> list[str]:
        validate_key(prefix.rstrip("/") or "x")
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("list", prefix, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=prefix)))
        for page in pages:
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    # -- writes -----------------------------------------------------------------------------
    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str = "application/octet-stream",
    ) -> str:
        """Write one object; with `if_match`/`if_none_match` the write is conditional (412 on loss)."""
        validate_key(key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data, "ContentType": content_type}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        resp = self._call("put", key, self.client.put_object, **kwargs)
        self._report_lineage("output", key)
        return resp["ETag"]

    def put_json(self, key: str, obj: Any, **kwargs) -> str:
        return self.put_bytes(key, dumps_json(obj), content_type="application/json", **kwargs)

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (local endpoints only; production buckets are provisioned)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

