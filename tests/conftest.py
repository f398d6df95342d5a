"""Shared fixtures: a real S3 endpoint (moto server on loopback), a store bound to it, and a
throw-away Airflow home with its own SQLite metadata DB.

Airflow reads its configuration once, at first import, so the test Airflow home is set here,
at conftest import time, before any test module can import airflow. Tests never touch the
developer's airflow_home/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="retrain-test-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # every in-process parse writes its DAG (and activates its assets), however recent the last write
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
        "GX_ANALYTICS_ENABLED": "False",
        "RETRAIN_DEADLINE_ALERTS": "0",  # dag.test() cannot run DAGs with deadline alerts (retrain.airflow.deadline)
    }
)

from retrain.config import Settings  # noqa: E402  (after the Airflow env is set)
from retrain_dev.local_s3 import MotoServer, local_env  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    """`make test` must leave nothing running: any child process still alive fails the session."""
    import time

    import psutil

    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
    deadline = time.monotonic() + 10
    children = psutil.Process().children(recursive=True)
    while children and time.monotonic() < deadline:
        time.sleep(0.5)
        children = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    if children:
        names = [f"{c.pid}:{' '.join(c.cmdline()[:3])}" for c in children]
        for child in children:
            child.kill()
        session.config.get_terminal_writer().line(f"processes left running by the tests (killed): {names}", red=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in the session's Airflow home (for dag.test())."""
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


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
