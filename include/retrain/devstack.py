"""The local development stack: a project-local AIRFLOW_HOME (SQLite) and a moto S3 endpoint.

`retrain dev up` starts `airflow standalone` (sized for a 2-core laptop) and moto, writes
their PIDs under .run/, and prints the URL and login; `retrain dev down` stops both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from retrain.local_s3 import MotoServer, local_env

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".run"
UI_PORT = 8080
S3_PORT = 5055


def airflow_env(root: Path = ROOT) -> dict[str, str]:
    """The project-local Airflow configuration (the Makefile exports the same values)."""
    home = root / "airflow_home"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
        "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
    }


def apply_airflow_env(root: Path = ROOT) -> None:
    """Set the local Airflow env where the caller has not chosen otherwise (before importing airflow)."""
    for key, value in airflow_env(root).items():
        os.environ.setdefault(key, value)
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)


def migrate_db(quiet: bool = True) -> None:
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True,
                   stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.STDOUT if quiet else None)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def up() -> int:
    apply_airflow_env()
    RUN_DIR.mkdir(exist_ok=True)
    if (RUN_DIR / "airflow.pid").exists() and _pid_alive(int((RUN_DIR / "airflow.pid").read_text())):
        print("already running; `make down` first")
        return 1
    s3 = MotoServer(port=S3_PORT, pid_file=RUN_DIR / "moto.pid", log_file=RUN_DIR / "moto.log").start()
    env = {**os.environ, **local_env(s3.endpoint_url, os.environ.get("RETRAIN_BUCKET", "retrain-dev"))}
    # standalone starts its components as `airflow ...` from PATH: make it this venv's airflow
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    os.environ.update(env)
    from retrain.storage import S3Store

    store = S3Store.from_env()
    store.ensure_bucket()
    _land_sample_data(store)
    migrate_db()
    log = open(RUN_DIR / "airflow.log", "ab")  # noqa: SIM115 (handed to the child)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (RUN_DIR / "airflow.pid").write_text(str(proc.pid))
    url = f"http://127.0.0.1:{UI_PORT}"
    deadline = time.monotonic() + 240
    while True:
        try:
            with urllib.request.urlopen(url + "/api/v2/monitor/health", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"airflow standalone did not come up; see {RUN_DIR / 'airflow.log'}")
            down()
            return 1
        time.sleep(2)
    pw_file = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    login = json.loads(pw_file.read_text()) if pw_file.exists() else {}
    print(f"Airflow UI: {url}   login: {', '.join(f'{u} / {p}' for u, p in login.items()) or 'see airflow.log'}")
    print(f"Local S3:   {s3.endpoint_url}   bucket: {os.environ['RETRAIN_BUCKET']}")
    print("Landed:     12 synthetic weeks per model from 2026-01-05 (scenario 'demo'); trigger retrain_fraud")
    print("            with logical date 2026-01-12T02:00 (or any later Monday) in the UI")
    print("Stop:       make down")
    return 0


def _land_sample_data(store) -> None:
    """Synthetic weeks for every model with a generator, so the UI has something to run on."""
    import datetime as dt

    from retrain.config import load_all_models
    from retrain.datagen.landing import GENERATORS, land_weeks

    for cfg in load_all_models():
        if cfg.name in GENERATORS:
            land_weeks(store, cfg, start=dt.date(2026, 1, 5), weeks=12, scenario="demo", history_weeks=1)


def down() -> int:
    stopped = []
    for name in ("airflow", "moto"):
        pid_file = RUN_DIR / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):  # it exited between the check and the kill
                os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if not _pid_alive(pid):
                    break
                time.sleep(0.2)
            else:
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        pid_file.unlink()
    print("stopped: " + (", ".join(stopped) or "nothing was running"))
    return 0
