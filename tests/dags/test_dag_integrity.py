"""DAG integrity: every DAG file imports cleanly and cheaply, and every DAG carries the
settings operators rely on (schedule, max_active_runs, retries, tags, documented params)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from retrain.airflow.dag_factory import DEFAULT_ARGS
from retrain.config import load_all_models

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
HEAVY = ("pandas", "numpy", "sklearn", "scipy", "great_expectations", "joblib", "boto3", "pyarrow")
WEEKLY_TASKS = {
    "evaluate_triggers", "branch_on_decision", "skip", "validate_data", "build_features", "train",
    "evaluation_gate", "promote", "smoke_test", "rollback", "record_outcome",
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(DAG_FILES) >= 2


def test_one_weekly_and_one_rollback_dag_per_model_config(dagbag):
    models = load_all_models()
    assert {m.name for m in models} >= {"fraud"}
    expected = {m.retrain_dag_id for m in models} | {m.rollback_dag_id for m in models}
    expected |= {m.scoring_dag_id for m in models}
    assert set(dagbag.dag_ids) == expected


def test_scoring_dags_run_on_their_champion_asset_and_by_hand(dagbag):
    from airflow.sdk import Asset, AssetAlias
    from retrain.airflow.assets import champion_uri

    for cfg in load_all_models():
        dag = dagbag.dags[cfg.scoring_dag_id]
        assert dag.schedule == [Asset(name=f"{cfg.name}_champion", uri=champion_uri(cfg.name), group="model")]
        alias = AssetAlias(f"{cfg.name}_champion_changes", group="model")
        weekly, rollback = dagbag.dags[cfg.retrain_dag_id], dagbag.dags[cfg.rollback_dag_id]
        # the champion moves only in these tasks; each announces it through the alias
        assert [t.task_id for t in weekly.tasks if alias in t.outlets] == ["promote", "rollback"]
        assert [t.task_id for t in rollback.tasks if alias in t.outlets] == ["rollback"]


def test_weekly_dags_schedule_and_limits(dagbag):
    from retrain.timetable import WeeklyTimetable

    for cfg in load_all_models():
        dag = dagbag.dags[cfg.retrain_dag_id]
        assert isinstance(dag.timetable, WeeklyTimetable)
        assert dag.timetable.weekday == cfg.schedule.weekday
        assert (dag.timetable.hour, dag.timetable.minute) == (cfg.schedule.hour, cfg.schedule.minute)
        assert dag.timetable.timezone_name == cfg.schedule.timezone
        assert dag.max_active_runs == 1
        assert dag.catchup is cfg.schedule.catchup
        assert {t.task_id for t in dag.tasks} == WEEKLY_TASKS


def test_rollback_dags_are_manual_only(dagbag):
    for cfg in load_all_models():
        dag = dagbag.dags[cfg.rollback_dag_id]
        assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: manual only
        assert dag.max_active_runs == 1
        assert set(dag.params.keys()) == {"reason", "to_version", "dry_run", "allow_failed_smoke_test"}


def test_every_task_has_retries_set_and_every_dag_tags_and_docs(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        assert dag.doc_md, dag.dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", (dag.dag_id, task.task_id)
        # transient failures are retried (with backoff) by the tasks that touch S3
        assert any(t.retries >= 1 for t in dag.tasks), dag.dag_id


def test_only_tasks_that_decide_nothing_on_s3_run_without_retries(dagbag):
    """A task that touches S3 must retry a transient error; the exceptions are deliberate."""
    no_retry = {"branch_on_decision"}  # reads XCom only: a failure there is a bug, not an outage
    for cfg in load_all_models():
        weekly = dagbag.dags[cfg.retrain_dag_id]
        for task in weekly.tasks:
            expected = 0 if task.task_id in no_retry else DEFAULT_ARGS["retries"]
            assert task.retries == expected, (weekly.dag_id, task.task_id, task.retries)
        assert task.retry_exponential_backoff, (weekly.dag_id, task.task_id)
        rollback = dagbag.dags[cfg.rollback_dag_id]
        # once each: a retried on-call swap re-plans and finds "already rolled back" (retrain.pipeline.oncall)
        assert {t.task_id: t.retries for t in rollback.tasks} == {"rollback": 1, "smoke_test": 1}


def test_every_param_is_documented_for_the_trigger_form(dagbag):
    for dag in dagbag.dags.values():
        for name, param in dag.params.items():
            assert param.description, f"{dag.dag_id}.{name} has no description"
            assert param.schema.get("type"), f"{dag.dag_id}.{name} has no type"


def test_weekly_dag_wiring(dagbag):
    dag = dagbag.dags["retrain_fraud"]
    assert dag.get_task("branch_on_decision").downstream_task_ids == {"validate_data", "skip"}
    assert dag.get_task("rollback").upstream_task_ids == {"smoke_test"}
    assert dag.get_task("rollback").trigger_rule == "one_failed"
    outcome = dag.get_task("record_outcome")
    assert outcome.trigger_rule == "all_done" and outcome.downstream_task_ids == set()
    # the only leaf: the run's final state is decided by record_outcome
    assert [t.task_id for t in dag.tasks if not t.downstream_task_ids] == ["record_outcome"]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_pulls_in_no_heavy_library_at_parse_time(dag_file):
    probe = (
        "import json, runpy, sys\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    # scoring.py schedules on an s3:// Asset: Airflow normalises its URI with the Amazon provider's
    # handler, which imports S3Hook (boto3). Nothing else heavy; the other DAG files stay boto3-free.
    expected = ["boto3"] if dag_file.name == "scoring.py" else []
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected


def test_dag_files_only_wire():
    """DAG files import only the config loader, the factory and its per-model isolation (logic lives in include/)."""
    for path in DAG_FILES:
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert modules <= {"retrain.config", "retrain.airflow.dag_factory", "retrain.airflow.model_dags"}, (path.name, modules)


def _package_import_graph() -> dict[str, set[str]]:
    """Module-level imports between retrain.* modules (imports inside functions are lazy)."""
    pkg = ROOT / "include" / "retrain"
    graph: dict[str, set[str]] = {}
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("retrain"):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("retrain")}
        graph[name] = deps
    return graph


def test_package_has_no_import_cycles():
    graph = _package_import_graph()
    assert "retrain.pipeline.steps" in graph and "retrain.config" in graph
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]):
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(stack + [node, dep])}")
            if state.get(dep) is None:
                visit(dep, stack + [node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_airflow_is_imported_only_by_the_adapter_modules():
    allowed = {"retrain.airflow.tasks", "retrain.airflow.dag_factory", "retrain.airflow.model_dags",
               "retrain.timetable",  # stays at its path: DAGs serialize it as retrain.timetable.WeeklyTimetable
               "retrain.storage.s3",  # the S3Hook client (the only S3 code)
               "retrain.airflow.alerts", "retrain.cli",
               "retrain.airflow.alert_message",  # Airflow's [api] base_url, for the alert's link to the task
               "retrain.airflow.assets",  # the champion Asset and its alias (SDK objects)
               "retrain.airflow.approval", "retrain.airflow.deadline",  # HITL operator and deadline alert (SDK objects)
               "retrain.airflow.branching",  # the weekly branch operator
               "retrain.airflow.ui.app",  # the UI page's adapter to Airflow's auth manager
               "retrain.airflow.celery_worker"}  # Airflow's Celery config plus the worker preload
    pkg = ROOT / "include" / "retrain"
    offenders = []
    for path in pkg.rglob("*.py"):
        name = ".".join(path.relative_to(pkg.parent).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        uses = any(
            (isinstance(n, ast.ImportFrom) and (n.module or "").startswith("airflow"))
            or (isinstance(n, ast.Import) and any(a.name.startswith("airflow") for a in n.names))
            for n in ast.walk(tree)
        )
        if uses and name not in allowed:
            offenders.append(name)
    assert offenders == []
