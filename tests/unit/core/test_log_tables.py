"""Task logs tell the story once: a metrics table for train and the gate, and a failed validation's
report as the task's one failure message (no second copy chained under a traceback)."""

from __future__ import annotations

import logging

import pytest
from retrain.core.logtables import gate_table, training_table
from retrain.errors import DataValidationError, GateRejected, MissingInputError

CANDIDATES = [
    {"name": "hist_gradient_boosting", "cv_mean": 0.9612, "cv_std": 0.004, "fit_seconds": 6.24,
     "holdout_metrics": {"roc_auc": 0.9655, "recall": 0.81, "cost_per_1k": 5230.0, "tp": 251, "note": "text"}},
    {"name": "random_forest", "cv_mean": 0.9502, "cv_std": 0.006, "fit_seconds": 12.0,
     "holdout_metrics": {"roc_auc": 0.951, "recall": 0.77, "cost_per_1k": 6100.0}},
]


def test_training_table_has_one_row_per_candidate_and_marks_the_winner():
    text = training_table(CANDIDATES, "hist_gradient_boosting", "roc_auc")
    lines = text.splitlines()
    assert lines[0] == "training: winner hist_gradient_boosting (by cv roc_auc; * = winner)"
    # the selection metric first, then the headline metrics present (no counts)
    assert lines[1].split() == ["candidate", "cv", "roc_auc", "holdout", "roc_auc", "holdout", "recall",
                                "holdout", "cost_per_1k", "fit", "s"]
    assert lines[3].split() == ["*", "hist_gradient_boosting", "0.9612", "±", "0.0040", "0.9655", "0.8100",
                                "5230", "6.2"]
    assert lines[4].split()[0] == "random_forest" and len(lines) == 5


def test_gate_table_lists_every_rule_with_both_models():
    record = {"passed": False, "first_deployment": False, "challenger_version": "2026-W10-aaaaaaaa",
              "champion_version": "2026-W09-bbbbbbbb",
              "challenger": {"recall": 0.55, "roc_auc": 0.90}, "champion": {"recall": 0.7, "roc_auc": 0.93},
              "checks": [{"rule": "minimum", "metric": "recall", "threshold": 0.6, "passed": False},
                         {"rule": "minimum", "metric": "roc_auc", "threshold": 0.8, "passed": True},
                         {"rule": "relative_regression", "metric": "roc_auc", "threshold": 0.05, "passed": True}]}
    lines = gate_table(record).splitlines()
    assert lines[0] == ("evaluation gate: REJECTED; challenger 2026-W10-aaaaaaaa vs champion 2026-W09-bbbbbbbb")
    assert lines[3].split() == ["minimum", "recall", "0.5500", "0.7000", "0.6000", "FAIL"]
    assert lines[5].split() == ["relative_regression", "roc_auc", "0.9000", "0.9300", "0.0500", "pass"]


@pytest.mark.parametrize("error", [DataValidationError("Validation FAILED\n  [critical] x (a)\nFull report: s3://b/k"),
                                   GateRejected("evaluation gate rejected the challenger:\n  - recall 0.5 < 0.6")])
def test_a_verdict_fails_the_task_with_its_report_once(error, caplog):
    from airflow.sdk.exceptions import AirflowFailException
    from retrain.airflow.tasks import _airflow_errors

    @_airflow_errors
    def step():
        raise error

    with caplog.at_level(logging.INFO), pytest.raises(AirflowFailException) as info:
        step()
    assert str(info.value) == str(error)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained second copy
    assert not [r for r in caplog.records if str(error) in r.getMessage()]  # not logged before Airflow logs it


def test_other_deterministic_errors_keep_their_cause():
    from airflow.sdk.exceptions import AirflowFailException
    from retrain.airflow.tasks import _airflow_errors

    @_airflow_errors
    def step():
        raise MissingInputError("no landing batch for week 2026-01-05")

    with pytest.raises(AirflowFailException) as info:
        step()
    assert isinstance(info.value.__cause__, MissingInputError)
