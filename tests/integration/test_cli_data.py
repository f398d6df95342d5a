"""`retrain data generate` lands one deterministic batch per ISO week under the landing layout."""

from __future__ import annotations

import datetime as dt

import pytest
from retrain.cli import main
from retrain.core.frames import from_bytes
from retrain.keys import Keys

pytestmark = pytest.mark.integration


def test_generate_lands_one_partition_per_week_with_history(store, capsys):
    args = ["data", "generate", "--model", "fraud", "--start", "2026-01-05", "--weeks", "3",
            "--scenario", "drift_from_week_2", "--rows", "600", "--history-weeks", "1"]
    assert main(args) == 0
    keys = Keys("fraud")
    landed = store.list_keys(keys.landing_prefix())
    weeks = [dt.date(2025, 12, 29) + dt.timedelta(weeks=i) for i in range(4)]
    assert landed == [keys.landing(w, "parquet") for w in weeks]
    frame = from_bytes(store.get_bytes(landed[1]))
    assert len(frame) == 600 and frame["event_time"].min().date() >= weeks[1]
    out = capsys.readouterr().out
    assert "covariate shift" in out and "2026-01-12" in out

    # deterministic: generating again rewrites byte-identical objects
    before = {k: store.get_bytes(k) for k in landed}
    assert main(args) == 0
    assert {k: store.get_bytes(k) for k in landed} == before


def test_start_must_be_a_monday(store, capsys):
    assert main(["data", "generate", "--model", "fraud", "--start", "2026-01-07", "--weeks", "1"]) == 1
    assert "must be a Monday" in capsys.readouterr().err
    assert store.list_keys("landing/") == []


def test_unknown_scenario_is_refused_with_the_valid_names(store, capsys):
    args = ["data", "generate", "--model", "fraud", "--start", "2026-01-05", "--weeks", "1", "--scenario", "nonsense"]
    assert main(args) == 1
    assert "drift_from_week_N" in capsys.readouterr().err
