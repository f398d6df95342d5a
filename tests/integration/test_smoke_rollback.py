"""Experiment (draft)."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

import pytest

from retrain import registry
from retrain.config import Settings, load_model_config
from retrain.keys import Keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = dt.date(2026, 1, 5)
WEEKS = [START + dt.timedelta(weeks=i) for i in range(5)]


@pytest.fixture(scope="module")
def weekly(moto_server, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["retrain_fraud"]


def test_superseded(weekly, bucket, store):
    from retrain.datagen.landing import land_weeks
    from retrain.demo import run_weeks

    cfg = load_model_config("fraud")
    land_weeks(store, cfg, start=START, weeks=5, scenario="stable", rows=1500, history_weeks=1)
    keys = Keys("fraud", "")
    t = time.time()
    o3 = run_weeks(weekly, cfg, store, [WEEKS[2]])[0]
    print("w3", time.time() - t, o3["outcome"], o3["reason"])
    t = time.time()
    o5 = run_weeks(weekly, cfg, store, [WEEKS[4]], conf={"force": True})[0]
    print("w5", time.time() - t, o5["outcome"], o5["reason"])
    t = time.time()
    o3b = run_weeks(weekly, cfg, store, [WEEKS[2]], conf={"force": True})[0]
    print("w3b", time.time() - t, o3b["outcome"], o3b["reason"], o3b["task_states"])
    print(registry.read_slots(store, keys)[0])
    for e in registry.history(store, keys):
        print(e["action"], e["outcome"], e.get("message"))


def test_durations(weekly, bucket, store):
    from retrain.datagen.landing import land_weeks
    from retrain.demo import run_weeks
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    cfg = load_model_config("fraud")
    land_weeks(store, cfg, start=START, weeks=2, scenario="stable", rows=1500, history_weeks=1)
    for w, conf in ((WEEKS[0], {}), (WEEKS[1], {"force": True})):
        t = time.time()
        o = run_weeks(weekly, cfg, store, [w], conf=conf)[0]
        print("run", w, time.time() - t, o["outcome"])
        with create_session() as s:
            for ti in s.scalars(select(TaskInstance).where(TaskInstance.run_id == o["run_id"], TaskInstance.dag_id == "retrain_fraud")):
                print("  ", ti.task_id, ti.state, ti.try_number, ti.start_date and ti.end_date and (ti.end_date - ti.start_date).total_seconds())
