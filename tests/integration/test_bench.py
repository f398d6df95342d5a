"""Smoke run of the `make bench` machinery on ~2k rows (4 weeks x 500) against a real local S3.

Checks that the table has every stage, the runs took the paths the bench assumes (first
deployment, then skip), the numbers are sane and the budget lines/JSON are produced. Wall
times are never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import json
import math

import pytest
from retrain_dev import bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _quiet(*args, **kwargs):
    pass


@pytest.fixture(scope="module")
def small():
    return bench.fraud_bench(rows_per_week=500, weeks=4, log=_quiet)


def _by_group(rows, group):
    return [r for r in rows if r["group"] == group]


def test_every_stage_is_measured_in_dag_order(small):
    rows = small["rows"]
    assert [r["stage"] for r in _by_group(rows, "retrain")] == list(bench.RETRAIN_STAGES)
    assert [r["stage"] for r in _by_group(rows, "skip")] == ["evaluate_triggers (next week)", "skip"]
    assert [r["stage"] for r in _by_group(rows, "reference")] == ["single fit of the winner (reference)"]
    # the steady-state week: every stage, or up to a gate rejection (500 holdout rows rarely show a
    # challenger on stable data not worse within the tolerances), which ends the run as in the DAG
    weekly = [r["stage"] for r in _by_group(rows, "weekly")]
    stages = [f"{t} (weekly)" for t in bench.RETRAIN_STAGES]
    if "weekly_gate_rejected" in small["info"]:
        assert weekly == stages[: stages.index("evaluation_gate (weekly)") + 1]
    else:
        assert weekly == stages
    assert [r["stage"] for r in _by_group(rows, "weekly-reference")] == ["single fit of the weekly winner (reference)"]
    assert len(_by_group(rows, "setup")) == 3  # the window, the skip week, the steady-state week
    profile = [r["stage"] for r in _by_group(rows, "profile")]
    assert any("hist_gradient_boosting" in s for s in profile) and any("random_forest" in s for s in profile)
    failed = [(r["stage"], r["error"]) for r in rows if not r["ok"]]
    assert failed == []


def test_numbers_are_sane(small):
    for r in small["rows"]:
        assert math.isfinite(r["seconds"]) and r["seconds"] >= 0, r
        if r["group"] == "profile":
            continue
        assert math.isfinite(r["cpu_seconds"]) and r["cpu_seconds"] >= 0, r
        assert math.isfinite(r["peak_mib"]) and r["peak_mib"] > 0, r  # its size is a figure for make bench
    train = next(r for r in small["rows"] if r["stage"] == "train")
    parts = sum(r["seconds"] for r in _by_group(small["rows"], "profile"))
    assert parts <= train["seconds"] + 1e-6  # the profile is a breakdown of train, not extra time


def test_runs_took_the_paths_the_budgets_assume(small):
    info = small["info"]
    assert info["window_rows"] == 2000
    assert info["retrain_decision"]["retrain"] and info["retrain_decision"]["trigger"] == "first_deployment"
    assert info["gate"]["passed"] and info["gate"]["first_deployment"]
    assert info["skip_decision"]["retrain"] is False, info["skip_decision"]["reason"]
    assert info["weekly_decision"]["retrain"] and info["weekly_train_profile"]["train_rows"] == 1500
    profile = info["train_profile"]
    assert profile["train_rows"] == 1500 and profile["holdout_rows"] == 500
    assert info["single_fit"]["winner"] == profile["winner"]
    assert info["single_fit"]["rows"] == profile["train_rows"]
    # the steady-state run is judged against a fit of its own winner on its own rows
    assert info["weekly_single_fit"]["winner"] == info["weekly_train_profile"]["winner"]
    assert info["weekly_single_fit"]["rows"] == info["weekly_train_profile"]["train_rows"]


def test_budget_lines_table_and_json(small, tmp_path):
    checks = bench.check_budgets(small["rows"], small["info"])
    names = [c["budget"] for c in checks]
    assert names == ["retraining run <= 5 x single fit of the winner", "skip path < 30 s",
                     "peak memory < 4 GiB", "every stage completed"]
    for c in checks:
        assert isinstance(c["passed"], bool) and math.isfinite(c["value"]) and c["detail"]
    assert next(c for c in checks if c["budget"] == "every stage completed")["passed"]

    table = bench.format_table(small["rows"], checks)
    for r in small["rows"]:
        assert r["stage"] in table
    assert "retraining run total" in table
    assert sum(line.startswith(("PASS", "FAIL")) for line in table.splitlines()) == len(checks)

    out = tmp_path / "bench.json"
    bench.write_report(out, small["rows"], checks, {"fraud": small["info"]})
    doc = json.loads(out.read_text())
    assert [r["stage"] for r in doc["rows"]] == [r["stage"] for r in small["rows"]]
    assert doc["measured_how"] and doc["passed"] == all(c["passed"] for c in checks)


def _row(stage, group, seconds, peak=300.0, ok=True):
    return {"stage": stage, "group": group, "seconds": seconds, "cpu_seconds": seconds, "peak_mib": peak,
            "ok": ok, "error": None if ok else "boom", "result": None}


def test_budget_checks_pass_and_fail_on_the_numbers():
    run = [_row(s, "retrain", 10.0) for s in bench.RETRAIN_STAGES]  # 70 s
    skip = [_row("evaluate_triggers (next week)", "skip", 5.0), _row("skip", "skip", 1.0)]
    ok = bench.check_budgets(run + skip + [_row("single fit of the winner (reference)", "reference", 20.0)])
    assert all(c["passed"] for c in ok)

    slow_fit_ratio = bench.check_budgets(run + [_row("single fit of the winner (reference)", "reference", 10.0)])
    assert not slow_fit_ratio[0]["passed"] and slow_fit_ratio[0]["ratio"] == pytest.approx(7.0)

    slow_skip = bench.check_budgets([_row("evaluate_triggers (next week)", "skip", 29.0), _row("skip", "skip", 2.0)])
    assert not next(c for c in slow_skip if c["budget"] == "skip path < 30 s")["passed"]

    no_skip = bench.check_budgets([_row("evaluate_triggers (next week)", "skip", 1.0)],
                                  {"skip_decision": {"retrain": True, "reason": "drift"}})
    assert not no_skip[0]["passed"] and "drift" in no_skip[0]["detail"]

    fat = bench.check_budgets([_row("train", "retrain", 1.0, peak=5000.0)])
    assert not next(c for c in fat if c["budget"] == "peak memory < 4 GiB")["passed"]

    broken = bench.check_budgets([_row("validate_data", "retrain", 1.0, ok=False)])
    assert not broken[-1]["passed"] and "validate_data" in broken[-1]["detail"]


def test_dag_parse_rows_cover_every_dag_file():
    rows = bench.parse_bench(repeats=1, log=_quiet)
    assert sorted(r["stage"] for r in rows) == sorted(f"parse dags/{p.name}" for p in (bench.ROOT / "dags").glob("*.py"))
    for r in rows:
        assert r["ok"], r["error"]
        assert r["result"]["heavy_imports"] == bench.EXPECTED_HEAVY.get(r["stage"].removeprefix("parse dags/"), [])
        assert r["seconds"] > 0 and r["peak_mib"] > 0


def test_rossmann_targets_become_budget_lines_and_a_miss_fails():
    from retrain_dev.bench import check_budgets

    rows = [
        {"stage": "rossmann: feature engineering", "group": "rossmann", "seconds": 2.0, "peak_mib": 990.0,
         "ok": True, "target": "< 30 s, < 6 GiB: met"},
        {"stage": "rossmann: weekly run (total)", "group": "rossmann", "seconds": 700.0, "peak_mib": 690.0,
         "ok": False, "target": "< 600 s: MISSED"},
    ]
    checks = {c["budget"]: c["passed"] for c in check_budgets(rows)}
    assert checks["rossmann: feature engineering < 30 s, < 6 GiB"] is True
    assert checks["rossmann: weekly run (total) < 600 s"] is False
