"""Issue 9 §4 on real Rossmann rows (30 stores of the public data set, 25 weeks up to
2015-06-08): the newest batch is checked every week with the real sales suite, and every
problem is named truly, in this week's terms."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
from retrain.config import Settings, load_model_config
from retrain.errors import DataValidationError
from retrain.keys import Keys
from retrain.pipeline.steps import RunContext, Steps

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
SALES = REFERENCE / "rossmann_sales_2013-01-01_2015-06-14.parquet"
WEEK = dt.date(2015, 6, 8)
STORES = 30
KEYS = Keys("rossmann", "")
CFG = load_model_config("rossmann")

if not SALES.exists():  # a clone without ../shared
    pytest.skip(f"real Rossmann reference data not found at {REFERENCE}", allow_module_level=True)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    out = frame.copy()
    if pd.api.types.is_datetime64_any_dtype(out["Date"]):
        out["Date"] = out["Date"].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False).encode()


@pytest.fixture(scope="module")
def world(moto_server):
    import uuid

    from retrain.storage import S3Store

    store = S3Store(Settings(bucket=f"retrain-rossmann-real-{uuid.uuid4().hex[:8]}"))
    store.ensure_bucket()
    n_weeks = CFG.data.window_weeks + CFG.data.extra["history_weeks"]
    first = WEEK - dt.timedelta(weeks=n_weeks - 1)
    sales = pd.read_parquet(SALES, filters=[("Store", "<=", STORES), ("Date", ">=", pd.Timestamp(first))])
    table = (REFERENCE / "rossmann_store.csv").read_bytes()
    for i in range(n_weeks):
        monday = first + dt.timedelta(weeks=i)
        rows = sales[(sales["Date"] >= pd.Timestamp(monday)) & (sales["Date"] < pd.Timestamp(monday + dt.timedelta(days=7)))]
        store.put_bytes(KEYS.landing(monday, "csv"), csv_bytes(rows.sort_values(["Date", "Store"])))
        store.put_bytes(KEYS.landing(monday, "csv", "stores"), table)
    return store


@pytest.fixture
def newest(world):
    """The newest week's real batch as a frame; the test lands its variant, restored afterwards."""
    key = KEYS.landing(WEEK, "csv")
    original = world.get_bytes(key)
    yield key, pd.read_csv(io.BytesIO(original), dtype={"StateHoliday": str})
    world.put_bytes(key, original)


def run(world, run_id: str) -> Steps:
    ctx = RunContext(cfg=CFG, settings=Settings(bucket=world.bucket), week=WEEK, run_id=run_id,
                     data_interval=(WEEK.isoformat(), (WEEK + dt.timedelta(days=7)).isoformat()),
                     dag_id=CFG.retrain_dag_id)
    return Steps(ctx, world)


def check_of(steps: Steps) -> dict:
    steps.evaluate_triggers()
    return steps.store.get_json(steps.ctx.artifact("decision.json"))


def test_seed_outliers_are_warnings_listed_in_the_weeks_decision(world, newest):
    key, frame = newest
    frame.loc[[0, 1, 2], "Sales"] = [1_250_000, 1_100_000, 1_500_000]
    world.put_bytes(key, csv_bytes(frame))
    decision = check_of(run(world, "scheduled__outliers"))
    check = decision["batch_check"]
    assert check["passed"] and check["status"] == "PASSED WITH WARNINGS"
    sales = [w for w in check["warnings"] if w.startswith("expect_column_values_to_be_between (Sales)")]
    assert sales and "3 values outside [0, 100000]" in sales[0]
    for value in ("1250000", "1100000", "1500000"):
        assert value in sales[0]


def test_formula_and_script_strings_in_state_holiday_are_critical(world, newest):
    key, frame = newest
    frame.loc[[0, 1, 2], "StateHoliday"] = ['=HYPERLINK("http://evil.example","x")', "<script>alert(1)</script>",
                                            "@SUM(1+1)"]
    world.put_bytes(key, csv_bytes(frame))
    steps = run(world, "scheduled__formulas")
    decision = check_of(steps)
    check = decision["batch_check"]
    assert not check["passed"]
    [crit] = [c for c in check["critical_failures"] if "(StateHoliday)" in c]
    for text in ("=HYPERLINK", "<script>", "@SUM(1+1)"):
        assert text in crit
    assert decision["retrain"] and decision["trigger"] in ("first_deployment", "invalid_input")
    with pytest.raises(DataValidationError, match="StateHoliday"):
        steps.validate()


def test_missing_store_column_is_not_reported_as_no_rows(world, newest):
    key, frame = newest
    world.put_bytes(key, csv_bytes(frame.drop(columns=["Store"])))
    decision = check_of(run(world, "scheduled__no_store"))
    text = " ".join(decision["signals"]["schema_problems"]) + decision["reason"]
    assert "no rows" not in text
    assert "Store" in " ".join(decision["batch_check"]["critical_failures"])
    assert decision["signals"]["batch_rows"] is None


def test_text_in_sales_is_a_type_problem_not_a_gx_error(world, newest):
    key, frame = newest
    frame["Sales"] = frame["Sales"].map(lambda v: f"{v / 1000:.3f}".replace(".", ","))  # German thousands
    world.put_bytes(key, csv_bytes(frame))
    decision = check_of(run(world, "scheduled__sales_text"))
    [warning] = [w for w in decision["batch_check"]["warnings"] if "(Sales)" in w]
    assert "type problem" in warning and "not numbers" in warning
    assert "min_value and max_value" not in warning
    assert "batch unreadable" not in decision["reason"]  # readable: it has the wrong types


def test_fifty_duplicate_rows_are_counted_in_this_weeks_batch(world, newest):
    key, frame = newest
    world.put_bytes(key, csv_bytes(pd.concat([frame, frame.head(50)], ignore_index=True)))
    steps = run(world, "scheduled__duplicates")
    decision = check_of(steps)
    [dup] = [c for c in decision["batch_check"]["critical_failures"] if c.startswith("batch_rows_unique")]
    assert "50 duplicate rows in this week's batch" in dup and "Store and Date" in dup
    assert "batch unreadable" not in decision["reason"]
    with pytest.raises(DataValidationError, match="50 duplicate rows in this week's batch"):
        steps.validate()


def test_a_clean_real_week_passes_and_every_partition_has_a_record(world, newest):
    steps = run(world, "scheduled__clean")
    decision = check_of(steps)
    assert decision["batch_check"]["status"] == "PASSED"
    out = steps.validate()
    assert out["passed"]
    report = world.get_json(steps.ctx.artifact("validation.json"))
    partitions = next(s for s in report["stages"] if s["stage"] == "window partitions")
    assert partitions["total"] == CFG.data.window_weeks + CFG.data.extra["history_weeks"] - 1
    assert partitions["failed"] == 0
