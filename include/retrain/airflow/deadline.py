"""Deadline alert of the weekly run: it must be finished by `schedule.deadline` (local HH:MM, default
06:00, before the business day).

Airflow's deadline alerts (experimental since 3.1) do the timing: the weekly DAG carries a
DeadlineAlert measured from when the run was queued, with the interval from the scheduled time
to the deadline (02:00 -> 06:00 = 4 h), so a scheduled run that is still running at 06:00 local
alerts; a backfill or manual run gets the same budget from when it was queued. The scheduler
notices the miss and an executor runs `deadline_missed`, which sends one alert through the
bundle's notifier (same recipients, SMTP connection and at-most-once marker as failure alerts).
"""

from __future__ import annotations

import datetime as dt
import logging
import os

log = logging.getLogger(__name__)

CALLBACK = "retrain.airflow.deadline.deadline_missed"
# Opt-in ("1") until Airflow fixes it: in 3.3.2, clearing a task of a run whose DAG has a
# DAGRUN_QUEUED_AT deadline fails with HTTP 500 (taskinstance._recalculate_dagrun_queued_at_deadlines
# calls timedelta(seconds=<the serialized interval dict>)), so on-call could not clear and re-run.
ENV_SWITCH = "RETRAIN_DEADLINE_ALERTS"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "0").strip().lower() in ("1", "true", "on", "yes")


def off_for_dag_test() -> None:
    """Airflow 3.3.2's dag.test() crashes when a run of a DAG with a deadline alert succeeds
    (DagRun.update_state looks the DAG's `deadline` up as alert ids; the DAG dag.test() builds holds
    the alert definitions), so in-process runs (tests, make demo, make bench) leave it off unless the
    caller chose otherwise. The scheduler's path is unaffected."""
    os.environ.setdefault(ENV_SWITCH, "0")


def deadline_interval(schedule) -> dt.timedelta | None:
    """Scheduled time -> deadline, on the same or the next local day (None: no deadline)."""
    if schedule.deadline is None:
        return None
    hour, minute = (int(x) for x in str(schedule.deadline).split(":"))
    start, end = schedule.hour * 60 + schedule.minute, hour * 60 + minute
    return dt.timedelta(minutes=(end - start) % (24 * 60) or 24 * 60)


def weekly_deadline_alert(cfg):
    """The DeadlineAlert for `retrain_<model>` (None when schedule.deadline is null)."""
    interval = deadline_interval(cfg.schedule)
    if interval is None or not enabled():
        return None
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=SyncCallback(CALLBACK, kwargs={"model": cfg.name}),
        name=f"{cfg.name}_weekly_deadline",
    )


def missed_alert(cfg, context: dict):
    """The Alert for a missed deadline, from the context the scheduler passes to the callback."""
    from retrain.airflow.alerts import MARKER_PREFIX, Alert, ui_url
    from retrain.airflow.tasks import data_week
    from retrain.config import Settings
    from retrain.keys import Keys

    run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    dag_id, run_id = run.get("dag_id") or cfg.retrain_dag_id, run.get("dag_run_id") or run.get("run_id") or "?"

    def when(value):
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else value

    week = data_week(when(run.get("data_interval_start")), when(run.get("data_interval_end")),
                     when(run.get("run_after")), cfg.schedule.timezone)
    settings = Settings.from_env()
    alert = Alert(
        model=cfg.name, dag_id=dag_id, run_id=run_id, week=week.isoformat(), event="deadline_missed",
        failed_task=None, alerting_task="deadline", try_number=None,
        reason=f"the weekly run was not finished by {cfg.schedule.deadline} {cfg.schedule.timezone} "
               f"(deadline {deadline.get('deadline_time')}); state when checked: {run.get('state')}",
        environment=settings.environment, ui_url=ui_url(dag_id, run_id, "record_outcome"),
    )
    import dataclasses

    marker = Keys(cfg.name, settings.prefix).run_artifact(week, run_id, f"{MARKER_PREFIX}{alert.fingerprint}.json")
    return dataclasses.replace(alert, marker_key=marker)


def deadline_missed(model: str, context: dict | None = None, **_) -> None:
    """Deadline callback (runs on an executor): one alert through the bundle's notifier."""
    from retrain.airflow.alerts import failure_notifier
    from retrain.config import load_model_config

    cfg = load_model_config(model)
    failure_notifier(cfg).deliver(missed_alert(cfg, context or {}))
