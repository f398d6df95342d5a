"""`make up` as a newcomer meets it: its own state, sample weeks the default Trigger will use,
and a CLI that finds the stack's S3 without a connection JSON (through .run/stack.env)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from retrain import registry
from retrain.config import Settings, load_model_config
from retrain.keys import Keys, version_id
from retrain.storage.integrity import dumps_model
from retrain_dev import devstack

pytestmark = pytest.mark.integration


def test_sample_weeks_end_at_the_week_a_default_trigger_covers():
    from retrain.airflow.tasks import data_week
    from retrain.timetable import WeeklyTimetable

    cfg = load_model_config("fraud")
    timetable = WeeklyTimetable.from_schedule(cfg.schedule)
    for now in (dt.datetime(2026, 12, 2, 4, 20, tzinfo=dt.UTC), dt.datetime(2026, 3, 30, 0, 30, tzinfo=dt.UTC),
                dt.datetime(2026, 11, 1, 23, 30, tzinfo=dt.UTC)):
        first, last = devstack.sample_weeks(now, [cfg.schedule.timezone])
        # the Trigger form's default: logical date now; the run's interval is what the timetable infers
        interval = timetable.infer_manual_data_interval(run_after=now)
        week = data_week(interval.start, interval.end, now, cfg.schedule.timezone)
        assert first <= week <= last, (now, week, first, last)
        assert (last - first).days == 7 * (devstack.SAMPLE_WEEKS - 1)


def test_trigger_help_names_the_week_and_the_backfill_dates():
    text = devstack.trigger_help(dt.date(2026, 9, 7), dt.date(2026, 11, 23))
    assert "it runs data week 2026-11-23" in text
    # the demo story: the 12 weeks before the normal ones, From the Sunday before its first Monday
    assert devstack.story_weeks(dt.date(2026, 9, 7)) == (dt.date(2026, 6, 15), dt.date(2026, 8, 31))
    assert "Backfill, From 2026-06-14 To 2026-08-31" in text


def test_the_stack_gets_its_own_metadata_db():
    env = devstack.stack_env()
    assert env["AIRFLOW_HOME"] != devstack.airflow_env()["AIRFLOW_HOME"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(".run/stack/airflow_home/airflow.db")


def test_registry_show_finds_the_local_stack_without_a_connection(moto_server, store, tmp_path, monkeypatch,
                                                                    capsys):
    from retrain.cli import main
    from retrain_dev.local_s3 import local_env

    keys = Keys("fraud", Settings.from_env().prefix)
    week, run_id = dt.date(2026, 1, 5), "scheduled__2026-01-05T01:00:00+00:00"
    version = version_id(week, run_id)
    registry.publish_version(store, keys, version, {"model.joblib": dumps_model({"m": 1}), "gate.json": b"{}"},
                             metadata={"week": week.isoformat(), "run_id": run_id})
    registry.promote(store, keys, version, week, run_id, "test", registry.dag_run_actor("retrain_fraud", run_id, "t"))

    env_file = tmp_path / "stack.env"
    devstack.write_stack_env(local_env(moto_server.endpoint_url, store.bucket), env_file)
    (tmp_path / "moto.pid").write_text(str(moto_server.proc.pid))
    assert devstack.read_stack_env(env_file)["AIRFLOW_CONN_AWS_DEFAULT"] == json.loads(
        json.dumps(local_env(moto_server.endpoint_url, "x")["AIRFLOW_CONN_AWS_DEFAULT"]))
    monkeypatch.setattr(devstack, "STACK_ENV_FILE", env_file)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")

    capsys.readouterr()
    assert main(["registry", "show", "--model", "fraud"]) == 0
    captured = capsys.readouterr()
    assert version in captured.out
    assert "using the local stack's S3" in captured.err

    # no stack running (its moto is gone): the CLI does not pretend, it uses the environment as is
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")
    (tmp_path / "moto.pid").write_text("999999999")
    assert devstack.use_stack_if_unconfigured(environ={}, path=env_file) is False
