"""Fixtures of the full-stack tests: one Airflow stack at a time, and the stories built on it.

* `stacks` (package): starts stacks on demand and keeps at most ONE running (2 cores): the
  PostgreSQL + LocalExecutor stack serves test_backfill_and_clear and test_manual_triggers, the
  Celery stack serves test_celery (ordered last, see pytest_collection_modifyitems). At the end it
  stops everything and asserts that no process and no database of any stack is left.
* `backfill_story` / `clear_story`: the backfill of the first weeks and the clear-and-rerun of the
  next week, each done once per stack through the REST API and cached on it, so a module run on
  its own builds the state it needs.

The scenario: one stable history week, then five weeks of "drift_from_week_4" (2000 rows each):
W1 first deployment, W2-W3 stable (skip), W4 covariate drift starts, W5 drift persists.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .airflow_stack import AirflowStack, StackError, parse_time, postgres_problem, redis_problem

RETRAIN_DAG = "retrain_fraud"
ROLLBACK_DAG = "rollback_fraud"
MODEL = "fraud"

START = dt.date(2026, 1, 5)  # W1 (a Monday)
SCENARIO = "drift_from_week_4"
SCENARIO_WEEKS = 5
HISTORY_WEEKS = 1
ROWS = 2000


def week(n: int) -> dt.date:
    """Monday of scenario week n (1-based)."""
    return START + dt.timedelta(weeks=n - 1)


BACKFILL_WEEKS = [week(1), week(2), week(3)]
CLEAR_WEEK = week(4)  # drift starts: a run that retrains, made to fail once on a bad batch
FORCE_WEEK = week(5)  # drift persists vs a champion trained on drifted data: the triggers would skip
# (trigger, outcome) per backfilled week, as running the weeks one by one gives them
EXPECTED_BACKFILL = [("first_deployment", "promoted"), ("none", "skipped"), ("none", "skipped")]

RUN_TIMEOUT = 600.0
BACKFILL_TIMEOUT = 720.0


def pytest_collection_modifyitems(session, config, items):
    """Mark every test of this package `stack`; run the Celery module last among them (one start per stack).

    The package's tests stay together, so the package-scoped `stacks` fixture stops the last stack as
    soon as they are done, not at the end of the session.
    """
    here = Path(__file__).parent
    mine = [i for i in items if here in i.path.parents]
    if not mine:
        return
    for item in mine:
        item.add_marker(pytest.mark.stack)
    ordered = [i for i in mine if i.path.name != "test_celery.py"] + [i for i in mine if i.path.name == "test_celery.py"]
    first = items.index(mine[0])
    rest = [i for i in items if i not in set(mine)]
    items[:] = rest[:first] + ordered + rest[first:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the running stack's state: DAG runs and task states, task and component logs."""
    outcome = yield
    report = outcome.get_result()
    pool = _POOL.get("pool")
    if report.failed and pool is not None and pool.current is not None and "stack" in item.keywords:
        try:
            text = pool.current.diagnostics(f"{item.nodeid} failed ({report.when})", [RETRAIN_DAG, ROLLBACK_DAG])
        except Exception as exc:  # noqa: BLE001 (diagnostics must never hide the failure)
            text = f"(no diagnostics: {exc})"
        report.sections.append(("airflow stack", text))


# ------------------------------------------------------------------------------ stacks
_POOL: dict[str, StackPool] = {}


class StackPool:
    """Starts stacks on demand; at most one runs at a time."""

    def __init__(self, base_dir: Path, s3_endpoint: str):
        self.base_dir = base_dir
        self.s3_endpoint = s3_endpoint
        self.current: AirflowStack | None = None
        self.started: list[AirflowStack] = []
        self.failed: dict[str, BaseException] = {}
        self.results: dict[str, Any] = {}  # summaries that outlive a stack (cross-stack comparisons)

    def get(self, kind: str) -> AirflowStack:
        if self.current is not None and self.current.name == kind:
            return self.current
        if kind in self.failed:
            pytest.fail(f"the {kind} stack failed to start earlier: {self.failed[kind]}", pytrace=False)
        problem = postgres_problem() or (redis_problem() if kind == "celery" else None)
        if problem:
            pytest.fail(problem, pytrace=False)
        if self.current is not None:
            t0 = time.monotonic()
            self.current.stop()
            print(f"\nstack {self.current.id} stopped in {time.monotonic() - t0:.0f}s")
            self.current = None
        from retrain.config import Settings
        from retrain.storage import S3Store

        bucket = f"retrain-stack-{kind}-{uuid.uuid4().hex[:8]}"
        S3Store(Settings(bucket=bucket)).ensure_bucket()
        stack = AirflowStack(
            name=kind, base_dir=self.base_dir, s3_endpoint=self.s3_endpoint, bucket=bucket,
            executor="CeleryExecutor" if kind == "celery" else "LocalExecutor",
            celery_workers=2 if kind == "celery" else 0,
            # redis://127.0.0.1:6379/7 unless another test run holds it (then 8 .. 15)
            redis_dbs=tuple(int(x) for x in os.environ.get("RETRAIN_STACK_REDIS_DBS", "7,8,9,10,11,12,13,14,15").split(",")),
        )
        self.started.append(stack)
        try:
            stack.start()
            for dag_id in (RETRAIN_DAG, ROLLBACK_DAG):
                assert stack.unpause(dag_id)["is_paused"] is False
        except BaseException as exc:
            self.failed[kind] = exc
            stack.stop()
            raise
        self.current = stack
        print(f"\nstack {stack.id} ({stack.executor}) started in {stack.started_in:.0f}s: {stack.url}, "
              f"home {stack.home}, database {stack.db_name}, bucket {bucket}")
        return stack

    def close(self) -> list[str]:
        for stack in self.started:
            stack.stop()
        return [f"{stack.id}: {item}" for stack in self.started for item in stack.leftovers()]


@pytest.fixture(scope="package")
def stacks(moto_server, tmp_path_factory):
    def _interrupt(signum, frame):  # SIGTERM ends the session through the fixtures' teardown
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _interrupt)
    pool = StackPool(tmp_path_factory.mktemp("stacks"), moto_server.endpoint_url)
    _POOL["pool"] = pool
    try:
        yield pool
    finally:
        _POOL.pop("pool", None)
        leftovers = pool.close()
        signal.signal(signal.SIGTERM, previous)
    assert not leftovers, f"the full-stack tests left processes or databases behind: {leftovers}"


@pytest.fixture
def local_stack(stacks) -> AirflowStack:
    return stacks.get("local")


@pytest.fixture
def celery_stack(stacks) -> AirflowStack:
    return stacks.get("celery")


# ------------------------------------------------------------------------------ S3 helpers
@pytest.fixture(scope="session")
def cfg():
    from retrain.config import load_model_config

    return load_model_config(MODEL)


@pytest.fixture(scope="session")
def keys():
    from retrain.keys import Keys

    return Keys(MODEL, "")


def store_for(stack: AirflowStack):
    from retrain.config import Settings
    from retrain.storage import S3Store

    return S3Store(Settings(bucket=stack.bucket))


def week_start_utc(day: dt.date, cfg) -> dt.datetime:
    """Monday 00:00 in the schedule's time zone (the logical date of that week's scheduled run), in UTC."""
    import pendulum

    return pendulum.datetime(day.year, day.month, day.day, tz=cfg.schedule.timezone).in_timezone("UTC")


def week_interval(day: dt.date, cfg) -> tuple[dt.datetime, dt.datetime]:
    return week_start_utc(day, cfg), week_start_utc(day + dt.timedelta(days=7), cfg)


def run_week(run: dict, cfg) -> dt.date:
    from retrain.timetable import data_week

    return data_week(parse_time(run["data_interval_start"]), cfg.schedule.timezone)


def week_label(version: str | None) -> str | None:
    """The data week of a version id (e.g. 2026-W02-1a2b3c4d -> 2026-W02): ids differ by run id."""
    return version[:8] if version else None


def registry_objects(store, keys) -> dict[str, str]:
    """Every object under the model's registry prefix with its ETag."""
    return {key: store.head(key).etag for key in store.list_keys(keys.registry_prefix())}


def registry_problems(store, keys) -> list[str]:
    """Anything under registry/ that is not the slots, an audit record or a complete, verified version."""
    from retrain import registry
    from retrain.errors import RegistryError

    prefix = keys.registry_prefix()
    versions: dict[str, set[str]] = {}
    problems = []
    for key in store.list_keys(prefix):
        rel = key[len(prefix):]
        parts = rel.split("/")
        if rel == "slots.json" or (len(parts) == 2 and parts[0] == "audit" and parts[1].endswith(".json")):
            continue
        if len(parts) == 3 and parts[0] == "versions":
            versions.setdefault(parts[1], set()).add(parts[2])
            continue
        problems.append(f"unexpected object {key}")
    for version, files in sorted(versions.items()):
        if "manifest.json" not in files:
            problems.append(f"version {version} has no manifest.json (partial): {sorted(files)}")
            continue
        try:
            manifest = registry.verify_version(store, keys, version)
        except RegistryError as exc:
            problems.append(f"version {version} does not verify: {exc}")
            continue
        extra = files - set(manifest["files"]) - {"manifest.json"}
        if extra:
            problems.append(f"version {version} has files its manifest does not list: {sorted(extra)}")
    return problems


def print_retries(dag_id: str, run_id: str, tis: dict[str, dict], expected: set[str] = frozenset()) -> None:
    """Tasks that needed another try (a transient hiccup, e.g. S3 or the API right after start) are
    reported, not failed: the DAG's retries exist for exactly that; the run's final state is what counts."""
    retried = {t: ti["try_number"] for t, ti in tis.items() if (ti.get("try_number") or 0) > 1 and t not in expected}
    if retried:
        print(f"note: {dag_id} {run_id}: tasks that needed more than one try: {retried}")


# ------------------------------------------------------------------------------ stories
@dataclass
class BackfillStory:
    stack: AirflowStack
    store: Any
    weeks: list[dt.date]
    backfill: dict
    runs: list[dict]  # the backfill's runs, in logical-date order
    tis: dict[str, dict[str, dict]]  # run id -> task id -> task instance
    outcomes: list[dict]  # outcome.json of each run (week order)
    decisions: list[dict]  # decision.json of each run
    slots: Any
    history: list[dict]
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """What must equal between two executions of the same weeks: weeks, actions, never ids."""
        return {
            "runs": [(o["week"], o["trigger"], o["outcome"], week_label(o.get("champion_after")))
                     for o in self.outcomes],
            "history": [(e["action"], e["outcome"], week_label(e.get("from_version")), week_label(e.get("to_version")))
                        for e in self.history],
            "slots": (week_label(self.slots.champion.version) if self.slots and self.slots.champion else None,
                      week_label(self.slots.previous.version) if self.slots and self.slots.previous else None),
        }


def land_scenario(store, cfg) -> list[dict]:
    from retrain_dev.datagen.landing import land_weeks

    return land_weeks(store, cfg, start=START, weeks=SCENARIO_WEEKS, scenario=SCENARIO, rows=ROWS,
                      history_weeks=HISTORY_WEEKS)


def run_backfill_story(stack: AirflowStack, cfg, keys, weeks: list[dt.date]) -> BackfillStory:
    """Land the scenario, backfill `weeks` through POST /api/v2/backfills, wait, collect the evidence."""
    from retrain import registry

    store = store_for(stack)
    land_scenario(store, cfg)
    backfill = stack.create_backfill(RETRAIN_DAG, week_start_utc(weeks[0], cfg), week_start_utc(weeks[-1], cfg),
                                     max_active_runs=1)
    t0 = time.monotonic()
    runs = stack.wait_for_backfill(RETRAIN_DAG, backfill["id"], len(weeks), timeout=BACKFILL_TIMEOUT)
    print(f"backfill of {len(weeks)} week(s) on {stack.executor} done in {time.monotonic() - t0:.0f}s")
    tis = {r["dag_run_id"]: stack.task_instances(RETRAIN_DAG, r["dag_run_id"]) for r in runs}
    for run in runs:
        print_retries(RETRAIN_DAG, run["dag_run_id"], tis[run["dag_run_id"]])
    if any(r["state"] != "success" for r in runs):
        print(stack.diagnostics("a backfill run did not succeed", RETRAIN_DAG))
    outcomes, decisions = [], []
    for run in runs:
        w = run_week(run, cfg)
        outcomes.append(store.get_json(keys.run_artifact(w, run["dag_run_id"], "outcome.json")))
        decisions.append(store.get_json(keys.run_artifact(w, run["dag_run_id"], "decision.json")))
    slots, _ = registry.read_slots(store, keys)
    return BackfillStory(stack=stack, store=store, weeks=weeks, backfill=backfill, runs=runs, tis=tis,
                         outcomes=outcomes, decisions=decisions, slots=slots,
                         history=registry.history(store, keys))


@pytest.fixture
def backfill_story(local_stack, stacks, cfg, keys) -> BackfillStory:
    if "backfill" not in local_stack.state:
        story = run_backfill_story(local_stack, cfg, keys, BACKFILL_WEEKS)
        local_stack.state["backfill"] = story
        stacks.results["local_backfill"] = story.summary()
    return local_stack.state["backfill"]


@dataclass
class ClearStory:
    run_id: str
    week: dt.date
    failed_run: dict
    failed_tis: dict[str, dict]
    failed_outcome: dict
    cleared: list[str]
    run: dict
    tis: dict[str, dict]
    outcome: dict
    before: dict[str, str]  # registry objects (key -> ETag) before the run
    after_failure: dict[str, str]
    slots_before: Any
    history_before: list[dict]
    failure_log: str = ""


def corrupt_batch(good: bytes, fmt: str, drop: str) -> bytes:
    """The same batch without a required column (a broken upstream export)."""
    from retrain.core.frames import from_bytes, to_bytes

    frame = from_bytes(good, fmt, name="batch")
    return to_bytes(frame.drop(columns=[drop]), fmt)


def run_clear_story(stack: AirflowStack, cfg, keys) -> ClearStory:
    """A run of CLEAR_WEEK fails on a bad batch; the batch is fixed; validate_data (+downstream) is cleared."""
    from retrain import registry

    store = store_for(stack)
    landing_key = keys.landing(CLEAR_WEEK, cfg.data.format)
    good = store.get_bytes(landing_key)
    store.put_bytes(landing_key, corrupt_batch(good, cfg.data.format, drop="merchant_category"))
    before = registry_objects(store, keys)
    slots_before, _ = registry.read_slots(store, keys)
    history_before = registry.history(store, keys)

    run = stack.trigger(RETRAIN_DAG, logical_date=week_start_utc(CLEAR_WEEK, cfg),
                        data_interval=week_interval(CLEAR_WEEK, cfg))
    run_id = run["dag_run_id"]
    failed_run = stack.wait_for_run(RETRAIN_DAG, run_id, timeout=RUN_TIMEOUT)
    failed_tis = stack.task_instances(RETRAIN_DAG, run_id)
    failed_outcome = store.get_json(keys.run_artifact(CLEAR_WEEK, run_id, "outcome.json"))
    after_failure = registry_objects(store, keys)
    failure_log = ""
    if failed_tis.get("validate_data", {}).get("state") == "failed":
        try:
            failure_log = stack.task_log(RETRAIN_DAG, run_id, "validate_data", failed_tis["validate_data"]["try_number"])
        except StackError as exc:
            failure_log = f"(log not available: {exc})"

    store.put_bytes(landing_key, good)  # the upstream export is fixed: the good batch lands again
    cleared = stack.clear(RETRAIN_DAG, run_id, ["validate_data"], include_downstream=True)
    rerun = stack.wait_for_run(RETRAIN_DAG, run_id, timeout=RUN_TIMEOUT)
    tis = stack.task_instances(RETRAIN_DAG, run_id)
    print_retries(RETRAIN_DAG, run_id, tis, expected={t["task_id"] for t in cleared["task_instances"]})
    if rerun["state"] != "success":
        print(stack.diagnostics("the cleared run did not succeed", RETRAIN_DAG, run_id))
    return ClearStory(
        run_id=run_id, week=CLEAR_WEEK, failed_run=failed_run, failed_tis=failed_tis,
        failed_outcome=failed_outcome, cleared=sorted(ti["task_id"] for ti in cleared["task_instances"]),
        run=rerun, tis=tis, outcome=store.get_json(keys.run_artifact(CLEAR_WEEK, run_id, "outcome.json")),
        before=before, after_failure=after_failure, slots_before=slots_before, history_before=history_before,
        failure_log=failure_log,
    )


@pytest.fixture
def clear_story(local_stack, backfill_story, cfg, keys) -> ClearStory:
    if "clear" not in local_stack.state:
        local_stack.state["clear"] = run_clear_story(local_stack, cfg, keys)
    return local_stack.state["clear"]
