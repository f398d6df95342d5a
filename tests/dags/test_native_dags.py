"""DAG shape of the Airflow-native options: the approval step (promotion.approval: required) and the
weekly deadline alert."""

from __future__ import annotations

import dataclasses
import datetime as dt

from retrain.config import PromotionConfig, load_model_config


def test_approval_required_puts_an_approval_operator_between_gate_and_promote():
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from retrain.airflow.dag_factory import build_weekly_dag

    cfg = load_model_config("fraud")
    cfg = dataclasses.replace(cfg, promotion=PromotionConfig(approval="required", approval_timeout_hours=2))
    dag = build_weekly_dag(cfg)
    approve = dag.get_task("approve_promotion")
    assert isinstance(approve, ApprovalOperator)
    assert approve.upstream_task_ids == {"evaluation_gate"} and approve.downstream_task_ids == {"promote"}
    assert dag.get_task("promote").upstream_task_ids == {"approve_promotion"}
    assert approve.defaults == ["Reject"] and approve.response_timeout == dt.timedelta(hours=2)
    assert approve.retries == 0


def test_no_approval_step_by_default():
    from retrain.airflow.dag_factory import build_weekly_dag

    dag = build_weekly_dag(load_model_config("fraud"))
    assert "approve_promotion" not in dag.task_ids
    assert dag.get_task("promote").upstream_task_ids == {"evaluation_gate"}


def test_weekly_dag_carries_a_deadline_alert_to_the_bundle_callback(monkeypatch):
    from retrain.airflow.dag_factory import build_weekly_dag
    from retrain.airflow.deadline import ScheduledRunDeadline

    monkeypatch.delenv("RETRAIN_DEADLINE_ALERTS", raising=False)  # on unless turned off
    cfg = load_model_config("fraud")
    [alert] = build_weekly_dag(cfg).deadline
    assert alert.reference == ScheduledRunDeadline(local_time="06:00", timezone="Europe/Berlin")
    assert alert.interval == dt.timedelta(0)  # the reference is the deadline itself (exact across DST)
    assert alert.callback.path == "retrain.airflow.deadline.deadline_missed"
    assert alert.callback.kwargs == {"model": "fraud"}
    no_deadline = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, deadline=None))
    assert not build_weekly_dag(no_deadline).deadline
    monkeypatch.setenv("RETRAIN_DEADLINE_ALERTS", "0")  # what in-process dag.test() runs set
    assert not build_weekly_dag(cfg).deadline


def test_the_deadline_reference_round_trips_through_the_plugin_registry():
    """The scheduler can only create deadline rows for a custom reference a plugin registers."""
    from airflow.serialization.decoders import decode_deadline_reference
    from airflow.serialization.encoders import encode_deadline_reference
    from retrain.airflow.deadline import ScheduledRunDeadline

    ref = ScheduledRunDeadline(local_time="05:30", timezone="America/New_York")
    encoded = encode_deadline_reference(ref)
    assert encoded["__class_path"] == "retrain.airflow.deadline.ScheduledRunDeadline"
    assert decode_deadline_reference(encoded).inner_ref == ref


def test_clears_and_backfills_run_the_latest_dag_version_explicitly():
    """The package is installed, not versioned with the bundle: a cleared or backfilled run runs
    today's code, so Airflow must record today's DAG version for it too (README: backfills)."""
    from retrain.airflow.dag_factory import build_rollback_dag, build_scoring_dag, build_weekly_dag

    cfg = load_model_config("fraud")
    for build in (build_weekly_dag, build_rollback_dag, build_scoring_dag):
        assert build(cfg).rerun_with_latest_version is True
