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
    from airflow.sdk.definitions.deadline import DagRunQueuedAtDeadline
    from retrain.airflow.dag_factory import build_weekly_dag

    monkeypatch.setenv("RETRAIN_DEADLINE_ALERTS", "1")
    cfg = load_model_config("fraud")
    [alert] = build_weekly_dag(cfg).deadline
    assert isinstance(alert.reference, DagRunQueuedAtDeadline)
    assert alert.interval == dt.timedelta(hours=4)  # 02:00 -> 06:00 local
    assert alert.callback.path == "retrain.airflow.deadline.deadline_missed"
    assert alert.callback.kwargs == {"model": "fraud"}
    no_deadline = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, deadline=None))
    assert not build_weekly_dag(no_deadline).deadline


def test_deadline_alerts_are_opt_in_because_clearing_such_runs_fails_in_airflow_3_3(monkeypatch):
    from retrain.airflow.dag_factory import build_weekly_dag

    monkeypatch.delenv("RETRAIN_DEADLINE_ALERTS", raising=False)
    assert not build_weekly_dag(load_model_config("fraud")).deadline


def test_clears_and_backfills_run_the_latest_dag_version_explicitly():
    """The package is installed, not versioned with the bundle: a cleared or backfilled run runs
    today's code, so Airflow must record today's DAG version for it too (README: backfills)."""
    from retrain.airflow.dag_factory import build_rollback_dag, build_scoring_dag, build_weekly_dag

    cfg = load_model_config("fraud")
    for build in (build_weekly_dag, build_rollback_dag, build_scoring_dag):
        assert build(cfg).rerun_with_latest_version is True
