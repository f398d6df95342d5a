"""Issue 9 §3: the bytes that were validated are the bytes that train.

Real moto S3 and the real fraud suite: validate_data records the content hash of every
partition it read; build_features reads exactly those bytes or fails closed naming the
partition that changed; every partition of the window has a validation record for its
exact content (reused while unchanged, validated again when it changes).
"""

from __future__ import annotations

import datetime as dt

import pytest
from retrain.config import Settings, load_model_config
from retrain.core.frames import from_bytes, to_bytes
from retrain.errors import DataValidationError
from retrain.keys import Keys
from retrain.pipeline.loader import PartitionChanged
from retrain.pipeline.steps import RunContext, Steps
from retrain_dev.datagen.landing import land_weeks

pytestmark = pytest.mark.integration

START = dt.date(2026, 1, 5)
WEEK = START + dt.timedelta(weeks=3)  # the run's week; the window holds 4 landed weeks


def steps_for(store, run_id: str, week: dt.date = WEEK, cfg=None) -> Steps:
    cfg = cfg or load_model_config("fraud")
    ctx = RunContext(cfg=cfg, settings=Settings(bucket=store.bucket), week=week, run_id=run_id,
                     data_interval=(week.isoformat(), (week + dt.timedelta(days=7)).isoformat()),
                     dag_id=cfg.retrain_dag_id)
    return Steps(ctx, store)


@pytest.fixture
def landed(store):
    cfg = load_model_config("fraud")
    land_weeks(store, cfg, start=START, weeks=4, scenario="stable", rows=800)
    return Keys("fraud", "")


def poison(store, key: str) -> None:
    """Rewrite a partition with rows validation would refuse (negative amount, hour 99, unknown category)."""
    frame = from_bytes(store.get_bytes(key), "parquet")
    frame.loc[:9, "amount"] = -500.0
    frame.loc[10:19, "hour"] = 99
    frame.loc[20:29, "merchant_category"] = "casino_offshore"
    store.put_bytes(key, to_bytes(frame, "parquet"))


def test_validation_records_the_hash_of_every_partition_it_read(store, landed):
    steps = steps_for(store, "scheduled__w4")
    steps.validate()
    record = store.get_json(steps.ctx.artifact("validation.json"))
    batch_keys = sorted(landed.landing(START + dt.timedelta(weeks=i), "parquet") for i in range(4))
    assert sorted(record["inputs"]) == batch_keys
    for key in batch_keys:
        assert record["inputs"][key] == record["partitions"][key]["sha256"]
        assert len(record["inputs"][key]) == 64 and record["partitions"][key]["etag"]


@pytest.mark.parametrize("weeks_back", [0, 2], ids=["newest batch swapped", "week two weeks back rewritten"])
def test_build_features_refuses_a_partition_changed_after_validation(store, landed, weeks_back):
    steps = steps_for(store, "scheduled__w4")
    assert steps.validate()["passed"]
    changed = landed.landing(WEEK - dt.timedelta(weeks=weeks_back), "parquet")
    poison(store, changed)
    with pytest.raises(PartitionChanged, match=f"{changed} changed after validation"):
        steps.build_features()
    assert not store.exists(steps.ctx.artifact("features/manifest.json")), "no features from unvalidated bytes"


def test_build_features_reads_the_validated_window_only(store, landed):
    """A partition landing inside the window after validation is not silently added."""
    steps = steps_for(store, "scheduled__w4")
    steps.validate()
    early = START - dt.timedelta(weeks=1)
    store.put_bytes(landed.landing(early, "parquet"), store.get_bytes(landed.landing(START, "parquet")))
    out = steps.build_features()
    manifest = store.get_json(out["features_manifest"])
    assert landed.landing(early, "parquet") not in manifest["inputs"]
    assert manifest["inputs"] == store.get_json(steps.ctx.artifact("validation.json"))["inputs"]


def test_build_features_without_a_passed_validation_fails_closed(store, landed):
    from retrain.errors import MissingInputError

    with pytest.raises(MissingInputError, match="run validate_data before build_features"):
        steps_for(store, "scheduled__w4").build_features()


def test_every_window_partition_is_validated_once_per_content(store, landed):
    from retrain.validation.partitions import PartitionRecords

    first = steps_for(store, "scheduled__w4")
    first.validate()
    inputs = store.get_json(first.ctx.artifact("validation.json"))["inputs"]
    records = PartitionRecords(store, landed)
    for key, sha in inputs.items():
        week = dt.date.fromisoformat(key.split("week=")[1].split("/")[0])
        record = records.validated(week, sha)
        assert record is not None and record["passed"] and record["sha256"] == sha, key
        assert record["validated_by"]["run_id"] == "scheduled__w4"

    # unchanged bytes: the records are reused by a later run (not validated again)
    again = steps_for(store, "manual__again")
    again.validate()
    for key, sha in inputs.items():
        week = dt.date.fromisoformat(key.split("week=")[1].split("/")[0])
        assert records.validated(week, sha)["validated_by"]["run_id"] == "scheduled__w4"

    # a week two weeks back rewritten with poisoned rows: validated again, and the run stops naming it
    old_week = WEEK - dt.timedelta(weeks=2)
    old_key = landed.landing(old_week, "parquet")
    poison(store, old_key)
    third = steps_for(store, "manual__after_rewrite")
    with pytest.raises(DataValidationError) as err:
        third.validate()
    text = str(err.value)
    assert f"week {old_week.isoformat()}" in text and old_key in text
    assert "expect_column_values_to_be_between (hour)" in text and "merchant_category" in text
    report = store.get_json(third.ctx.artifact("validation.json"))
    stage = next(s for s in report["stages"] if s["stage"] == "window partitions")
    assert stage["status"] == "FAILED" and stage["failed"] == 1
    new_sha = report["inputs"][old_key]
    assert new_sha != inputs[old_key]
    assert records.validated(old_week, new_sha)["passed"] is False
