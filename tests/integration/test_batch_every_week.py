"""Issue 9 §4 on the fraud model with a real champion: the raw-batch suite runs on the newest
batch every week, skip weeks included. Warnings are recorded in the week's decision, skip and
outcome records; a critical failure routes the week to validate_data, which fails with the
report (and the run alerts), where the triggers alone would have skipped. Empty and
header-only batches are named as such, and never reach scikit-learn.
"""

from __future__ import annotations

import datetime as dt

import pytest
from retrain.config import Settings, load_model_config
from retrain.core.frames import from_bytes, to_bytes
from retrain.core.outcome import summarise
from retrain.errors import DataValidationError
from retrain.keys import Keys
from retrain.pipeline.steps import RunContext, Steps
from retrain_dev.datagen.landing import land_weeks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = dt.date(2026, 1, 5)
CHAMPION_WEEK = START + dt.timedelta(weeks=2)
QUIET_WEEK = START + dt.timedelta(weeks=3)  # stable data: the triggers say "skip"
KEYS = Keys("fraud", "")


def steps_for(store, week: dt.date, run_id: str) -> Steps:
    cfg = load_model_config("fraud")
    ctx = RunContext(cfg=cfg, settings=Settings(bucket=store.bucket), week=week, run_id=run_id,
                     data_interval=(week.isoformat(), (week + dt.timedelta(days=7)).isoformat()),
                     dag_id=cfg.retrain_dag_id)
    return Steps(ctx, store)


@pytest.fixture(scope="module")
def world(moto_server):
    """Three stable weeks, a champion trained on them, and a fourth (quiet) week landed."""
    import uuid

    from retrain.storage import S3Store

    store = S3Store(Settings(bucket=f"retrain-quiet-{uuid.uuid4().hex[:8]}"))
    store.ensure_bucket()
    cfg = load_model_config("fraud")
    land_weeks(store, cfg, start=START, weeks=4, scenario="stable", rows=1500)
    steps = steps_for(store, CHAMPION_WEEK, "scheduled__champion")
    steps.evaluate_triggers()
    for name in ("validate", "build_features", "train", "evaluation_gate", "promote"):
        getattr(steps, name)()
    return store


@pytest.fixture
def quiet_batch(world):
    """The quiet week's batch, restored after the test."""
    key = KEYS.landing(QUIET_WEEK, "parquet")
    original = world.get_bytes(key)
    yield key, from_bytes(original, "parquet")
    world.put_bytes(key, original)


def test_a_quiet_week_skips(world, quiet_batch):
    decision = steps_for(world, QUIET_WEEK, "scheduled__quiet").evaluate_triggers()
    assert decision["retrain"] is False and decision["trigger"] == "none"


def test_warnings_in_a_skip_week_are_recorded_in_its_outcome(world, quiet_batch):
    key, frame = quiet_batch
    frame.loc[[3, 4, 5], "amount"] = [1_250_000.0, 1_100_000.0, 1_500_000.0]
    world.put_bytes(key, to_bytes(frame, "parquet"))
    steps = steps_for(world, QUIET_WEEK, "scheduled__outliers")
    decision = steps.evaluate_triggers()
    assert decision["retrain"] is False, decision["reason"]  # the branch still decides only retraining
    record = world.get_json(steps.ctx.artifact("decision.json"))
    check = record["batch_check"]
    assert check["status"] == "PASSED WITH WARNINGS" and not check["critical_failures"]
    assert len(check["warnings"]) == 1 and "expect_column_values_to_be_between (amount)" in check["warnings"][0]
    for value in ("1250000", "1100000", "1500000"):
        assert value in check["warnings"][0]
    skip = steps.skip(decision)
    assert world.get_json(skip["skip_key"])["batch_warnings"] == check["warnings"]
    outcome = summarise({"evaluate_triggers": "success", "skip": "success"},
                        {"decision": record, "skip": world.get_json(skip["skip_key"])}, steps.ctx.version)
    assert outcome["outcome"] == "skipped" and outcome["ok"]
    assert outcome["batch_warnings"] == check["warnings"]


def test_a_critical_failure_in_a_quiet_week_fails_validation(world, quiet_batch):
    key, frame = quiet_batch
    frame.loc[:4, "merchant_category"] = "=HYPERLINK(\"http://x\")"
    world.put_bytes(key, to_bytes(frame, "parquet"))
    steps = steps_for(world, QUIET_WEEK, "scheduled__bad_category")
    decision = steps.evaluate_triggers()
    assert decision["retrain"] is True and decision["trigger"] == "invalid_input"
    assert "merchant_category" in decision["reason"]
    with pytest.raises(DataValidationError, match="merchant_category"):
        steps.validate()
    validation = world.get_json(steps.ctx.artifact("validation.json"))
    assert validation["passed"] is False
    # the record evaluate_triggers wrote for these bytes is the one validate_data reused
    check = world.get_json(steps.ctx.artifact("decision.json"))["batch_check"]
    assert world.get_json(check["record_key"])["validated_by"]["run_id"] == "scheduled__bad_category"
    outcome = summarise({"evaluate_triggers": "success", "validate_data": "failed"},
                        {"decision": world.get_json(steps.ctx.artifact("decision.json")), "validation": validation},
                        steps.ctx.version)
    assert outcome["outcome"] == "validation_failed" and not outcome["ok"]


@pytest.mark.parametrize(("content", "says"), [
    (b"", "empty batch"),
    ("header", "no rows"),
], ids=["empty file", "header only"])
def test_empty_and_header_only_batches_are_named_not_crashed_on(world, quiet_batch, content, says):
    key, frame = quiet_batch
    data = to_bytes(frame.head(0), "parquet") if content == "header" else content
    world.put_bytes(key, data)
    steps = steps_for(world, QUIET_WEEK, f"scheduled__{says.replace(' ', '_')}")
    decision = steps.evaluate_triggers()  # no scikit-learn "Found array with 0 sample(s)"
    assert decision["retrain"] is True and decision["trigger"] == "invalid_input"
    assert says in decision["reason"] and "unreadable" not in decision["reason"]
    with pytest.raises(DataValidationError, match=says):
        steps.validate()
    validation = world.get_json(steps.ctx.artifact("validation.json"))
    assert validation["passed"] is False and says in validation["results"][0]["message"]


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on loopback (aiosmtpd) and the alert settings pointing at it."""
    import email
    import email.policy
    import json

    from aiosmtpd.controller import Controller
    from retrain_dev.local_s3 import free_port

    received = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": controller.port,
        "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 10}}))
    monkeypatch.setenv("RETRAIN_ALERT_EMAIL_FRAUD", "oncall@retrain.test")
    try:
        yield received
    finally:
        controller.stop()


def test_warnings_of_a_skip_week_alert_once_per_batch_content(world, quiet_batch, smtp):
    from retrain.pipeline.batch_alerts import alert_batch_warnings

    key, frame = quiet_batch
    frame.loc[[3, 4, 5], "amount"] = [1_250_000.0, 1_100_000.0, 1_500_000.0]
    world.put_bytes(key, to_bytes(frame, "parquet"))

    def week_run(run_id: str) -> str:
        steps = steps_for(world, QUIET_WEEK, run_id)
        decision = steps.evaluate_triggers()
        skip = steps.skip(decision)
        outcome = summarise({"evaluate_triggers": "success", "skip": "success"},
                            {"decision": world.get_json(steps.ctx.artifact("decision.json")),
                             "skip": world.get_json(skip["skip_key"])}, steps.ctx.version)
        return alert_batch_warnings(steps.ctx.cfg, steps.ctx, world, outcome)

    assert week_run("scheduled__warn") == "sent"
    assert week_run("scheduled__warn") == "already sent"  # a cleared re-run
    assert week_run("manual__warn_again") == "already sent"  # another run over the same bytes
    assert len(smtp) == 1
    body = smtp[0].get_body(preferencelist=("html",)).get_content()
    assert "batch_warnings" in smtp[0]["Subject"] and "1250000" in body
