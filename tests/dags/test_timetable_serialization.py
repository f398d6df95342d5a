"""WeeklyTimetable inside real Airflow 3.3: plugin registration, DAG serialization, dag.test(),
and the scheduler's run-creation loop on an SQLite metadata DB.

Airflow reads its configuration (AIRFLOW_HOME, the DB URL, the plugins folder) once, when it is
first imported - and other test modules import it with the default configuration. So every check
that needs a configured Airflow runs in a child process: this file re-executes itself
(``python tests/dags/test_timetable_serialization.py <phase> ...``) with the environment of the
session fixture ``airflow_env``, which also runs ``airflow db migrate`` once. The same recipe
works for any DAG integration test:

    export AIRFLOW_HOME=$(mktemp -d)
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$AIRFLOW_HOME/airflow.db
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__PLUGINS_FOLDER=/work/main/plugins
    export AIRFLOW__CORE__DAGS_FOLDER=/path/to/dags     # dag.test() syncs this bundle to the DB
    .venv/bin/airflow db migrate
    .venv/bin/python -c 'import my_dag; my_dag.dag.test(logical_date=...)'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"
AIRFLOW = Path(sys.executable).with_name("airflow")
TZ = "Europe/Berlin"
TYPE = "retrain.timetable.WeeklyTimetable"

pytestmark = pytest.mark.slow

# Two DAGs with the timetable. Their task checks its own data interval, as a retrain task would:
# from the context, or - for a run without one (manual trigger with logical_date=None) - from
# week_interval_for(dag_run.run_after).
DAG_FILE = textwrap.dedent(
    """
    import datetime as dt
    import json
    import os
    from zoneinfo import ZoneInfo

    import pendulum
    from airflow.sdk import dag, task

    from retrain.timetable import WeeklyTimetable, week_interval_for

    TZ = "Europe/Berlin"


    @task
    def check_interval(**context):
        dag_run = context["dag_run"]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        source = "context"
        if start is None:
            start, end = week_interval_for(dag_run.run_after, TZ)
            source = "fallback"
        zone = ZoneInfo(TZ)
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        for value in (local_start, local_end):
            assert (value.weekday(), value.hour, value.minute, value.second) == (0, 0, 0, 0), value
        assert (local_end.date() - local_start.date()).days == 7
        assert local_end <= dag_run.run_after.astimezone(zone) or source == "context"
        expected = (dag_run.conf or {}).get("expected_start")
        if expected:
            assert local_start.date().isoformat() == expected, (local_start, expected)
        with open(os.environ["PROBE_OUT"], "a") as fh:
            fh.write(json.dumps({
                "source": source,
                "start": local_start.isoformat(),
                "end": local_end.isoformat(),
                "hours": (end - start).total_seconds() / 3600,
                "logical_date": dag_run.logical_date and dag_run.logical_date.isoformat(),
            }) + "\\n")


    @dag(
        dag_id="timetable_probe",
        schedule=WeeklyTimetable(timezone=TZ),
        start_date=pendulum.datetime(2024, 1, 1, tz=TZ),
        catchup=False,
    )
    def timetable_probe():
        check_interval()


    @dag(
        dag_id="timetable_probe_catchup",
        schedule=WeeklyTimetable(timezone=TZ),
        start_date=pendulum.datetime(2024, 3, 4, tz=TZ),
        catchup=True,
    )
    def timetable_probe_catchup():
        check_interval()


    probe = timetable_probe()
    probe_catchup = timetable_probe_catchup()
    """
)


# ---------------------------------------------------------------------------------------------
# pytest side
# ---------------------------------------------------------------------------------------------
def _base_env(home: Path, dags: Path, plugins: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        PROBE_OUT=str(home / "probe.jsonl"),
    )
    return env


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("airflow")
    home, dags = root / "home", root / "dags"
    home.mkdir()
    dags.mkdir()
    (dags / "timetable_probe.py").write_text(DAG_FILE)
    env = _base_env(home, dags, PLUGINS)
    proc = subprocess.run(
        [str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return env


def run_phase(env: dict[str, str], phase: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, phase, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, (
        f"phase {phase} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return json.loads(lines[-1][len("RESULT:") :])


def test_plugin_registers_and_dag_round_trips(airflow_env):
    result = run_phase(airflow_env, "roundtrip")
    assert TYPE in result["registered"]
    assert result["encoded"] == {
        "__type": TYPE,
        "__var": {"weekday": "monday", "hour": 2, "minute": 0, "timezone": TZ},
    }
    assert result["deserialized_type"] == TYPE
    assert result["equal"] is True
    assert result["summary"] == "Weekly on Monday at 02:00 Europe/Berlin (data: previous week)"
    # the scheduler's copies (SerializedDAG and the DAG processor's LazyDeserializedDAG) agree
    assert result["next_original"] == result["next_deserialized"] == result["next_lazy"]
    assert result["next_original"]["start_local"] == "2024-03-04T00:00:00+01:00"
    assert result["next_original"]["end_local"] == "2024-03-11T00:00:00+01:00"
    assert result["next_original"]["run_after_local"] == "2024-03-11T02:00:00+01:00"


def test_unregistered_timetable_fails_serialization(tmp_path):
    empty, dags = tmp_path / "plugins", tmp_path / "dags"
    empty.mkdir()
    dags.mkdir()
    (dags / "timetable_probe.py").write_text(DAG_FILE)
    env = _base_env(tmp_path, dags, empty)
    result = run_phase(env, "unregistered")
    assert result["error"] == "TimetableNotRegistered" or "is not registered" in result["message"]
    assert TYPE in result["message"]


def test_dag_test_runs_with_local_week_bounds(airflow_env):
    out = Path(airflow_env["PROBE_OUT"])
    out.unlink(missing_ok=True)
    result = run_phase(airflow_env, "dagtest")
    assert result["states"] == ["success", "success", "success"]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["source"], r["start"], r["end"], r["hours"]) for r in records] == [
        # logical_date Wednesday 2024-01-10 -> the week before it
        ("context", "2024-01-01T00:00:00+01:00", "2024-01-08T00:00:00+01:00", 168.0),
        # logical_date Wednesday 2024-04-03 -> the spring DST week, 167 h
        ("context", "2024-03-25T00:00:00+01:00", "2024-04-01T00:00:00+02:00", 167.0),
        # logical_date=None: no data interval in the context, the task falls back on run_after
        ("fallback", "2024-10-21T00:00:00+02:00", "2024-10-28T00:00:00+01:00", 169.0),
    ]
    assert records[2]["logical_date"] is None


def test_scheduler_loop_creates_every_week_with_catchup_and_only_the_latest_without(airflow_env):
    result = run_phase(airflow_env, "scheduler")
    starts = [r["start"][:10] for r in result["catchup_runs"]]
    assert starts == [
        "2024-03-04",
        "2024-03-11",
        "2024-03-18",
        "2024-03-25",
        "2024-04-01",
        "2024-04-08",
        "2024-04-15",
        "2024-04-22",
    ]
    for run in result["catchup_runs"]:
        assert run["start"][11:19] == run["end"][11:19] == "00:00:00"
        assert run["run_after"][11:19] == "02:00:00"
        assert run["run_after"][:10] == run["end"][:10]
        assert run["logical_date"] == run["start"]
    assert [r["hours"] for r in result["catchup_runs"]] == [168, 168, 168, 167, 168, 168, 168, 168]
    for prev, run in zip(result["catchup_runs"], result["catchup_runs"][1:], strict=False):
        assert run["start"] == prev["end"]

    # catchup=False, start_date in 2024: only the newest due week is created, then it waits
    assert len(result["no_catchup_runs"]) == 1
    assert result["no_catchup_runs"][0]["start"][:10] == result["expected_latest_start"]
    assert result["no_catchup_next_create_after_is_future"] is True


# ---------------------------------------------------------------------------------------------
# child-process side (Airflow configured by the environment before it is imported)
# ---------------------------------------------------------------------------------------------
def _load_probe_module():
    import importlib.util

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "timetable_probe.py"
    spec = importlib.util.spec_from_file_location("timetable_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _describe(info) -> dict:
    start, end = info.data_interval
    return {
        "start_local": start.in_timezone(TZ).isoformat(),
        "end_local": end.in_timezone(TZ).isoformat(),
        "run_after_local": info.run_after.in_timezone(TZ).isoformat(),
    }


def _phase_roundtrip() -> dict:
    from airflow import plugins_manager
    from airflow.serialization.serialized_objects import DagSerialization, LazyDeserializedDAG
    from airflow.timetables.base import TimeRestriction

    dag = _load_probe_module().probe_catchup
    data = json.loads(json.dumps(DagSerialization.to_dict(dag)))  # through real JSON, as stored
    serialized = DagSerialization.from_dict(data)
    lazy = LazyDeserializedDAG(data=data)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)

    def first(timetable):
        return _describe(
            timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        )

    return {
        "registered": sorted(plugins_manager.get_timetables_plugins()),
        "encoded": data["dag"]["timetable"],
        "deserialized_type": serialized.timetable.type_name,
        "equal": serialized.timetable == dag.timetable == lazy.timetable,
        "summary": serialized.timetable.summary,
        "next_original": first(dag.timetable),
        "next_deserialized": _describe(serialized.next_dagrun_info(last_automated_run_info=None)),
        "next_lazy": first(lazy.timetable),
    }


def _phase_unregistered() -> dict:
    from airflow.serialization.serialized_objects import DagSerialization

    dag = _load_probe_module().probe
    try:
        DagSerialization.to_dict(dag)
    except Exception as exc:  # SerializationError wrapping TimetableNotRegistered
        cause = exc
        while cause.__cause__ is not None and type(cause).__name__ != "TimetableNotRegistered":
            cause = cause.__cause__
        return {"error": type(cause).__name__, "message": f"{exc} | {cause}"}
    return {"error": None, "message": "serialized without the plugin"}


def _phase_dagtest() -> dict:
    import pendulum

    module = _load_probe_module()
    states = []
    for kwargs, expected in [
        ({"logical_date": pendulum.datetime(2024, 1, 10, 12, tz=TZ)}, "2024-01-01"),
        ({"logical_date": pendulum.datetime(2024, 4, 3, 12, tz=TZ)}, "2024-03-25"),
        ({"logical_date": None, "run_after": pendulum.datetime(2024, 10, 30, 9, tz=TZ)}, "2024-10-21"),
    ]:
        dag_run = module.probe.test(run_conf={"expected_start": expected}, **kwargs)
        states.append(str(getattr(dag_run.state, "value", dag_run.state)))
    return {"states": states}


def _phase_scheduler() -> dict:
    """Do what SchedulerJobRunner._create_dag_runs does, against the DB, with a pinned clock."""
    import pendulum
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    # `airflow dags reserialize` (run by the parent) parsed the bundle, serialized both DAGs with
    # the plugin loaded and let the DAG processor code set DagModel.next_dagrun* from the timetable.
    def create_due_runs(dag_id: str, now) -> tuple[list[dict], bool]:
        with create_session() as session:
            serdag = SerializedDagModel.get(dag_id=dag_id, session=session).dag
            dag_model = session.get(DagModel, dag_id)
            while (
                dag_model.next_dagrun_create_after is not None and dag_model.next_dagrun_create_after <= now
            ):
                info = serdag.timetable.next_run_info_from_dag_model(dag_model=dag_model)
                run = serdag.create_dagrun(
                    run_id=serdag.timetable.generate_run_id(
                        run_type=DagRunType.SCHEDULED,
                        run_after=info.run_after,
                        data_interval=info.data_interval,
                    ),
                    logical_date=info.logical_date,
                    data_interval=info.data_interval,
                    run_after=info.run_after,
                    run_type=DagRunType.SCHEDULED,
                    triggered_by=DagRunTriggeredByType.TIMETABLE,
                    state=DagRunState.QUEUED,
                    session=session,
                )
                dag_model.calculate_dagrun_date_fields(dag=serdag, reference_run=run)
                session.flush()
            runs = session.scalars(
                select(DagRun)
                .where(DagRun.dag_id == dag_id, DagRun.run_type == DagRunType.SCHEDULED)
                .order_by(DagRun.logical_date)
            ).all()
            future = (
                dag_model.next_dagrun_create_after is not None and dag_model.next_dagrun_create_after > now
            )

            def local(value):
                return pendulum.instance(value).in_timezone(TZ).isoformat()

            return [
                {
                    "start": local(r.data_interval_start),
                    "end": local(r.data_interval_end),
                    "run_after": local(r.run_after),
                    "logical_date": local(r.logical_date),
                    "hours": round((r.data_interval_end - r.data_interval_start).total_seconds() / 3600),
                }
                for r in runs
            ], future

    from retrain.timetable import WeeklyTimetable

    catchup_runs, _ = create_due_runs("timetable_probe_catchup", pendulum.datetime(2024, 4, 29, 12, tz=TZ))
    now = pendulum.now("UTC")
    no_catchup_runs, future = create_due_runs("timetable_probe", now)
    latest = WeeklyTimetable(timezone=TZ)._latest_due_monday(now)
    return {
        "catchup_runs": catchup_runs,
        "no_catchup_runs": no_catchup_runs,
        "no_catchup_next_create_after_is_future": future,
        "expected_latest_start": latest.isoformat(),
    }


if __name__ == "__main__":
    phase = sys.argv[1]
    if phase == "scheduler":
        subprocess.run([str(AIRFLOW), "dags", "reserialize"], check=True, capture_output=True)
    result = {
        "roundtrip": _phase_roundtrip,
        "unregistered": _phase_unregistered,
        "dagtest": _phase_dagtest,
        "scheduler": _phase_scheduler,
    }[phase]()
    print("RESULT:" + json.dumps(result), flush=True)
