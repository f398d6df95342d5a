"""The local development stack: its own AIRFLOW_HOME (SQLite) and a moto S3 endpoint.

`retrain dev up` (make up) starts `airflow standalone` (sized for a 2-core laptop) and moto,
writes their PIDs under .run/, and prints the URL, the login and exactly what to trigger;
`retrain dev down` stops both.

Its own clean state: moto keeps objects in memory, so every `make up` starts with an empty
bucket; the stack's metadata DB (.run/stack/airflow_home, apart from the demo's airflow_home/)
is recreated with it, so the UI never lists runs whose S3 objects are gone. The sample weeks
are landed up to the last complete week, the data week the default Trigger (logical date
now) and the first scheduled run cover, so neither fails for lack of data; they are normal
weeks (the demo story, which ends with a broken batch, is landed before them for a backfill).

The CLI finds the stack by itself: up writes .run/stack.env (the S3 connection and bucket),
which `retrain` reads when AIRFLOW_CONN_AWS_DEFAULT is not set; down removes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from retrain_dev.local_s3 import MotoServer, local_env

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".run"
STACK_HOME = RUN_DIR / "stack" / "airflow_home"
STACK_ENV_FILE = RUN_DIR / "stack.env"
UI_PORT = 8080
S3_PORT = 5055
SAMPLE_WEEKS = 12


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


def stack_env(home: Path = STACK_HOME) -> dict[str, str]:
    """The stack's Airflow configuration: airflow_env() with its own home and metadata DB."""
    return {**airflow_env(), "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{UI_PORT}"}


def write_stack_env(env: dict[str, str], path: Path = STACK_ENV_FILE) -> None:
    """What the CLI needs to reach the stack's S3, as `export KEY='value'` lines (`source`-able)."""
    keep = ("AIRFLOW_CONN_AWS_DEFAULT", "RETRAIN_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION")
    path.write_text("".join(f"export {k}={shlex.quote(env[k])}\n" for k in keep if k in env))


def read_stack_env(path: Path | None = None) -> dict[str, str]:
    path, out = path or STACK_ENV_FILE, {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = shlex.split(line)
            if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
                key, value = parts[1].split("=", 1)
                out[key] = value
    return out


def use_stack_if_unconfigured(environ=os.environ, path: Path | None = None) -> bool:
    """CLI: with no S3 connection configured, use a running `make up` stack's (from .run/stack.env)."""
    path = path or STACK_ENV_FILE
    if environ.get("AIRFLOW_CONN_AWS_DEFAULT") or not path.exists():
        return False
    pid_file = path.parent / "moto.pid"
    if not (pid_file.exists() and _pid_alive(int(pid_file.read_text()))):
        return False
    for key, value in read_stack_env(path).items():
        environ.setdefault(key, value)
    return True


def sample_weeks(now: dt.datetime, timezones=("Europe/Berlin",), weeks: int = SAMPLE_WEEKS) -> tuple[dt.date, dt.date]:
    """First and last sample data week: the last is the last complete local week before `now`
    (the week a manual Trigger with the default logical date covers) in the latest of the zones."""
    import pendulum
    from retrain.keys import week_start

    today = max(pendulum.instance(now).in_timezone(tz).date() for tz in timezones)
    last = week_start(today) - dt.timedelta(days=7)
    return last - dt.timedelta(weeks=weeks - 1), last


def up() -> int:
    RUN_DIR.mkdir(exist_ok=True)
    if (RUN_DIR / "airflow.pid").exists() and _pid_alive(int((RUN_DIR / "airflow.pid").read_text())):
        print("already running; `make down` first")
        return 1
    # a fresh metadata DB with every fresh (in-memory) S3: no runs without objects behind them
    shutil.rmtree(STACK_HOME, ignore_errors=True)
    STACK_HOME.mkdir(parents=True)
    os.environ.update(stack_env())
    s3 = MotoServer(port=S3_PORT, pid_file=RUN_DIR / "moto.pid", log_file=RUN_DIR / "moto.log").start()
    env = {**os.environ, **local_env(s3.endpoint_url, os.environ.get("RETRAIN_BUCKET", "retrain-dev"))}
    write_stack_env(env)
    # standalone starts its components as `airflow ...` from PATH: make it this venv's airflow
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    os.environ.update(env)
    from retrain.storage import S3Store

    store = S3Store.from_env()
    store.ensure_bucket()
    from retrain.config import load_all_models

    zones = {cfg.schedule.timezone for cfg in load_all_models()}
    first, last = sample_weeks(dt.datetime.now(dt.UTC), zones)  # wall-clock ok: the weeks a Trigger now covers
    _land_sample_data(store, first)
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
    print(trigger_help(first, last))
    print("CLI:        retrain registry show --model fraud   (finds this stack through .run/stack.env;")
    print(f"            or in any shell: source {STACK_ENV_FILE})")
    print(f"Metadata:   {STACK_HOME} (recreated by every make up; the demo keeps airflow_home/)")
    print("Stop:       make down")
    return 0


def story_weeks(first_stable: dt.date, weeks: int = SAMPLE_WEEKS) -> tuple[dt.date, dt.date]:
    """The fraud demo story's data weeks: the `weeks` weeks just before the stable ones."""
    return first_stable - dt.timedelta(weeks=weeks), first_stable - dt.timedelta(weeks=1)


def trigger_help(first: dt.date, last: dt.date) -> str:
    """Exactly what to trigger in the UI for the landed sample weeks."""
    from retrain.airflow.notes import backfill_dates

    story_first, story_last = story_weeks(first)
    since, until = backfill_dates(story_first, story_last)
    return "\n".join([
        f"Landed:     {SAMPLE_WEEKS} normal weeks per model, data weeks {first} ... {last}; for fraud also the demo",
        f"            story before them, weeks {story_first} ... {story_last} (drift, broken labels, a missing column)",
        "Try:        DAGs > retrain_fraud > Trigger, keep the defaults (logical date now): it runs data week "
        f"{last},",
        "            the last complete week (the first run trains: no champion yet). Unpausing also schedules",
        f"            week {last}; it finds that champion and records its decision.",
        f"Story:      retrain_fraud > Backfill, From {since} To {until}: the demo's 12 weeks in order",
        "            (UTC dates: From is the Sunday before the first Monday); each run's note names its week.",
    ])


def _land_sample_data(store, first: dt.date) -> None:
    """Normal weeks up to the last complete one (every window a default Trigger reads is clean),
    and, for fraud, the demo story before them (it ends with a batch that fails validation)."""
    from retrain.config import load_all_models

    from retrain_dev.datagen.landing import GENERATORS, land_weeks

    for cfg in load_all_models():
        if cfg.name == "fraud":
            land_weeks(store, cfg, start=story_weeks(first)[0], weeks=SAMPLE_WEEKS, scenario="demo", history_weeks=1)
            land_weeks(store, cfg, start=first, weeks=SAMPLE_WEEKS, scenario="stable")
        elif cfg.name in GENERATORS:
            land_weeks(store, cfg, start=first, weeks=SAMPLE_WEEKS, scenario="stable", history_weeks=1)


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
    STACK_ENV_FILE.unlink(missing_ok=True)
    print("stopped: " + (", ".join(stopped) or "nothing was running"))
    return 0
