"""The backfill dialog's UTC dates vs data weeks, driven through Airflow's own backfill selection
(`SerializedDAG.iter_dagrun_infos_between`, what `POST /api/v2/backfills` uses) on the real DAG.

The issue's observation: a backfill "Jan 12 - Feb 02" ran data weeks Jan 19, Jan 26, Feb 02. The
DAG docs and the README say: enter the Sunday before the first Monday as From and the last
Monday as To; these tests hold them to it, in winter and across the summer-time switch.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest
from retrain.airflow.notes import backfill_dates
from retrain.airflow.tasks import data_week
from retrain.config import load_model_config


@pytest.fixture(scope="module")
def serialized_dag():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).dags["retrain_fraud"]
    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def weeks_run_by_backfill(serialized_dag, from_day: dt.date, to_day: dt.date) -> list[dt.date]:
    """Data weeks of the runs a backfill From/To (UTC dates, as the dialog sends them) creates."""
    cfg = load_model_config("fraud")
    infos = serialized_dag.iter_dagrun_infos_between(pendulum.datetime(from_day.year, from_day.month, from_day.day),
                                                     pendulum.datetime(to_day.year, to_day.month, to_day.day))
    return [data_week(i.data_interval.start, i.data_interval.end, i.run_after, cfg.schedule.timezone) for i in infos]


def D(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_entering_the_mondays_drops_the_first_week(serialized_dag):
    assert weeks_run_by_backfill(serialized_dag, D("2026-01-12"), D("2026-02-02")) == [
        D("2026-01-19"), D("2026-01-26"), D("2026-02-02")]


@pytest.mark.parametrize("first,last", [("2026-01-12", "2026-02-02"),   # winter (CET)
                                        ("2026-03-16", "2026-04-13"),   # across the switch to CEST
                                        ("2026-10-19", "2026-11-02")])  # back to CET
def test_the_documented_dates_run_exactly_the_wanted_weeks(serialized_dag, first, last):
    from_day, to_day = backfill_dates(D(first), D(last))
    assert from_day.weekday() == 6 and to_day == D(last)  # a Sunday, and the last Monday itself
    wanted = [D(first) + dt.timedelta(weeks=i) for i in range((D(last) - D(first)).days // 7 + 1)]
    assert weeks_run_by_backfill(serialized_dag, from_day, to_day) == wanted


def test_the_dag_docs_give_the_same_example(serialized_dag):
    from_day, to_day = backfill_dates(D("2026-01-12"), D("2026-02-02"))
    doc = serialized_dag.doc_md
    assert f"From `{from_day.isoformat()}`, To `{to_day.isoformat()}`" in doc
    assert "$RETRAIN_BUCKET" not in doc and "<prefix>" not in doc
