"""A local S3 endpoint for development and tests: moto in server mode on loopback.

It runs as a child process with a bounded lifetime: the context manager stops it, the PID is
written to a file so `make down` can stop one left by an interrupted shell, and moto itself
is a dev dependency (requirements-dev.txt), never needed in production.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

LOCAL_ACCESS_KEY = "testing"
LOCAL_SECRET_KEY = "testing"
LOCAL_REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aws_conn_uri(endpoint_url: str) -> str:
    """AIRFLOW_CONN_AWS_DEFAULT value (JSON form) pointing the Amazon provider at a local endpoint."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": LOCAL_ACCESS_KEY,
            "password": LOCAL_SECRET_KEY,
            "extra": {"endpoint_url": endpoint_url, "region_name": LOCAL_REGION},
        }
    )


def local_env(endpoint_url: str, bucket: str) -> dict[str, str]:
    """Environment that makes every component use the local endpoint through aws_default."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": aws_conn_uri(endpoint_url),
        "RETRAIN_BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
    }


class MotoServer:
    def __init__(self, port: int | None = None, pid_file: Path | None = None, log_file: Path | None = None):
        self.port = port or free_port()
        self.pid_file = pid_file
        self.log_file = log_file
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
        if exe is None:
            raise RuntimeError("moto_server not found: install requirements-dev.lock (make install-dev)")
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self.pid_file:
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(str(self.proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(self.endpoint_url + "/moto-api/", timeout=1)  # noqa: S310 (loopback)
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint_url} within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.pid_file and self.pid_file.exists():
            self.pid_file.unlink()

    def reset(self) -> None:
        """Drop every bucket and object (moto's reset API): a clean endpoint between tests."""
        req = urllib.request.Request(self.endpoint_url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 (loopback)


@contextmanager
def running_moto(**kwargs):
    server = MotoServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
