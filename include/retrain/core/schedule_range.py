"""The range of data weeks a model's weekly DAG serves, enforced by its first task.

Airflow creates no task instance for a manual or test run whose logical date lies before
the DAG's start_date: such a run "succeeds" at once with no task and no record, so a user
backfilling history gets nothing and no error. The weekly DAG therefore accepts any week
(its start_date is RUNS_ACCEPTED_FROM unless catchup is on), and `evaluate_triggers` refuses
a week before `schedule.start_date` with a DeterministicError that names the config: the run
fails loudly and record_outcome still writes its outcome.
"""

from __future__ import annotations

import datetime as dt

from retrain.config import ModelConfig
from retrain.errors import DeterministicError
from retrain.keys import week_start

RUNS_ACCEPTED_FROM = dt.date(2000, 1, 3)  # a Monday before any data a model here is meant for


class OutsideSchedule(DeterministicError):
    """The run's data week lies outside the model's schedule."""


def first_week(cfg: ModelConfig) -> dt.date:
    return week_start(dt.date.fromisoformat(str(cfg.schedule.start_date)))


def require_scheduled_week(cfg: ModelConfig, week: dt.date) -> None:
    first = first_week(cfg)
    if week < first:
        raise OutsideSchedule(
            f"data week {week} is before the first week of the {cfg.name} schedule ({first}, "
            f"schedule.start_date in {cfg.source_path}): there is no data for it. Run weeks from "
            f"{first} on, or move schedule.start_date if the data really starts earlier.")
