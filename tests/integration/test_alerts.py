"""Failure alerts end to end: the real `retrain_fraud` DAG (dag.test() on SQLite, moto S3 over
HTTP) sends its alerts through the SMTP provider to a real SMTP server on loopback (aiosmtpd).

    week A (stable, first deployment)          → promoted, no email
    week B (required column merchant_category  → validation_failed: exactly one email
            dropped from the batch)
    week B again (same run id, cleared re-run) → same outcome: no second email

plus the notifier's edge cases on a synthetic context (no DAG run): a different outcome of the
same run alerts again, no recipients only logs, and an SMTP outage is logged loudly, never
raised, and retried by the next callback for the same event.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import json
import logging
import os
import re
import threading
import uuid
from types import SimpleNamespace

import pytest
from retrain.config import Settings, load_model_config
from retrain.keys import Keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 3000  # one training week: at 1,500 rows recall on ~90 positives is too noisy for the 0.60 floor
HISTORY = dt.date(2026, 2, 9)  # one stable week of history before the first run's week
WEEK_OK = dt.date(2026, 2, 16)
WEEK_BROKEN = dt.date(2026, 2, 23)
ONCALL = "ml-oncall@retrain.test"
UI_BASE = "http://airflow.retrain.test:8080"


class Inbox:
    """aiosmtpd handler: keeps every message the server accepted."""

    def __init__(self):
        self._lock = threading.Lock()
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        with self._lock:
            self.received.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def take(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        with self._lock:
            out, self.received = self.received, []
        return out


def smtp_conn(port: int) -> str:
    return json.dumps({
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@retrain.test",
                  "retry_limit": 0, "timeout": 10},
    })


@pytest.fixture(scope="module")
def smtp_server():
    from aiosmtpd.controller import Controller
    from retrain_dev.local_s3 import free_port

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SimpleNamespace(inbox=inbox, port=controller.port)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def alert_env(smtp_server, moto_server):
    """SMTP connection, recipients (env override: fraud.yaml stays `email: []`), UI base URL, bucket."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn(smtp_server.port))
        mp.setenv("RETRAIN_ALERT_EMAIL_FRAUD", ONCALL)
        mp.setenv("AIRFLOW__API__BASE_URL", UI_BASE)
        mp.setenv("RETRAIN_BUCKET", f"retrain-alerts-{uuid.uuid4().hex[:8]}")
        for var in ("RETRAIN_ALERT_EMAIL", "RETRAIN_ALERT_SMTP_CONN_ID", "RETRAIN_ALERT_FROM"):
            mp.delenv(var, raising=False)
        from retrain.storage import S3Store

        store = S3Store(Settings.from_env())
        store.ensure_bucket()
        yield SimpleNamespace(store=store, keys=Keys("fraud", Settings.from_env().prefix),
                              cfg=load_model_config("fraud"), mp=mp)


def land(store, cfg, week: dt.date, **spec) -> None:
    from retrain.core.frames import to_bytes
    from retrain_dev.datagen import fraud

    frame = fraud.generate_week(week, fraud.WeekSpec(rows=ROWS, **spec), seed=42)
    store.put_bytes(Keys(cfg.name, Settings.from_env().prefix).landing(week, cfg.data.format),
                    to_bytes(frame, cfg.data.format))


@pytest.fixture(scope="module")
def story(alert_env, smtp_server, airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from retrain_dev.demo import run_weeks

    store, cfg, inbox = alert_env.store, alert_env.cfg, smtp_server.inbox
    land(store, cfg, HISTORY)
    land(store, cfg, WEEK_OK)
    land(store, cfg, WEEK_BROKEN, drop_columns=("merchant_category",))
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[cfg.retrain_dag_id]
    inbox.take()

    steps = {}
    for name, week in (("ok", WEEK_OK), ("broken", WEEK_BROKEN), ("broken_again", WEEK_BROKEN)):
        outcome = run_weeks(dag, cfg, store, [week])[0]
        markers = [k for k in store.list_keys(alert_env.keys.run_prefix(week, outcome["run_id"]))
                   if k.rsplit("/", 1)[-1].startswith("alert_sent-")]
        steps[name] = SimpleNamespace(outcome=outcome, mail=inbox.take(), markers=markers)
    return steps


def body_of(msg) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", msg.get_body(("html",)).get_content()))


def test_a_successful_week_sends_no_email(story):
    step = story["ok"]
    assert step.outcome["outcome"] == "promoted" and step.outcome["dag_run_state"] == "success"
    assert step.mail == [] and step.markers == []


def test_validation_failure_sends_exactly_one_email_with_the_facts(story, alert_env):
    step = story["broken"]
    o = step.outcome
    assert o["outcome"] == "validation_failed" and o["dag_run_state"] == "failed"
    assert len(step.mail) == 1
    rcpt, msg = step.mail[0]
    assert rcpt == [ONCALL]
    assert msg["Subject"] == f"[retrain] retrain_fraud week {WEEK_BROKEN.isoformat()}: validation_failed"
    assert msg["From"] == "airflow@retrain.test"  # from the connection's from_email extra
    body = body_of(msg)
    bucket, run_key = alert_env.store.bucket, alert_env.keys.run_prefix(WEEK_BROKEN, o["run_id"])
    for fact in ("retrain_fraud", o["run_id"], "validate_data", "record_outcome", "validation_failed",
                 o["reason"], f"s3://{bucket}/{run_key}outcome.json", f"s3://{bucket}/{run_key}validation.json"):
        assert fact in body, fact
    assert "merchant_category" in o["reason"]
    # the Airflow UI link to the task instance that alerted
    assert re.search(re.escape(UI_BASE) + r"/dags/retrain_fraud/runs/\S+/tasks/record_outcome", body), body
    # the de-duplication marker records the delivery
    assert len(step.markers) == 1
    marker = alert_env.store.get_json(step.markers[0])
    assert marker["status"] == "sent" and marker["recipients"] == [ONCALL]
    assert msg["X-Retrain-Alert"] == marker["fingerprint"]


def test_rerunning_the_same_failed_week_does_not_alert_again(story):
    first, again = story["broken"], story["broken_again"]
    assert again.outcome["run_id"] == first.outcome["run_id"], "dag.test replaced the run (same run id)"
    assert again.outcome["outcome"] == "validation_failed" and again.outcome["reason"] == first.outcome["reason"]
    assert again.mail == []
    assert again.markers == first.markers


# ----------------------------------------------------------------- the notifier on its own
def fake_context(cfg, run_id: str, week: dt.date, exception: Exception, task_id="record_outcome", dag_id=None):
    start = dt.datetime(week.year, week.month, week.day, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=7)
    dag_run = SimpleNamespace(dag_id=dag_id or cfg.retrain_dag_id, run_id=run_id, run_after=end,
                              run_type="manual", triggering_user_name="test")
    ti = SimpleNamespace(task_id=task_id, dag_id=dag_run.dag_id, run_id=run_id, try_number=1, map_index=-1)
    return {"ti": ti, "task_instance": ti, "dag_run": dag_run, "run_id": run_id, "exception": exception,
            "data_interval_start": start, "data_interval_end": end, "logical_date": end}


def put_outcome(alert_env, run_id: str, week: dt.date, outcome: str, reason: str, failed_task: str) -> None:
    key = alert_env.keys.run_artifact(week, run_id, "outcome.json")
    alert_env.store.put_json(key, {"outcome": outcome, "reason": reason, "failed_task": failed_task,
                                   "ok": False, "champion_after": None})


def test_a_different_outcome_of_the_same_run_alerts_again(alert_env, smtp_server):
    from retrain.airflow.alerts import failure_notifier

    run_id, week, notify = f"manual__{uuid.uuid4().hex[:8]}", WEEK_BROKEN, failure_notifier(alert_env.cfg)
    smtp_server.inbox.take()
    put_outcome(alert_env, run_id, week, "validation_failed", "1 of 40 checks failed", "validate_data")
    notify(fake_context(alert_env.cfg, run_id, week, Exception("validation_failed: 1 of 40 checks failed")))
    notify(fake_context(alert_env.cfg, run_id, week, Exception("validation_failed: 1 of 40 checks failed")))
    # the data was fixed and the task cleared: now the gate rejects the challenger
    put_outcome(alert_env, run_id, week, "gate_rejected", "gate rejected the challenger: recall 0.4 < 0.6",
                "evaluation_gate")
    notify(fake_context(alert_env.cfg, run_id, week,
                        Exception("gate_rejected: gate rejected the challenger: recall 0.4 < 0.6")))
    subjects = [m["Subject"] for _, m in smtp_server.inbox.take()]
    assert subjects == [f"[retrain] retrain_fraud week {week.isoformat()}: validation_failed",
                        f"[retrain] retrain_fraud week {week.isoformat()}: gate_rejected"]


def test_no_recipients_logs_the_alert_and_sends_nothing(alert_env, smtp_server, caplog):
    from retrain.airflow.alerts import failure_notifier

    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    smtp_server.inbox.take()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RETRAIN_ALERT_EMAIL_FRAUD")
        with caplog.at_level(logging.WARNING, logger="retrain.airflow.alerts"):
            failure_notifier(alert_env.cfg)(
                fake_context(alert_env.cfg, run_id, WEEK_BROKEN, Exception("task train failed; see its log")))
    assert smtp_server.inbox.take() == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "no recipients configured" in logged and run_id in logged


def test_smtp_outage_is_logged_loudly_never_raised_and_retried_by_the_next_callback(
        alert_env, smtp_server, caplog):
    from retrain.airflow.alerts import failure_notifier
    from retrain_dev.local_s3 import free_port

    run_id, week = f"manual__{uuid.uuid4().hex[:8]}", WEEK_BROKEN
    ctx = fake_context(alert_env.cfg, run_id, week, Exception("rollback refused: target checksum mismatch"),
                       task_id="rollback", dag_id=alert_env.cfg.rollback_dag_id)
    smtp_server.inbox.take()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_SMTP_DOWN", smtp_conn(free_port()))  # nothing listens there
        mp.setenv("RETRAIN_ALERT_SMTP_CONN_ID", "smtp_down")
        with caplog.at_level(logging.WARNING, logger="retrain.airflow.alerts"):
            failure_notifier(alert_env.cfg)(ctx)  # must not raise
    loud = [r for r in caplog.records if r.levelno >= logging.CRITICAL and "ALERT NOT DELIVERED" in r.getMessage()]
    assert loud and ONCALL in loud[0].getMessage()
    markers = [k for k in alert_env.store.list_keys(alert_env.keys.run_prefix(week, run_id)) if "alert_sent-" in k]
    assert len(markers) == 1 and alert_env.store.get_json(markers[0])["status"] == "failed"

    # SMTP is back: the next callback for the same event delivers it, once
    failure_notifier(alert_env.cfg)(ctx)
    failure_notifier(alert_env.cfg)(ctx)
    mail = smtp_server.inbox.take()
    assert [m["Subject"] for _, m in mail] == [f"[retrain] rollback_fraud run {run_id}: rollback_failed"]
    assert "target checksum mismatch" in body_of(mail[0][1])
    marker = alert_env.store.get_json(markers[0])
    assert marker["status"] == "sent" and marker["attempts"] == 2
