"""Deadline alert of the weekly run: a scheduled run must be finished by `schedule.deadline` (local
HH:MM, default 06:00, before the business day).

Airflow's deadline alerts (experimental since 3.1) do the timing. The weekly DAG carries a
DeadlineAlert whose reference is :class:`ScheduledRunDeadline`, a custom deadline reference
(registered by ``plugins/retrain_deadlines.py``): the first local `deadline` after the run's
scheduled time (Monday 02:00 -> Monday 06:00 local, exact across DST), with a zero interval.
Only scheduled runs get a deadline: a backfill of past weeks or a run triggered by hand has no
business morning to miss. The scheduler notices the miss and an executor runs `deadline_missed`,
which sends one alert through the bundle's notifier (same recipients, SMTP connection and
at-most-once marker as failure alerts).

Why not Airflow's built-in references: DAGRUN_QUEUED_AT breaks clearing in 3.3.2 (clearing a
task of such a run fails with HTTP 500: taskinstance._recalculate_dagrun_queued_at_deadlines calls
timedelta(seconds=<the serialized interval dict>)), and DAGRUN_LOGICAL_DATE plus a fixed interval is
an hour off in DST weeks and alerts at once for every backfilled week. A custom reference is
recalculated by nothing on clear, so a cleared run keeps its original deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import Any

import pendulum
from airflow.sdk.definitions.deadline import REFERENCE_TYPE_FIELD, BaseDeadlineReference

log = logging.getLogger(__name__)

CALLBACK = "retrain.airflow.deadline.deadline_missed"
# "0" turns the alert off. In-process runs need that: Airflow 3.3.2's dag.test() crashes when a run
# of a DAG with a deadline alert succeeds (DagRun.update_state looks the DAG's `deadline` up as
# alert ids; the DAG dag.test() builds holds the alert definitions). The scheduler is unaffected.
ENV_SWITCH = "RETRAIN_DEADLINE_ALERTS"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "off", "no")


def off_for_dag_test() -> None:
    """In-process runs (make demo, make bench, tests) leave the alert off unless the caller chose
    otherwise (see ENV_SWITCH)."""
    os.environ.setdefault(ENV_SWITCH, "0")


def deadline_after(scheduled: dt.datetime, local_time: str, timezone: str) -> dt.datetime:
    """The first local `local_time` (HH:MM) after `scheduled`: the same day or the next (UTC)."""
    hour, minute = (int(x) for x in local_time.split(":"))
    local = pendulum.instance(scheduled).in_timezone(timezone)
    due = local.set(hour=hour, minute=minute, second=0, microsecond=0)
    if due <= local:
        due = local.add(days=1).set(hour=hour, minute=minute, second=0, microsecond=0)
    return due.in_timezone("UTC")


@dataclass(eq=False)  # BaseDeadlineReference compares and hashes by serialize_reference()
class ScheduledRunDeadline(BaseDeadlineReference):
    """Deadline reference: `local_time` in `timezone` after a *scheduled* run's time; None (no
    deadline row) for backfill and manual runs. Airflow adds the alert's interval (zero) to it."""

    local_time: str = "06:00"
    timezone: str = "UTC"
    required_kwargs = frozenset({"dag_id", "run_id"})  # what Airflow passes to _evaluate_with

    def serialize_reference(self) -> dict[str, Any]:
        return {REFERENCE_TYPE_FIELD: self.reference_name, "local_time": self.local_time, "timezone": self.timezone}

    @classmethod
    def deserialize_reference(cls, reference_data: dict[str, Any]) -> ScheduledRunDeadline:
        return cls(local_time=reference_data["local_time"], timezone=reference_data["timezone"])

    def _evaluate_with(self, *, session, dag_id: str, run_id: str, **_) -> dt.datetime | None:
        from airflow.models.dagrun import DagRun
        from airflow.utils.types import DagRunType
        from sqlalchemy import select

        row = session.execute(select(DagRun.run_type, DagRun.run_after)
                              .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one_or_none()
        if row is None:
            raise LookupError(f"no DagRun {dag_id}/{run_id} to set the weekly deadline of")
        if row.run_type != DagRunType.SCHEDULED:
            return None
        return deadline_after(row.run_after, self.local_time, self.timezone)


def weekly_deadline_alert(cfg):
    """The DeadlineAlert for `retrain_<model>` (None when schedule.deadline is null or alerts are off)."""
    if cfg.schedule.deadline is None or not enabled():
        return None
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert

    return DeadlineAlert(
        reference=ScheduledRunDeadline(local_time=cfg.schedule.deadline, timezone=cfg.schedule.timezone),
        interval=dt.timedelta(0),
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
