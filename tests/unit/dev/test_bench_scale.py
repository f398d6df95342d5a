"""The cost-curve parts of `make bench` that are pure bookkeeping (no figure is asserted)."""

from __future__ import annotations

import math

from retrain.config import scan_models
from retrain_dev import bench_scale


def test_generated_configs_are_valid_models_with_distinct_names(tmp_path):
    bench_scale.write_configs(tmp_path, 50)
    scan = scan_models(tmp_path)
    assert scan.errors == {} and len(scan.configs) == 50
    assert len({c.name for c in scan.configs}) == 50
    (tmp_path / "one").mkdir()
    bench_scale.write_configs(tmp_path / "one", 1)
    assert len(scan_models(tmp_path / "one").configs) == 1


def _row(stage, group, seconds, cpu, ok=True):
    return {"stage": stage, "group": group, "seconds": seconds, "cpu_seconds": cpu, "peak_mib": 512.0,
            "ok": ok, "error": None if ok else "boom"}


def test_a_run_is_summarised_against_its_target():
    rows = [_row("train", "retrain", 6.0, 5.0), _row("promote", "retrain", 2.0, 1.0),
            _row("single fit of the winner (reference)", "reference", 5.0, 4.0),
            _row("evaluate_triggers (next week)", "skip", 1.5, 1.0)]
    info = {"window_rows": 300_000, "single_fit": {"cpu_seconds": 4.0},
            "train_profile": {"winner": "hgb", "cv_rows": 17_000,
                              "candidates": {"hgb": {"holdout": {"roc_auc": 0.97}}}}}
    weekly = [_row("train (weekly)", "weekly", 5.0, 4.0), _row("promote (weekly)", "weekly", 1.0, 1.0),
              _row("single fit of the weekly winner (reference)", "weekly-reference", 4.0, 4.0)]
    info["weekly_train_profile"] = {"winner": "rf"}
    s = bench_scale.summarise_run(300_000, rows + weekly, info)
    assert s["ok"] and s["ratio"] == 8.0 / 5.0 and s["target"] == 2.0
    # the target is judged on the steady-state weekly run against one fit of its own winner: 6.0 s / 4.0 s
    assert s["weekly_ratio"] == 6.0 / 4.0 and s["met"] and s["weekly_stages"] == {"train": 5.0, "promote": 1.0}
    assert s["weekly_winner"] == "rf" and s["weekly_fit_s"] == 4.0
    assert s["cpu_ratio"] == 6.0 / 4.0 and s["holdout_roc_auc"] == 0.97 and s["skip_s"] == 1.5
    assert "met" in bench_scale.format_scale_line(s) and "rf" in bench_scale.format_scale_line(s)

    slow_week = [weekly[0], _row("promote (weekly)", "weekly", 16.0, 1.0), weekly[2]]
    slow = bench_scale.summarise_run(100_000, rows + slow_week, info)
    assert slow["target"] == 4.0 and not slow["met"] and "MISSED" in bench_scale.format_scale_line(slow)
    unmeasured = bench_scale.summarise_run(300_000, rows, info)  # no weekly run: nothing to judge, not met
    assert unmeasured["ok"] and not unmeasured["met"] and math.isnan(unmeasured["weekly_ratio"])
    no_reference = bench_scale.summarise_run(300_000, rows + weekly[:2], info)  # never judged against run 1's fit
    assert not no_reference["met"] and math.isnan(no_reference["weekly_ratio"])

    failed = bench_scale.summarise_run(1_000_000, [_row("train", "retrain", 1.0, 1.0, ok=False)], {})
    assert not failed["ok"] and not failed["met"] and math.isnan(failed["ratio"])


def test_the_side_by_side_passes_only_when_faster_and_not_worse():
    def side(ours_s, ours_auc, source_auc, not_worse=False):
        result = {"cpu": 1.0, "winner": "w", "train_rows": 10, "holdout_rows": 2, "cv": {}}
        auc = {"difference": ours_auc - source_auc, "low": -0.01, "high": 0.01, "confidence": 0.95,
               "tolerance": 0.005, "not_worse": not_worse}
        return {"rows": 200_000, "auc": auc,
                "ours": {"ok": True, "error": None, "seconds": ours_s, "result": {**result, "roc_auc": ours_auc}},
                "source": {"ok": True, "error": None, "seconds": 100.0, "result": {**result, "roc_auc": source_auc}}}

    assert bench_scale.format_source(side(5.0, 0.97, 0.96))[-1].startswith("PASS")
    assert bench_scale.format_source(side(5.0, 0.95, 0.96))[-1].startswith("FAIL")
    assert bench_scale.format_source(side(20.0, 0.97, 0.96))[-1].startswith("FAIL")
    # lower by less than the noise: equal as the gate judges it (paired interval above -tolerance)
    lines = bench_scale.format_source(side(5.0, 0.9590, 0.9600, not_worse=True))
    assert lines[-1].startswith("PASS") and "not worse beyond the gate's tolerance 0.005" in lines[-2]


def test_auc_verdict_is_the_gates_paired_bootstrap_on_the_same_rows():
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    good = y + rng.normal(0, 0.6, y.size)
    same = bench_scale.auc_verdict({"holdout_scores": good}, {"holdout_y": y, "holdout_scores": good})
    assert same["difference"] == 0.0 and same["not_worse"]
    noisy = y + rng.normal(0, 3.0, y.size)  # far weaker ranking on the same rows
    worse = bench_scale.auc_verdict({"holdout_scores": noisy}, {"holdout_y": y, "holdout_scores": good})
    assert worse["difference"] < -0.1 and not worse["not_worse"] and worse["high"] < 0


def test_the_curve_adds_3m_rows_only_when_the_memory_allows(monkeypatch):
    said = []
    monkeypatch.setattr(bench_scale, "available_gib", lambda: 8.0)
    assert bench_scale.default_sizes(log=said.append) == [100_000, 300_000, 1_000_000, 3_000_000]
    monkeypatch.setattr(bench_scale, "available_gib", lambda: 7.9)
    assert bench_scale.default_sizes(log=said.append) == [100_000, 300_000, 1_000_000]
    assert said == ["scale: 3,000,000 rows left out: 7.9 GiB available, it needs 8"]


def test_available_memory_is_read_from_the_kernel():
    assert 0 < bench_scale.available_gib() < 2**20
