"""A small harness for the full-stack tests: real Airflow 3.3 components as subprocesses.

One `AirflowStack` is one Airflow deployment: a PostgreSQL metadata database it creates and drops
itself, a fresh AIRFLOW_HOME in a temp dir, `airflow api-server`, `airflow scheduler`,
`airflow dag-processor`, `airflow triggerer` and, for the CeleryExecutor, `airflow celery worker`
processes, all pointed at the bundle's dags/ and plugins/ and at a local S3 endpoint. Tests drive it
only through the public REST API v2 (`/auth/token`, `/api/v2/...`), the way the UI does.

Every component runs in its own process group and carries RETRAIN_STACK_ID=<stack id> in its
environment (inherited by everything it starts), so `stop()` can end the groups (SIGTERM, then
SIGKILL) and then sweep any straggler by that marker, and `leftovers()` can prove that nothing of
the stack is left: no process, no database.

Module level is stdlib-only on purpose: the Celery workers import `worker_hostname` from this file
as their `[core] hostname_callable` (two workers on one machine need two host names).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
DB_PREFIX = "retrain_stack_"
MARKER = "RETRAIN_STACK_ID"
ADMIN = "admin"

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)

TERMINAL_RUN_STATES = {"success", "failed"}
TERMINAL_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}


class StackError(RuntimeError):
    """The stack did not start, or an API call / a wait failed (the message carries diagnostics)."""


class FatalStackError(StackError):
    """A condition no amount of waiting fixes (e.g. DAG import errors): stops a wait at once."""


def worker_hostname() -> str:
    """`[core] hostname_callable` of the Celery workers: the name given in RETRAIN_STACK_HOSTNAME."""
    return os.environ.get("RETRAIN_STACK_HOSTNAME") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ services
def postgres_problem() -> str | None:
    """None if PostgreSQL answers on 127.0.0.1:5432 as user postgres, else how to start it."""
    try:
        import psycopg

        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5) as c:
            c.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 (any failure means: not usable)
        return (
            f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} as user {PG_USER} ({exc}). The full-stack tests "
            f"need it (it is part of this machine); start it with:\n    {START_POSTGRES}"
        )
    return None


def redis_problem() -> str | None:
    """None if Redis answers PING on 127.0.0.1:6379, else how to start it."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
        if not reply.startswith(b"+PONG"):
            raise OSError(f"unexpected reply {reply!r}")
    except OSError as exc:
        return (
            f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} ({exc}). The Celery full-stack test needs it "
            f"(it is part of this machine); start it with:\n    {START_REDIS}"
        )
    return None


def _pg_admin():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True,
                           connect_timeout=10)


def create_database(name: str) -> None:
    from psycopg import sql

    with _pg_admin() as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    from psycopg import sql

    with _pg_admin() as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_exists(name: str) -> bool:
    with _pg_admin() as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


REDIS_CLAIM_KEY = "retrain-stack:owner"


def _redis(db: int):
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=10)


def claim_redis_db(owner: str, candidates: list[int]) -> int:
    """The first Redis DB of `candidates` nobody else has claimed (a test run on the same machine
    at the same time must not have its broker flushed by ours); claims expire after an hour."""
    for db in candidates:
        client = _redis(db)
        try:
            if client.set(REDIS_CLAIM_KEY, owner, nx=True, ex=3600) or client.get(REDIS_CLAIM_KEY) == owner.encode():
                return db
        finally:
            client.close()
    raise StackError(f"every Redis DB of {candidates} is claimed by another test run ({REDIS_CLAIM_KEY})")


def flush_redis_db(db: int, owner: str | None = None) -> None:
    """FLUSHDB (our broker queues, results of earlier runs); keeps `owner`'s claim on the DB if given."""
    client = _redis(db)
    try:
        client.flushdb()
        if owner:
            client.set(REDIS_CLAIM_KEY, owner, ex=3600)
    finally:
        client.close()


# ------------------------------------------------------------------------------ helpers
def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def tail(path: Path, lines: int = 40) -> str:
    try:
        data = path.read_bytes()[-200_000:]
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def _processes_with_marker(value: str) -> list:
    """Live (non-zombie) processes whose environment has RETRAIN_STACK_ID=value."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(MARKER) == value:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


@dataclass
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# ------------------------------------------------------------------------------ the stack
class AirflowStack:
    """One Airflow deployment on PostgreSQL, started as subprocesses, driven through REST API v2."""

    def __init__(self, *, name: str, base_dir: Path, s3_endpoint: str, bucket: str,
                 executor: str = "LocalExecutor", celery_workers: int = 0, redis_dbs: tuple[int, ...] = (7,),
                 parallelism: int = 2):
        from retrain_dev.local_s3 import local_env  # the bundle's own definition of "use this S3 endpoint"

        self.name = name
        self.id = f"{name}-{secrets.token_hex(4)}"
        self.db_name = f"{DB_PREFIX}{name}_{secrets.token_hex(4)}"
        self.home = Path(base_dir) / self.id
        self.home.mkdir(parents=True)
        self.models_dir = write_control_flow_models(self.home / "models")
        self.bucket = bucket
        self.executor = executor
        self.celery_workers = celery_workers
        self.redis_dbs = list(redis_dbs)  # the broker uses the first one no other test run has claimed
        self.redis_db = self.redis_dbs[0]
        self.parallelism = parallelism
        self.queue = f"retrain-stack-{self.id}"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.components: list[Component] = []
        self.state: dict[str, Any] = {}  # what tests built on this stack (e.g. the backfill story)
        self.started_in: float | None = None
        self._token: str | None = None
        self._http = None
        self._db_created = False
        self._redis_claimed = False
        self._stopped = False
        self._secrets = {
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        }
        self._s3_env = local_env(s3_endpoint, bucket)
        atexit.register(self.stop)

    # -- configuration ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def celery(self) -> bool:
        return self.executor == "CeleryExecutor"

    @property
    def worker_names(self) -> list[str]:
        return [f"stack-worker-{chr(ord('a') + i)}" for i in range(self.celery_workers)]

    def env(self, home: Path | None = None) -> dict[str, str]:
        """The environment of every component: all configuration is here (no airflow.cfg edits)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "RETRAIN_", "PYTEST_"))}
        env.update(self._secrets)
        env.update(self._s3_env)
        env.update({
            MARKER: self.id,
            "AIRFLOW_HOME": str(home or self.home),
            "RETRAIN_MODELS_DIR": str(self.models_dir),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.db_name}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(self.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            # DAGs appear quickly; the files do not change during a test, so re-parse rarely (2 cores)
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # Only the runs a test asks for (backfills, manual triggers): with catchup=False the scheduler
            # would otherwise create the latest week's run on unpause, against an empty landing zone.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # An idle loop sleeps 1 s by default, and skipped/upstream_failed states propagate one
            # task per loop: a skipped branch of 7 tasks would cost 7 s per run.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "GX_ANALYTICS_ENABLED": "False",
            "PYTHONUNBUFFERED": "1",
        })
        if self.celery:
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
                "AIRFLOW__CELERY__RESULT_BACKEND":
                    f"db+postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.db_name}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "retrain.airflow.celery_worker.CELERY_CONFIG",  # as deployed
            })
        return env

    def _component(self, name: str, argv: list[str], env: dict[str, str] | None = None,
                   cwd: Path | None = None) -> Component:
        comp = Component(name=name, argv=[AIRFLOW, *argv], env=env or self.env(), cwd=cwd or self.home,
                         log_path=self.home / "components" / f"{name}.log")
        self.components.append(comp)
        comp.start()
        return comp

    def restart_scheduler(self, **env: str) -> None:
        """Stop the scheduler (its LocalExecutor with it) and start it again with `env` added.

        For a test that needs a scheduler setting the stack does not start with, e.g.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=True, without which no asset-triggered run is created.
        """
        old = next(c for c in self.components if c.name == "scheduler" and c.alive)
        os.killpg(old.proc.pid, signal.SIGTERM)
        try:
            old.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(old.proc.pid, signal.SIGKILL)
            old.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(old.proc.pid, signal.SIGKILL)  # what the group left (executor workers)
        self.components.remove(old)  # stopped on purpose: check_alive must not report it
        self._component("scheduler", ["scheduler", "--skip-serve-logs"], env={**old.env, **env})

    def worker_home(self, worker: str) -> Path:
        return self.home / worker

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 300.0) -> AirflowStack:
        deadline = time.monotonic() + timeout
        try:
            create_database(self.db_name)
            self._db_created = True
            if self.celery:
                self.redis_db = claim_redis_db(self.id, self.redis_dbs)
                self._redis_claimed = True
                flush_redis_db(self.redis_db, owner=self.id)
            (self.home / "passwords.json").write_text(json.dumps({ADMIN: self.password}) + "\n")
            self._migrate(deadline)
            # All at once (2 cores: the imports overlap with I/O waits). A task dispatched before the
            # execution API answers fails without running (FIELD-NOTES), but no DAG run exists before
            # start() returns, and it returns only once the API server answers and all report healthy.
            self._component("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.port),
                                           "--workers", "1"])
            self._component("scheduler", ["scheduler", "--skip-serve-logs"])
            self._component("dag-processor", ["dag-processor"])
            self._component("triggerer", ["triggerer", "--skip-serve-logs"])
            for worker in self.worker_names:
                self._start_worker(worker)
            self._wait(lambda: self._health() is not None, deadline, "the API server to answer")
            self._wait(self._healthy, deadline, "scheduler, dag-processor and triggerer to report healthy")
            self._wait(self._dags_parsed, deadline, "the DAG processor to serialize retrain_fraud and rollback_fraud")
            for worker in self.worker_names:
                self._wait(lambda w=worker: " ready." in tail(self.home / "components" / f"{w}.log", 400),
                           deadline, f"Celery worker {worker} to be ready")
        except BaseException:
            print(self.diagnostics("the stack failed to start"), file=sys.stderr)
            self.stop()
            raise
        self.started_in = timeout - (deadline - time.monotonic())
        return self

    def _migrate(self, deadline: float) -> None:
        log_path = self.home / "components" / "db-migrate.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([AIRFLOW, "db", "migrate"], env=self.env(), cwd=self.home, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise StackError(f"airflow db migrate timed out:\n{tail(log_path)}") from None
        if rc != 0:
            raise StackError(f"airflow db migrate failed ({rc}):\n{tail(log_path)}")

    def _start_worker(self, worker: str) -> None:
        """A Celery worker with its own AIRFLOW_HOME, cwd and TMPDIR: nothing local is shared."""
        home = self.worker_home(worker)
        (home / "tmp").mkdir(parents=True)
        env = self.env(home=home)
        env.update({
            "TMPDIR": str(home / "tmp"),
            "RETRAIN_STACK_HOSTNAME": worker,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_stack.worker_hostname",
            "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parent), env.get("PYTHONPATH")) if p),
        })
        self._component(worker, ["celery", "worker", "--celery-hostname", f"{worker}@%h", "--concurrency", "1",
                                 "--queues", self.queue, "--skip-serve-logs", "--without-mingle",
                                 "--without-gossip"], env=env, cwd=home)

    def stop(self) -> None:
        """End every component (SIGTERM, then SIGKILL, on the process groups), then drop the database."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            if self._http is not None:
                self._http.close()
        for comp in self.components:
            if comp.proc is not None and comp.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(comp.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for comp in self.components:
            if comp.proc is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                comp.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # the group may outlive its leader (LocalExecutor workers, Celery pool, task processes)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(comp.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                comp.proc.wait(timeout=10)
        self._sweep()
        if self._db_created:
            last: Exception | None = None
            for _ in range(5):
                try:
                    drop_database(self.db_name)
                    last = None
                    break
                except Exception as exc:  # noqa: BLE001 (retried, then reported)
                    last = exc
                    time.sleep(1)
            if last is not None:
                print(f"could not drop test database {self.db_name}: {last}", file=sys.stderr)
        if self.celery and self._redis_claimed:
            with contextlib.suppress(Exception):
                flush_redis_db(self.redis_db)  # also drops our claim

    def _sweep(self) -> None:
        """SIGKILL anything still carrying this stack's marker (a process that left its group)."""
        import psutil

        for _ in range(3):
            procs = _processes_with_marker(self.id)
            if not procs:
                return
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            psutil.wait_procs(procs, timeout=5)

    def leftovers(self) -> list[str]:
        """What of this stack is still there: processes (by marker) and the database."""
        found = [f"process {p.pid} {' '.join(p.cmdline()[:4])}" for p in _processes_with_marker(self.id)]
        if self._db_created and database_exists(self.db_name):
            found.append(f"database {self.db_name}")
        return found

    # -- waiting ------------------------------------------------------------------------------
    def check_alive(self) -> None:
        dead = [c for c in self.components if not c.alive]
        if dead:
            raise StackError(self.diagnostics(
                "component(s) exited: " + ", ".join(f"{c.name} (rc {c.proc.returncode})" for c in dead)))

    def _wait(self, predicate, deadline: float, what: str, interval: float = 1.0) -> None:
        while True:
            self.check_alive()
            try:
                if predicate():
                    return
            except FatalStackError:
                raise
            except (StackError, OSError):
                pass
            if time.monotonic() > deadline:
                raise StackError(self.diagnostics(f"timed out waiting for {what}"))
            time.sleep(interval)

    def _health(self) -> dict | None:
        import httpx

        try:
            resp = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        except httpx.HTTPError:
            return None
        return resp.json() if resp.status_code == 200 else None

    def _healthy(self) -> bool:
        health = self._health() or {}
        return all((health.get(part) or {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"))

    def _dags_parsed(self) -> bool:
        errors = self.get("/api/v2/importErrors")
        if errors.get("total_entries"):
            raise FatalStackError(f"DAG import errors: {json.dumps(errors, indent=1)[:4000]}")
        return all(self.request("GET", f"/api/v2/dags/{d}", ok=(200, 404)) is not None
                   for d in ("retrain_fraud", "rollback_fraud"))

    # -- REST API v2 ---------------------------------------------------------------------------
    @property
    def http(self):
        import httpx

        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=60)
        return self._http

    def token(self) -> str:
        if self._token is None:
            resp = self.http.post("/auth/token", json={"username": ADMIN, "password": self.password})
            if resp.status_code not in (200, 201):
                raise StackError(f"POST /auth/token -> {resp.status_code}: {resp.text[:500]}")
            self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, *, json_body: Any = None, params: dict | None = None,
                ok: tuple[int, ...] = (200,)) -> Any:
        """One API call; 401 renews the token once; connection errors are retried briefly.

        Returns the decoded JSON body, or None for a status in `ok` other than 2xx (e.g. 404).
        """
        import httpx

        resp = None
        for attempt in range(6):
            try:
                resp = self.http.request(method, path, json=json_body, params=params,
                                         headers={"Authorization": f"Bearer {self.token()}"})
            except httpx.TransportError:
                if attempt == 5:
                    raise
                time.sleep(2)
                continue
            if resp.status_code == 401 and attempt == 0:
                self._token = None
                continue
            break
        assert resp is not None
        if resp.status_code not in ok:
            raise StackError(f"{method} {path} -> {resp.status_code}: {resp.text[:3000]}")
        if resp.status_code >= 300 or not resp.content:
            return None
        return resp.json()

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params or None)

    def unpause(self, dag_id: str) -> dict:
        return self.set_paused(dag_id, False)

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self.request("PATCH", f"/api/v2/dags/{dag_id}", json_body={"is_paused": paused},
                            params={"update_mask": "is_paused"})

    def trigger(self, dag_id: str, *, logical_date: dt.datetime | None = None, conf: dict | None = None,
                data_interval: tuple[dt.datetime, dt.datetime] | None = None) -> dict:
        body: dict[str, Any] = {"logical_date": logical_date.isoformat() if logical_date else None,
                                "conf": conf or {}}
        if data_interval is not None:
            body["data_interval_start"] = data_interval[0].isoformat()
            body["data_interval_end"] = data_interval[1].isoformat()
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json_body=body)

    def create_backfill(self, dag_id: str, from_date: dt.datetime, to_date: dt.datetime,
                        max_active_runs: int = 1) -> dict:
        return self.request("POST", "/api/v2/backfills", json_body={
            "dag_id": dag_id,
            "from_date": from_date.isoformat(),
            "to_date": to_date.isoformat(),
            "max_active_runs": max_active_runs,
            "run_backwards": False,
            "reprocess_behavior": "none",
        })

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100, order_by="id")["dag_runs"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        data = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances", limit=100)
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        data = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}",
                        full_content="true")
        content = data.get("content") if isinstance(data, dict) else data
        if isinstance(content, list):
            return "\n".join(json.dumps(c) if not isinstance(c, str) else c for c in content)
        return str(content)

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], *, include_downstream: bool = True) -> dict:
        return self.request("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", json_body={
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "include_downstream": include_downstream,
            "only_failed": False,
            "reset_dag_runs": True,
        })

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600.0,
                     states: set[str] = TERMINAL_RUN_STATES) -> dict:
        """Poll until the run is in a terminal state (bounded); diagnostics on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            run = self.dag_run(dag_id, run_id)
            if run["state"] in states:
                return run
            if time.monotonic() > deadline:
                raise StackError(self.diagnostics(f"timed out waiting for {dag_id} run {run_id} "
                                                  f"(state {run['state']})", dag_id, run_id))
            time.sleep(1)

    def backfill_runs(self, dag_id: str, backfill_id: int) -> list[dict]:
        """The DAG runs of one backfill (all are created with it, queued), in logical-date order."""
        runs = [r for r in self.dag_runs(dag_id) if r["run_type"] == "backfill"]
        mine = [r for r in runs if r["dag_run_id"] in self._backfill_run_ids(dag_id, backfill_id, runs)]
        return sorted(mine, key=lambda r: parse_time(r["logical_date"]))

    def _backfill_run_ids(self, dag_id: str, backfill_id: int, runs: list[dict]) -> set[str]:
        backfill = self.get(f"/api/v2/backfills/{backfill_id}")
        start, end = parse_time(backfill["from_date"]), parse_time(backfill["to_date"])
        return {r["dag_run_id"] for r in runs
                if start <= parse_time(r["data_interval_start"]) <= end}

    def wait_for_backfill(self, dag_id: str, backfill_id: int, expected_runs: int,
                          timeout: float = 900.0) -> list[dict]:
        """Poll until the backfill's runs are all finished (bounded); returns them in logical-date order.

        Waits on the runs, not on the backfill's `completed_at`: the scheduler marks backfills
        complete on a fixed 30 s timer, which would only add waiting.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            runs = self.backfill_runs(dag_id, backfill_id)
            if len(runs) >= expected_runs and all(r["state"] in TERMINAL_RUN_STATES for r in runs):
                return runs
            if time.monotonic() > deadline:
                states = [(r["dag_run_id"], r["state"]) for r in runs]
                raise StackError(self.diagnostics(f"timed out waiting for backfill {backfill_id}: {states}",
                                                  dag_id))
            time.sleep(1)

    # -- diagnostics ---------------------------------------------------------------------------
    def task_log_files(self) -> list[Path]:
        return sorted(p for p in self.home.rglob("*.log") if "dag_id=" in str(p))

    def diagnostics(self, headline: str, dag_id: str | list[str] | None = None, run_id: str | None = None) -> str:
        """The headline, the runs' task states, the newest task logs and each component's log tail."""
        parts = [f"=== {headline} (stack {self.id}, home {self.home}, db {self.db_name}) ==="]
        for dag in [dag_id] if isinstance(dag_id, str) else (dag_id or []):
            with contextlib.suppress(Exception):
                for run in self.dag_runs(dag):
                    if run_id and run["dag_run_id"] != run_id:
                        continue
                    tis = self.task_instances(dag, run["dag_run_id"])
                    states = ", ".join(f"{t}={ti['state']}(try {ti['try_number']})" for t, ti in tis.items())
                    parts.append(f"{dag} run {run['dag_run_id']} {run['state']}: {states}")
        with contextlib.suppress(Exception):
            recent = sorted(self.task_log_files(), key=lambda p: p.stat().st_mtime)[-6:]
            for path in recent:
                parts.append(f"--- task log {path.relative_to(self.home)} (tail) ---\n{tail(path, 25)}")
        for comp in self.components:
            state = "running" if comp.alive else f"exited {comp.proc.returncode if comp.proc else '?'}"
            parts.append(f"--- {comp.name} ({state}) log tail ---\n{tail(comp.log_path)}")
        return "\n".join(parts)


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def write_control_flow_models(path: Path) -> Path:
    """The shipped model configs with one small forest and wide paired-gate tolerances (fraud).

    The stack tests are about scheduling, backfills, clears and the on-call DAG, as the DAG tests of
    tests/integration/fast_training.py are: at 2,000 rows a week, the configured candidates and
    tolerances decide promotions by chance, which is what those tests must not depend on.
    """
    import yaml
    from retrain.config import DEFAULT_MODELS_DIR

    path.mkdir(parents=True, exist_ok=True)
    for src in DEFAULT_MODELS_DIR.glob("*.yaml"):
        raw = yaml.safe_load(src.read_text())
        if raw["name"] == "fraud":
            raw["training"]["candidates"] = [{
                "name": "random_forest", "estimator": "sklearn.ensemble.RandomForestClassifier",
                "params": {"n_estimators": 30, "max_depth": 8, "min_samples_leaf": 5,
                           "class_weight": "balanced", "n_jobs": 1, "random_state": 42}}]
            raw["training"]["cv_folds"] = 3
            raw["gate"]["tolerance"] = {m: {"roc_auc": 0.2, "recall": 0.5, "cost_per_1k": 1.0e6}[m]
                                        for m in raw["gate"]["compare"]}
        (path / src.name).write_text(yaml.safe_dump(raw))
    return path
