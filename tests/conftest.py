"""Shared fixtures: a real S3 endpoint (moto server on loopback) and a store bound to it."""

from __future__ import annotations

import os
import uuid

import pytest

from retrain.config import Settings
from retrain.local_s3 import MotoServer, local_env


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer().start()
    saved = {k: os.environ.get(k) for k in local_env(server.endpoint_url, "x")}
    os.environ.update(local_env(server.endpoint_url, "retrain-test"))
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def bucket(moto_server, monkeypatch) -> str:
    """A fresh, empty bucket per test, so tests never see each other's objects."""
    name = f"retrain-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("RETRAIN_BUCKET", name)
    from retrain.storage import S3Store

    S3Store(Settings(bucket=name)).ensure_bucket()
    return name


@pytest.fixture
def store(bucket):
    from retrain.storage import S3Store

    return S3Store(Settings(bucket=bucket))
