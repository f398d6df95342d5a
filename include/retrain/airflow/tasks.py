"""The Airflow adapter: task callables that turn an Airflow context into a RunContext and
map the bundle's errors onto Airflow's retry semantics.

Deterministic failures (bad data, a rejected challenger, a registry refusal) become
AirflowFailException, so they fail at once instead of retrying; transient storage errors
propagate unchanged and are retried with exponential backoff (see dag_factory.DEFAULT_ARGS).
This is the only module of the package, with dag_factory, that imports Airflow.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from retrain.config import Settings, load_model_config
from retrain.errors import DeterministicError

log = logging.getLogger(__name__)


def data_week(start, end, run_after, timezone: str) -> dt.date:
    """Monday of the week a run covers, from its data interval (never from the clock).

    A full-week interval gives its start week. A run without a real interval (a manual
    trigger with no logical date, or a zero-length one) covers the last complete week
    before it was triggered.
    """
    import pendulum

    from retrain.keys import week_start

    tz = pendulum.timezone(timezone)
    if start is not None and end is not None and (end - start) >= dt.timedelta(days=6):
        return week_start(pendulum.instance(start).in_timezone(tz).date())
    anchor = end or run_after
    if anchor is None:
        raise DeterministicError("the DAG run has neither a data interval nor a run_after time")
    return week_start(pendulum.instance(anchor).in_timezone(tz).date()) - dt.timedelta(days=7)


def run_context(model: str, context):
    from retrain.pipeline.steps import RunContext

    cfg = load_model_config(model)
    dag_run = context["dag_run"]
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    week = data_week(start, end, getattr(dag_run, "run_after", None), cfg.schedule.timezone)
    logical = context.get("logical_date")
    triggered_by = {
        "run_type": str(getattr(dag_run, "run_type", "") or ""),
        "user": getattr(dag_run, "triggering_user_name", None),
    }
    return RunContext(
        cfg=cfg,
        settings=Settings.from_env(),
        week=week,
        run_id=dag_run.run_id,
        data_interval=(
            start.isoformat() if start else week.isoformat(),
            end.isoformat() if end else (week + dt.timedelta(days=7)).isoformat(),
        ),
        logical_date=logical.isoformat() if logical else None,
        dag_id=dag_run.dag_id,
        triggered_by=triggered_by,
    )


def _airflow_errors(fn):
    """Deterministic bundle errors fail the task without retries; the rest propagate."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from airflow.sdk.exceptions import AirflowFailException

        try:
            return fn(*args, **kwargs)
        except DeterministicError as exc:
            from retrain.errors import DataValidationError, GateRejected

            if isinstance(exc, (DataValidationError, GateRejected)):  # a verdict: its message is the report,
                raise AirflowFailException(str(exc)) from None  # logged once by Airflow, no chained copy
            log.error("%s", exc)
            raise AirflowFailException(str(exc)) from exc

    return wrapper


def _task_states(context) -> dict[str, str | None]:
    """Current states of this run's task instances (states, unlike S3 records, are never stale)."""
    ti, dag_run = context["ti"], context["dag_run"]
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id])
    return {k: str(v) if v is not None else None for k, v in (states.get(dag_run.run_id) or {}).items()}


def steps_for(model: str, context):
    from retrain.pipeline.steps import Steps

    return Steps(run_context(model, context))


@_airflow_errors
def evaluate_triggers(model: str, **context) -> dict:
    params = context.get("params") or {}
    force = bool(params.get("force", False)) or _data_version(context) is not None  # a data version retrains
    steps = steps_for(model, context)
    from retrain.core.schedule_range import require_scheduled_week

    require_scheduled_week(steps.ctx.cfg, steps.ctx.week)  # before the schedule: fail loudly, not empty
    return steps.evaluate_triggers(force=force)


def _data_version(context) -> str | None:
    """The `data_version` param: train on an earlier run's inputs instead of this week's."""
    value = (context.get("params") or {}).get("data_version")
    return str(value).strip() or None if value else None


def choose_branch(model: str, **context) -> str:
    decision = context["ti"].xcom_pull(task_ids="evaluate_triggers") or {}
    return "validate_data" if decision.get("retrain", True) else "skip"


@_airflow_errors
def skip(model: str, **context) -> dict:
    decision = context["ti"].xcom_pull(task_ids="evaluate_triggers") or {}
    return steps_for(model, context).skip(decision)


@_airflow_errors
def validate_data(model: str, **context) -> dict:
    return steps_for(model, context).validate(data_version=_data_version(context))


@_airflow_errors
def build_features(model: str, **context) -> dict:
    return steps_for(model, context).build_features(data_version=_data_version(context))


@_airflow_errors
def train(model: str, **context) -> dict:
    return steps_for(model, context).train()


@_airflow_errors
def evaluation_gate(model: str, **context) -> dict:
    return steps_for(model, context).evaluation_gate()


@_airflow_errors
def promote(model: str, **context) -> dict:
    result = steps_for(model, context).promote()
    _announce_champion(model, context, result)
    return result


def _announce_champion(model: str, context, result: dict) -> None:
    """One `<model>_champion` asset event when this task moved the champion (see retrain.airflow.assets)."""
    from retrain.airflow.assets import emit_champion_changed

    if result.get("champion_event"):
        emit_champion_changed(context, model, result["champion_event"])


@_airflow_errors
def smoke_test(model: str, **context) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    result = steps_for(model, context).smoke_test()
    if result["status"] == "skipped":
        raise AirflowSkipException(result["reason"])
    return result


@_airflow_errors
def rollback(model: str, **context) -> dict:
    """Runs when smoke_test failed (or an earlier task did): roll back only this run's promotion."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    steps = steps_for(model, context)
    smoke_state = _task_states(context).get("smoke_test")
    if smoke_state != "failed":  # an earlier task failed (upstream_failed): not a failed promotion
        raise AirflowSkipException(f"smoke_test is {smoke_state}, not failed: nothing to roll back")
    if not steps.promoted_by_this_run():
        raise AirflowSkipException("this run's version is not the champion: nothing to roll back")
    record = steps.rollback_after_failed_smoke_test()
    if record["status"] not in ("rolled_back", "already_rolled_back"):
        raise AirflowFailException(
            f"smoke test failed for {steps.ctx.version}; rolled back: {record['status']} ({record['message']})"
        )
    # The rollback itself succeeded: the task succeeds so its champion event is emitted (Airflow emits
    # asset events of successful tasks only); smoke_test stays failed and record_outcome fails the run.
    log.error("smoke test failed for %s; rolled back: %s (%s)", steps.ctx.version, record["status"],
              record["message"])
    _announce_champion(model, context, record)
    return record


@_airflow_errors
def record_outcome(model: str, **context) -> dict:
    """The run's single leaf: writes outcome.json and fails the run unless it ended cleanly."""
    from airflow.sdk.exceptions import AirflowFailException

    from retrain.airflow.notes import (  # gate-rate monitor, weekly summary, run note
        NOTE_XCOM_KEY,
        after_outcome,
    )
    from retrain.pipeline.batch_alerts import alert_batch_warnings  # once per batch content, skip weeks too

    steps = steps_for(model, context)
    outcome = steps.record_outcome(_task_states(context))
    alert_batch_warnings(steps.ctx.cfg, steps.ctx, steps.store, outcome)
    context["ti"].xcom_push(key=NOTE_XCOM_KEY, value=after_outcome(steps, outcome))
    if not outcome["ok"]:
        raise AirflowFailException(f"{outcome['outcome']}: {outcome['reason']}")
    return outcome


# ------------------------------------------------------------------ on-call rollback DAG
@_airflow_errors
def manual_rollback(model: str, **context) -> dict:
    params = context.get("params") or {}
    result = steps_for(model, context).manual_rollback(
        reason=str(params.get("reason") or "").strip(),
        to_version=(str(params.get("to_version")).strip() or None) if params.get("to_version") else None,
        dry_run=bool(params.get("dry_run", False)),
        allow_failed_smoke_test=bool(params.get("allow_failed_smoke_test", False)),
    )
    _announce_champion(model, context, result)
    return result


@_airflow_errors
def manual_rollback_smoke_test(model: str, **context) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    result = context["ti"].xcom_pull(task_ids="rollback") or {}
    if result.get("dry_run"):
        raise AirflowSkipException("dry run: nothing was changed, nothing to smoke-test")
    return steps_for(model, context).smoke_test_current(result)


# ------------------------------------------------------------------ score_<model> (champion consumer)
@_airflow_errors
def score_champion(model: str, **context) -> dict:
    """Score the newest landed batch with the champion; the triggering events are recorded only."""
    from retrain.keys import Keys
    from retrain.pipeline.scoring import score_newest_batch
    from retrain.storage import S3Store

    settings = Settings.from_env()
    events = context.get("triggering_asset_events") or {}
    extras = [dict(e.extra or {}) for evs in events.values() for e in evs]
    return score_newest_batch(S3Store(settings), Keys(model, settings.prefix), load_model_config(model),
                              run_id=context["dag_run"].run_id, triggering_events=extras)
