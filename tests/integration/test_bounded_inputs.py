"""Issue 9 §5: landing objects are bounded before they are decoded (size by HEAD, parquet
rows and uncompressed size by the footer), refused as a validation failure."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from retrain.config import DEFAULT_MODELS_DIR, Settings, load_model_config, parse_model_config
from retrain.core.frames import to_bytes
from retrain.errors import ConfigError, DataValidationError
from retrain.keys import Keys
from retrain.pipeline.loader import InputTooLarge, LandingLoader
from retrain.pipeline.steps import RunContext, Steps

pytestmark = pytest.mark.integration

WEEK = dt.date(2026, 1, 26)
KEYS = Keys("fraud", "")


def fraud_cfg(**limits):
    cfg = load_model_config("fraud")
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **limits))


def compressible(rows: int) -> bytes:
    """A parquet of `rows` identical rows: a few KB on disk, many MB once decoded."""
    frame = pd.DataFrame({"amount": np.zeros(rows), "merchant_category": ["grocery"] * rows,
                          "hour": np.zeros(rows, dtype=np.int64)})
    return to_bytes(frame, "parquet")


def test_the_defaults_are_set_in_the_config():
    data = load_model_config("fraud").data
    assert data.max_batch_bytes == 256 * 1024 * 1024
    assert data.max_batch_rows == 5_000_000
    assert data.max_batch_uncompressed_bytes == 1024 * 1024 * 1024


def test_a_highly_compressible_parquet_is_refused_by_its_footer_before_decoding(store, monkeypatch):
    data = compressible(400_000)
    assert len(data) < 100_000  # small on disk
    store.put_bytes(KEYS.landing(WEEK, "parquet"), data)
    loader = LandingLoader(store, KEYS, fraud_cfg(max_batch_rows=100_000))
    monkeypatch.setattr("retrain.pipeline.loader.from_bytes", lambda *a, **k: pytest.fail("decoded before the bound check"))
    with pytest.raises(InputTooLarge, match=r"400,000 rows \(parquet footer\).*max_batch_rows=100,000"):
        loader.read(WEEK)


def test_the_footer_uncompressed_size_is_bounded_too(store):
    store.put_bytes(KEYS.landing(WEEK, "parquet"), compressible(200_000))
    loader = LandingLoader(store, KEYS, fraud_cfg(max_batch_uncompressed_bytes=100_000))
    with pytest.raises(InputTooLarge, match="max_batch_uncompressed_bytes=100,000"):
        loader.read(WEEK)


def test_object_size_is_checked_by_head_before_download(store, monkeypatch):
    store.put_bytes(KEYS.landing(WEEK, "parquet"), b"x" * 5000)
    loader = LandingLoader(store, KEYS, fraud_cfg(max_batch_bytes=4096))
    monkeypatch.setattr(store, "get_with_etag", lambda key: pytest.fail("downloaded before the size check"))
    with pytest.raises(InputTooLarge, match="5,000 bytes, more than data.max_batch_bytes=4,096"):
        loader.read(WEEK)


def test_a_non_positive_limit_is_a_config_error():
    raw = yaml.safe_load(DEFAULT_MODELS_DIR.joinpath("fraud.yaml").read_text())
    raw["data"]["max_batch_rows"] = 0
    with pytest.raises(ConfigError, match="fraud.yaml: data.max_batch_rows: Input should be greater than or equal to 1"):
        parse_model_config(raw, DEFAULT_MODELS_DIR / "fraud.yaml")


def test_an_oversized_batch_is_a_validation_failure_with_a_report(store):
    store.put_bytes(KEYS.landing(WEEK, "parquet"), compressible(400_000))
    cfg = fraud_cfg(max_batch_rows=100_000)
    ctx = RunContext(cfg=cfg, settings=Settings(bucket=store.bucket), week=WEEK, run_id="scheduled__big",
                     data_interval=(WEEK.isoformat(), (WEEK + dt.timedelta(days=7)).isoformat()),
                     dag_id=cfg.retrain_dag_id)
    steps = Steps(ctx, store)
    decision = steps.evaluate_triggers()
    assert decision["retrain"]
    [refused] = store.get_json(ctx.artifact("decision.json"))["batch_check"]["critical_failures"]
    assert refused.startswith("batch_within_limits") and "batch too large" in refused
    with pytest.raises(DataValidationError, match="batch too large"):
        steps.validate()
    report = store.get_json(ctx.artifact("validation.json"))
    assert report["passed"] is False and report["results"][0]["expectation_type"] == "batch_within_limits"
