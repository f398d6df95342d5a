"""The weekly deadline, through Airflow's own deadline machinery and the bundle's notifier.

A queued `retrain_fraud` run gets its Deadline row from Airflow (queued_at + the configured
budget). The test gives it a short deadline (the row's time moved just into the past, as a
deadline that elapsed while the run was still going), runs the scheduler's own miss handling
(`Deadline.handle_miss`, which builds the callback and its context), executes the queued callback
as an executor would (import its path, call it with its kwargs), and reads the inbox of a real
SMTP server on loopback: exactly one alert, and none again when the callback runs a second time.
"""

from __future__ import annotations

import datetime as dt
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
    monkeypatch.setenv("RETRAIN_DEADLINE_ALERTS", "1")  # the scheduler's path (tests/conftest.py turns it off)
    # write the DAG (now with its deadline) even if another module serialized it seconds ago
    monkeypatch.setenv("AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL", "0")
    S3Store(Settings.from_env()).ensure_bucket()
    try:
        yield inbox
    finally:
        controller.stop()


def queue_weekly_run(run_after: pendulum.DateTime):
    """Register the DAGs and create a queued scheduled run of retrain_fraud, as the scheduler does."""
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from test_champion_asset import register_dags

    register_dags()
    with create_session() as session:
        dag = SerializedDagModel.get_dag("retrain_fraud", session=session)
        interval = dag.timetable.infer_manual_data_interval(run_after=run_after)
        run = dag.create_dagrun(
            run_id=DagRun.generate_run_id(run_type=DagRunType.SCHEDULED, logical_date=run_after,
                                          run_after=run_after),
            logical_date=run_after, data_interval=(interval.start, interval.end),
            run_after=run_after, run_type=DagRunType.SCHEDULED, triggered_by=DagRunTriggeredByType.TIMETABLE,
            state=DagRunState.QUEUED, session=session,
        )
        session.flush()
        return run.id, run.run_id


def test_a_missed_deadline_sends_one_alert_through_the_notifier(mail):
    from airflow.models.callback import Callback
    from airflow.models.deadline import Deadline
    from airflow.utils.session import create_session
    from sqlalchemy import select

    cfg = load_model_config("fraud")
    # a Monday (02:00 Berlin) no other test module runs: the test DB is shared
    run_pk, run_id = queue_weekly_run(pendulum.datetime(2031, 3, 10, 1, tz="UTC"))
    with create_session() as session:
        deadline = session.scalars(select(Deadline).where(Deadline.dagrun_id == run_pk)).one()
        queued_at = deadline.dagrun.queued_at
        assert deadline.deadline_time - queued_at == dt.timedelta(hours=4)  # 02:00 -> 06:00 Europe/Berlin
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
    with create_session() as session:  # leave no queued run behind for other modules' dag.test()
        from airflow.models.dagrun import DagRun

        session.delete(session.get(DagRun, run_pk))
