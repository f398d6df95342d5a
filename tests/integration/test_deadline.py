"""The weekly deadline, through Airflow's own deadline machinery and the bundle's notifier.

A scheduled `retrain_fraud` run gets its Deadline row from Airflow when it is created (the bundle's
ScheduledRunDeadline reference: 06:00 local after the 02:00 run); backfill and manual runs get
none. Clearing a task of the run works and keeps its deadline. The test then gives it a short
deadline (the row's time moved just into the past, as a deadline that elapsed while the run was
still going), runs the scheduler's own miss handling (`Deadline.handle_miss`, which builds the
callback and its context), executes the queued callback as an executor would (import its path,
call it with its kwargs), and reads the inbox of a real SMTP server on loopback: exactly one alert,
and none again when the callback runs a second time.
"""

from __future__ import annotations

import importlib
import uuid

import pendulum
import pytest
from retrain.config import load_model_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ONCALL = "ml-oncall@retrain.test"


@pytest.fixture
def mail(moto_server, airflow_db, monkeypatch):
    from aiosmtpd.controller import Controller
    from retrain.config import Settings
    from retrain.storage import S3Store
    from retrain_dev.local_s3 import free_port
    from test_alerts import Inbox, smtp_conn  # the same loopback SMTP server as the alerts test

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn(controller.port))
    monkeypatch.setenv("RETRAIN_ALERT_EMAIL_FRAUD", ONCALL)
    monkeypatch.setenv("RETRAIN_BUCKET", f"retrain-deadline-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("RETRAIN_DEADLINE_ALERTS", "1")  # as in production (tests/conftest.py turns it off for dag.test)
    # write the DAG (now with its deadline) even if another module serialized it seconds ago
    monkeypatch.setenv("AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL", "0")
    S3Store(Settings.from_env()).ensure_bucket()
    try:
        yield inbox
    finally:
        controller.stop()


def create_run(run_after: pendulum.DateTime, run_type=None, logical_date="run_after"):
    """Register the DAGs and create a queued run of retrain_fraud as the scheduler (or the API, or a
    backfill) does; returns (primary key, run id)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from test_champion_asset import register_dags

    run_type = run_type or DagRunType.SCHEDULED
    logical_date = run_after if logical_date == "run_after" else logical_date
    triggered_by = {DagRunType.SCHEDULED: DagRunTriggeredByType.TIMETABLE,
                    DagRunType.MANUAL: DagRunTriggeredByType.REST_API,
                    DagRunType.BACKFILL_JOB: DagRunTriggeredByType.BACKFILL}[run_type]
    register_dags()
    with create_session() as session:
        dag = SerializedDagModel.get_dag("retrain_fraud", session=session)
        interval = dag.timetable.infer_manual_data_interval(run_after=run_after)
        run = dag.create_dagrun(
            run_id=DagRun.generate_run_id(run_type=run_type, logical_date=logical_date, run_after=run_after),
            logical_date=logical_date, data_interval=(interval.start, interval.end) if logical_date else None,
            run_after=run_after, run_type=run_type, triggered_by=triggered_by,
            state=DagRunState.QUEUED, session=session,
        )
        session.flush()
        return run.id, run.run_id


def deadlines_of(session, run_pk):
    from airflow.models.deadline import Deadline
    from sqlalchemy import select

    return session.scalars(select(Deadline).where(Deadline.dagrun_id == run_pk)).all()


def delete_runs(*run_pks):
    """Leave no queued run behind for other modules' dag.test() (the test DB is shared)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        for pk in run_pks:
            session.delete(session.get(DagRun, pk))


def test_only_scheduled_runs_get_a_deadline_and_clearing_keeps_it(mail):
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    # Mondays no other test module runs; 02:00 Berlin is 01:00 UTC in winter, 00:00 UTC in summer
    scheduled_pk, run_id = create_run(pendulum.datetime(2031, 3, 3, 1, tz="UTC"))
    summer_pk, _ = create_run(pendulum.datetime(2031, 6, 2, 0, tz="UTC"))
    backfill_pk, _ = create_run(pendulum.datetime(2031, 3, 17, 1, tz="UTC"), DagRunType.BACKFILL_JOB)
    manual_pk, _ = create_run(pendulum.datetime(2031, 3, 25, 14, tz="UTC"), DagRunType.MANUAL, logical_date=None)
    try:
        with create_session() as session:
            [deadline] = deadlines_of(session, scheduled_pk)
            assert deadline.deadline_time == pendulum.datetime(2031, 3, 3, 5, tz="UTC")  # 06:00 CET
            assert [d.deadline_time for d in deadlines_of(session, summer_pk)] == [
                pendulum.datetime(2031, 6, 2, 4, tz="UTC")]  # 06:00 CEST
            assert deadlines_of(session, backfill_pk) == [], "a backfilled week has no morning to miss"
            assert deadlines_of(session, manual_pk) == [], "a run triggered by hand has no deadline"

            # on call clears a failed task: Airflow's clear (the UI's and clearTaskInstances' path)
            ti = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == "retrain_fraud",
                                                            TaskInstance.run_id == run_id,
                                                            TaskInstance.task_id == "validate_data")).one()
            ti.state = TaskInstanceState.FAILED
            session.flush()
            clear_task_instances([ti], session, dag_run_state=DagRunState.QUEUED)
            session.flush()
            assert ti.state is None
            [kept] = deadlines_of(session, scheduled_pk)
            assert (kept.id, kept.deadline_time, kept.missed) == (deadline.id, deadline.deadline_time, False)
    finally:
        delete_runs(scheduled_pk, summer_pk, backfill_pk, manual_pk)


def test_a_missed_deadline_sends_one_alert_through_the_notifier(mail):
    from airflow.models.callback import Callback
    from airflow.models.deadline import Deadline
    from airflow.utils.session import create_session
    from sqlalchemy import select

    cfg = load_model_config("fraud")
    # a Monday (02:00 Berlin) no other test module runs: the test DB is shared
    run_pk, run_id = create_run(pendulum.datetime(2031, 3, 10, 1, tz="UTC"))
    with create_session() as session:
        [deadline] = deadlines_of(session, run_pk)
        assert deadline.deadline_time == pendulum.datetime(2031, 3, 10, 5, tz="UTC")  # 06:00 Europe/Berlin
        deadline.deadline_time = pendulum.now("UTC").subtract(seconds=1)  # the short deadline has passed
        session.flush()
        missed = session.scalars(select(Deadline).where(Deadline.deadline_time < pendulum.now("UTC"),
                                                        ~Deadline.missed, Deadline.dagrun_id == run_pk)).all()
        assert len(missed) == 1
        missed[0].handle_miss(session)  # the scheduler's step: marks it missed, queues the callback
        callback_id = missed[0].callback_id
        session.flush()
        data = dict(session.get(Callback, callback_id).data)

    module, _, name = data["path"].rpartition(".")
    assert (module, name) == ("retrain.airflow.deadline", "deadline_missed")
    for _ in range(2):  # an executor may run a callback twice: still one email
        getattr(importlib.import_module(module), name)(**data["kwargs"])

    received = mail.take()
    assert len(received) == 1
    rcpt, msg = received[0]
    assert rcpt == [ONCALL]
    assert msg["Subject"].startswith("[retrain] retrain_fraud week ") and msg["Subject"].endswith("deadline_missed")
    body = msg.get_body(("html",)).get_content()
    assert run_id in body and "not finished by 06:00 Europe/Berlin" in body
    assert cfg.schedule.deadline == "06:00"
    delete_runs(run_pk)
