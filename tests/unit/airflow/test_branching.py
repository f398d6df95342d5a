"""The weekly branch pre-skips exactly what the trigger rules would skip on the path not taken."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TriggerRule
from retrain.airflow.branching import also_skipped
from retrain.config import load_model_config


def test_the_path_not_taken_is_skipped_down_to_the_join():
    with DAG("g", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:
        branch, skip, validate, train, smoke = (EmptyOperator(task_id=t) for t in
                                                ("branch", "skip", "validate", "train", "smoke"))
        rollback = EmptyOperator(task_id="rollback", trigger_rule=TriggerRule.ONE_FAILED)
        join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.ALL_DONE)
        cleanup = EmptyOperator(task_id="cleanup", trigger_rule=TriggerRule.NONE_FAILED)
        after_cleanup = EmptyOperator(task_id="after_cleanup")
        mixed = EmptyOperator(task_id="mixed")  # also fed by the followed path's upstream
        branch >> [validate, skip]
        validate >> train >> smoke >> rollback
        [skip, rollback] >> join
        train >> cleanup >> after_cleanup
        [branch, train] >> mixed

    assert also_skipped(dag, ["validate"], ["skip"]) == ["train", "smoke", "rollback"]
    # the other way round: the skip task's only descendant is the join, which the followed path reaches
    assert also_skipped(dag, ["skip"], ["validate"]) == []
    # none_failed runs when its upstream is skipped: it and what follows it stay to the trigger rules;
    # a task with an upstream outside the skipped set is left to them too
    assert "cleanup" not in also_skipped(dag, ["validate"], ["skip"])
    assert "after_cleanup" not in also_skipped(dag, ["validate"], ["skip"])
    assert "mixed" not in also_skipped(dag, ["validate"], ["skip"])


def test_a_skip_week_skips_the_whole_retraining_path_of_the_weekly_dag():
    from retrain.airflow.dag_factory import build_weekly_dag

    dag = build_weekly_dag(load_model_config("fraud"))
    assert also_skipped(dag, ["validate_data"], ["skip"]) == [
        "build_features", "train", "evaluation_gate", "promote", "smoke_test", "rollback"]
    assert also_skipped(dag, ["skip"], ["validate_data"]) == []  # record_outcome always runs
