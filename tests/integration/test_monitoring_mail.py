"""The gate-failure-rate alert and the weekly summary, sent to a real SMTP server (aiosmtpd on
loopback) with their state in a real S3 endpoint (moto server).

    gate monitor: 10 runs reach the gate, the 3rd rejection crosses 20% -> exactly one email;
                  the same run recorded again, and further runs above the limit -> no email;
                  back under the limit re-arms; crossing again -> one more email.
    summary:      one email per run with trigger, outcome, champion, metric vs last week,
                  warnings and the page link; recording the same outcome again sends nothing;
                  a different outcome of the same run is resent and says so.
    end to end:   one real `retrain_fraud` run (dag.test): the summary arrives and the run's
                  note in the metadata DB names its data week, outcome and champion.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import json
import os
import re
import threading
from types import SimpleNamespace

import pytest
from retrain.config import Settings, load_model_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEAM = "ml-team@retrain.test"
ONCALL = "ml-oncall@retrain.test"
UI_BASE = "http://airflow.retrain.test:8080"
WEEK0 = dt.date(2026, 3, 2)


class Inbox:
    def __init__(self):
        self._lock = threading.Lock()
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def take(self):
        with self._lock:
            out, self.received = self.received, []
        return out


def body_of(msg) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", msg.get_body(("html",)).get_content()))


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


@pytest.fixture
def env(smtp_server, store, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_server.port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@retrain.test",
                  "retry_limit": 0, "timeout": 10}}))
    monkeypatch.setenv("RETRAIN_ALERT_EMAIL_FRAUD", ONCALL)
    monkeypatch.setenv("RETRAIN_SUMMARY_EMAIL_FRAUD", TEAM)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", UI_BASE)
    for var in ("RETRAIN_ALERT_EMAIL", "RETRAIN_SUMMARY_EMAIL", "RETRAIN_ALERT_SMTP_CONN_ID", "RETRAIN_ALERT_FROM"):
        monkeypatch.delenv(var, raising=False)
    smtp_server.inbox.take()
    return SimpleNamespace(store=store, inbox=smtp_server.inbox, cfg=load_model_config("fraud"))


def ctx_for(cfg, week: dt.date, run_id: str | None = None):
    from retrain.pipeline.steps import RunContext

    run_id = run_id or f"scheduled__{week.isoformat()}T00:00:00+00:00"
    return RunContext(cfg=cfg, settings=Settings.from_env(), week=week, run_id=run_id,
                      data_interval=(week.isoformat(), (week + dt.timedelta(days=7)).isoformat()),
                      dag_id=cfg.retrain_dag_id)


def outcome_for(ctx, outcome: str, reason: str = "", **extra) -> dict:
    return {**ctx.describe(), "outcome": outcome, "ok": outcome in ("promoted", "skipped", "superseded"),
            "reason": reason or f"{outcome} for {ctx.week}", **extra}


# ---------------------------------------------------------------------------- gate monitor
def test_gate_failure_rate_alerts_once_per_crossing(env):
    from retrain.monitoring.gate_rate import check_gate_failure_rate, state_key

    cfg = env.cfg  # defaults: window 10, limit 20%
    plan = ["promoted"] * 7 + ["gate_rejected"] * 3  # the 10th run: 3/10 = 30% > 20%
    results = []
    for i, verdict in enumerate(plan):
        ctx = ctx_for(cfg, WEEK0 + dt.timedelta(weeks=i))
        reason = f"gate rejected the challenger: recall 0.4{i} < 0.6" if verdict == "gate_rejected" else ""
        results.append(check_gate_failure_rate(env.store, ctx, outcome_for(ctx, verdict, reason)))
    mail = env.inbox.take()
    assert [r["alert"] for r in results][-1] == "sent" and sum(r["exceeded"] for r in results) == 1
    assert len(mail) == 1
    rcpt, msg = mail[0]
    assert rcpt == [ONCALL]
    assert msg["Subject"] == f"[retrain] retrain_fraud week {(WEEK0 + dt.timedelta(weeks=9)).isoformat()}: " \
                             "gate_failure_rate"
    body = body_of(msg)
    assert "gate rejected 3 of the last 10 retraining runs (30%; limit 20%)" in body
    assert "recall 0.49 < 0.6" in body  # the recent rejections' reasons
    assert f"s3://{env.store.bucket}/{state_key(ctx.keys)}" in body

    # the same run recorded again (a cleared record_outcome) and another rejection: no email
    check_gate_failure_rate(env.store, ctx, outcome_for(ctx, "gate_rejected", "again"))
    nxt = ctx_for(cfg, WEEK0 + dt.timedelta(weeks=10))
    assert check_gate_failure_rate(env.store, nxt, outcome_for(nxt, "gate_rejected", "x"))["exceeded"]
    assert env.inbox.take() == []

    # skips and validation failures never reach the gate: they change nothing
    skip = ctx_for(cfg, WEEK0 + dt.timedelta(weeks=11))
    assert check_gate_failure_rate(env.store, skip, outcome_for(skip, "skipped"))["runs"] == 10

    # back under the limit: re-armed; crossing again alerts again, once
    weeks = iter(range(12, 40))
    while check_gate_failure_rate(env.store, c := ctx_for(cfg, WEEK0 + dt.timedelta(weeks=next(weeks))),
                                  outcome_for(c, "promoted"))["exceeded"]:
        pass
    state = env.store.get_json(state_key(c.keys))
    assert state["alert"]["status"] == "ok" and state["alert"]["rearmed"]
    for _ in range(3):
        c = ctx_for(cfg, WEEK0 + dt.timedelta(weeks=next(weeks)))
        check_gate_failure_rate(env.store, c, outcome_for(c, "gate_rejected", "r"))
    assert [m["Subject"].split(": ")[-1] for _, m in env.inbox.take()] == ["gate_failure_rate"]


def test_gate_failure_rate_follows_the_configured_window_and_limit(env):
    from retrain.monitoring.gate_rate import MonitoringConfig, check_gate_failure_rate

    cfg = _with_monitoring(env.cfg, {"gate_failure_window": 4, "gate_failure_max_rate": 0.5})
    assert MonitoringConfig.from_model(cfg).gate_failure_window == 4
    # the last 4 are at most 2 rejected (50%, not above the limit) after every one of these runs
    verdicts = ["gate_rejected", "gate_rejected", "promoted", "promoted", "gate_rejected", "gate_rejected"]
    for i, verdict in enumerate(verdicts):
        c = ctx_for(cfg, WEEK0 + dt.timedelta(weeks=i))
        check_gate_failure_rate(env.store, c, outcome_for(c, verdict))
    assert env.inbox.take() == []
    c = ctx_for(cfg, WEEK0 + dt.timedelta(weeks=6))
    assert check_gate_failure_rate(env.store, c, outcome_for(c, "gate_rejected"))["alert"] == "sent"  # 3/4
    assert len(env.inbox.take()) == 1


def _with_monitoring(cfg, monitoring: dict):
    import dataclasses

    return dataclasses.replace(cfg, monitoring=monitoring)


# ---------------------------------------------------------------------------- weekly summary
def test_weekly_summary_one_email_per_run_with_metric_vs_last_week(env):
    from retrain.pipeline.summary import send_weekly_summary

    cfg, store = env.cfg, env.store
    last, this = ctx_for(cfg, WEEK0), ctx_for(cfg, WEEK0 + dt.timedelta(weeks=1))
    store.put_json(last.artifact("outcome.json"), outcome_for(
        last, "promoted", champion_after="2026-W10-aaaaaaaa",
        gate={"challenger": {"roc_auc": 0.91}, "champion": {"roc_auc": 0.88}}))
    outcome = outcome_for(
        this, "gate_rejected", "gate rejected the challenger: recall 0.41 < 0.6 <script>x</script>",
        trigger="drift", trigger_reason="PSI action on 'amount'", champion_after="2026-W10-aaaaaaaa",
        gate={"challenger": {"roc_auc": 0.80}, "champion": {"roc_auc": 0.87}},
        validation={"failures": ["[warning] expect_column_values_to_not_be_null (velocity_1h)"]})
    store.put_json(this.artifact("outcome.json"), outcome)
    store.put_json(this.artifact("decision.json"), {"signals": {"drift_warnings": ["velocity_24h"]}})

    assert send_weekly_summary(store, this, outcome) == "sent"
    mail = env.inbox.take()
    assert len(mail) == 1
    rcpt, msg = mail[0]
    assert rcpt == [TEAM]
    assert msg["Subject"] == f"[retrain] weekly summary fraud week {this.week.isoformat()}: gate_rejected"
    raw_html = msg.get_body(("html",)).get_content()
    assert "<script>" not in raw_html and "&lt;script&gt;" in raw_html  # data is text, never markup
    body = body_of(msg)
    for fact in ("drift: PSI action on 'amount'", "gate_rejected: gate rejected the challenger",
                 "Champion 2026-W10-aaaaaaaa",
                 "roc_auc vs last week 0.8700 vs 0.9100 last week (-0.0400, worse; higher is better)",
                 "validation warning: [warning] expect_column_values_to_not_be_null (velocity_1h)",
                 "PSI in the warn band: velocity_24h", "run did not end cleanly",
                 f"{UI_BASE}/retrain-ui/models/fraud"):
        assert fact in " ".join(body.split()), fact

    # record_outcome cleared and re-run with the same outcome: nothing is sent again
    assert send_weekly_summary(store, this, outcome) == "already_sent"
    assert env.inbox.take() == []
    # the data was fixed, the same run now promotes: resent, and the subject says so
    fixed = {**outcome, "outcome": "promoted", "ok": True, "reason": "promoted", "champion_after": "2026-W11-bbbb"}
    assert send_weekly_summary(store, this, fixed) == "resent"
    assert [m["Subject"] for _, m in env.inbox.take()] == [
        f"[retrain] weekly summary fraud week {this.week.isoformat()}: promoted (updated: was gate_rejected)"]


def test_weekly_summary_smtp_outage_is_retried_by_the_next_attempt(env, monkeypatch, caplog):
    import logging

    from retrain.pipeline.summary import send_weekly_summary
    from retrain_dev.local_s3 import free_port

    this = ctx_for(env.cfg, WEEK0)
    outcome = outcome_for(this, "skipped", "all signals within thresholds")
    with monkeypatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_SMTP_DOWN", json.dumps({"conn_type": "smtp", "host": "127.0.0.1",
                                                        "port": free_port(), "extra": {"retry_limit": 0,
                                                                                       "disable_tls": True}}))
        mp.setenv("RETRAIN_ALERT_SMTP_CONN_ID", "smtp_down")
        with caplog.at_level(logging.WARNING, logger="retrain.pipeline.summary"):
            assert send_weekly_summary(env.store, this, outcome) == "failed"
    assert any("WEEKLY SUMMARY NOT DELIVERED" in r.getMessage() for r in caplog.records)
    assert send_weekly_summary(env.store, this, outcome) == "sent"
    assert "roc_auc vs last week not measured this week" in " ".join(body_of(env.inbox.take()[0][1]).split())


# ------------------------------------------------------------------------------ end to end
def test_a_real_weekly_run_sends_its_summary_and_sets_its_run_note(env, airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from retrain.core.frames import to_bytes
    from retrain.keys import Keys
    from retrain_dev.datagen import fraud
    from retrain_dev.demo import run_weeks

    cfg, store = env.cfg, env.store
    week = dt.date(2026, 4, 6)
    for w in (week - dt.timedelta(weeks=1), week):
        frame = fraud.generate_week(w, fraud.WeekSpec(rows=3000), seed=42)
        store.put_bytes(Keys("fraud", Settings.from_env().prefix).landing(w, "parquet"), to_bytes(frame, "parquet"))
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[cfg.retrain_dag_id]

    outcome = run_weeks(dag, cfg, store, [week])[0]
    verdict = outcome["outcome"]  # promoted or gate_rejected (one training week): either tells the story
    assert verdict in ("promoted", "gate_rejected"), outcome
    summaries = [m["Subject"] for rcpt, m in env.inbox.take() if rcpt == [TEAM]]
    assert summaries == [f"[retrain] weekly summary fraud week {week.isoformat()}: {verdict}"]
    with create_session() as session:
        note = session.query(DagRun).filter_by(dag_id=cfg.retrain_dag_id, run_id=outcome["run_id"]).one().note
    assert note.startswith(f"**Data week {week.isoformat()}** (Monday 00:00 Europe/Berlin) · **{verdict}** · "
                           f"champion `{outcome['champion_after'] or 'none'}`"), note
    assert outcome["reason"][:60] in note

    # the run's record_outcome cleared and re-run (as from the UI): same outcome, no second summary
    from clearing import clear_and_rerun

    tis = clear_and_rerun(dag, outcome["run_id"], ["record_outcome"])
    assert tis["record_outcome"][1] >= 2, tis  # it really ran again
    again = store.get_json(Keys("fraud", Settings.from_env().prefix).run_artifact(week, outcome["run_id"],
                                                                                   "outcome.json"))
    assert again["run_id"] == outcome["run_id"] and again["outcome"] == verdict
    assert [m for rcpt, m in env.inbox.take() if rcpt == [TEAM]] == []
