"""Real Rossmann weeks through `retrain data import` and the real `retrain_rossmann` DAG
(dag.test() on SQLite, moto S3): a slice of 30 stores, 2014-03..2014-08.

Runs on real 2014 weeks used to end "success" with no task and no outcome: the schedule
started 2015-01-05 and Airflow creates no task instance for a run before a DAG's start
date. Now the schedule starts with the data (2012-12-31), and a week before it fails loudly.
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest
from retrain.cli import main
from retrain.config import load_model_config
from retrain.importers import rossmann as imp
from retrain.keys import Keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if not imp.REFERENCE_SALES.is_file() or not imp.REFERENCE_STORES.is_file():
    pytest.skip(f"the real Rossmann reference data is not in {imp.REFERENCE_DIR}", allow_module_level=True)

STORES = [*range(1, 21), 13, 20, 22, 32, 36, 41, 46, 51, 52, 58]  # 10 of the 180 closed 2014-07..12


@pytest.fixture
def landed(store, tmp_path, capsys):
    sales = pd.read_parquet(imp.REFERENCE_SALES, filters=[
        ("Store", "in", sorted(set(STORES))), ("Date", ">=", pd.Timestamp("2014-03-03")),
        ("Date", "<=", pd.Timestamp("2014-08-20"))])
    sales_path = tmp_path / "sales.parquet"
    sales.to_parquet(sales_path)
    assert main(["data", "import", "--model", "rossmann", "--sales", str(sales_path),
                 "--stores", str(imp.REFERENCE_STORES), "--from", "2014-03-03"]) == 0
    return capsys.readouterr()


def test_import_lands_real_weeks_in_the_landing_layout_and_warns(store, landed):
    keys = Keys("rossmann")
    mondays = [dt.date(2014, 3, 3) + dt.timedelta(weeks=i) for i in range(24)]  # ..2014-08-11
    expected = sorted([keys.landing(w, "csv") for w in mondays] + [keys.landing(w, "csv", "stores") for w in mondays])
    assert store.list_keys(keys.landing_prefix()) == expected, "2014-08-18 is partial (ends Wednesday): not landed"
    assert "week 2014-08-18: not landed: partial week: the extract ends on 2014-08-20 (3 of 7 days)" in landed.err
    assert "10 stores have no rows from 2014-07-01 to 2014-08-20 (stores 13, 20, 22, 32, 36, 41, 46, 51, 52, 58)" \
        in landed.err
    from retrain.core.frames import from_bytes

    week = from_bytes(store.get_bytes(keys.landing(dt.date(2014, 8, 4), "csv")), "csv")
    assert sorted(week["Store"].unique()) == [s for s in range(1, 21) if s not in (13, 20)]
    assert "2014-08-04  " in landed.out and "real week" in landed.out


def test_real_2014_weeks_run_their_tasks_and_record_an_outcome(store, landed, airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from retrain_dev.demo import run_weeks

    cfg = load_model_config("rossmann")
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["retrain_rossmann"]
    june, august = dt.date(2014, 6, 2), dt.date(2014, 8, 4)
    outcomes = run_weeks(dag, cfg, store, [june, august], conf={"force": False})
    for outcome in outcomes:
        assert outcome["outcome"] != "no outcome recorded", outcome
        assert outcome["task_states"]["evaluate_triggers"] == "success"
    assert outcomes[0]["outcome"] == "promoted", outcomes[0]  # the first real week deploys a champion

    before = dt.date(2012, 12, 24)  # the week before the schedule's first week
    (early,) = run_weeks(dag, cfg, store, [before], conf={"force": False})
    assert early["outcome"] != "no outcome recorded" and early["dag_run_state"] == "failed", early
    assert early["task_states"]["evaluate_triggers"] == "failed"
