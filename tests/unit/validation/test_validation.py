"""Data validation: GX suite on the raw batch + window checks, every failure listed with a severity."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from retrain.config import (
    DEFAULT_EXPECTATIONS_DIR,
    DEFAULT_MODELS_DIR,
    DataConfig,
    WindowChecks,
    load_model_config,
)
from retrain.errors import ConfigError, DataValidationError
from retrain.validation import (
    CRITICAL,
    WARNING,
    CheckResult,
    ValidationReport,
    load_suite_json,
    raise_if_failed,
    run_suite,
    validate,
    window_checks,
)
from retrain.validation.suite import build_gx_suite
from retrain_dev.datagen.fraud import COLUMNS as FRAUD_BATCH_COLUMNS

SUITE = DEFAULT_EXPECTATIONS_DIR / "fraud_weekly_batch.json"
COLUMNS = list(FRAUD_BATCH_COLUMNS)  # the batch schema, defined once by the generator
CATEGORIES = [
    "grocery",
    "fuel",
    "online_retail",
    "travel",
    "electronics",
    "restaurants",
    "entertainment",
    "cash_withdrawal",
]
BINARY = ["device_match", "cvv_match", "address_match", "country_match", "card_present"]

DATA_CFG = DataConfig(
    label="is_fraud",
    numeric_features=(
        "amount",
        "velocity_1h",
        "velocity_24h",
        "distance_from_home_km",
        "hour",
        "day_of_week",
    ),
    binary_features=tuple(BINARY),
    categorical_features=("merchant_category",),
    id_column="transaction_id",
    timestamp_column="event_time",
    expectation_suite="fraud_weekly_batch.json",
    window_checks=WindowChecks(
        min_rows=500, min_positive_rate=0.01, max_positive_rate=0.20, max_null_rate=0.10
    ),
)


def make_batch(n: int = 600, seed: int = 0, start: str = "2024-03-04") -> pd.DataFrame:
    """A valid weekly fraud batch of `n` rows (~6% positives), columns in the documented order."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start, tz="UTC")
    event_time = t0 + pd.to_timedelta(np.sort(rng.integers(0, 7 * 86400, n)), unit="s")
    data = {
        "transaction_id": [f"tx-{seed}-{i:07d}" for i in range(n)],
        "event_time": event_time,
        "amount": np.round(rng.lognormal(np.log(40.0), 0.8, n).clip(0.5, 20_000.0), 2),
        "velocity_1h": rng.poisson(0.3, n),
        "velocity_24h": rng.poisson(4.0, n),
        "distance_from_home_km": np.round(rng.lognormal(np.log(6.0), 1.0, n), 3),
        "merchant_category": rng.choice(CATEGORIES, n),
    }
    for col in BINARY:
        data[col] = rng.binomial(1, 0.9, n)
    data["hour"] = event_time.hour.to_numpy()
    data["day_of_week"] = event_time.dayofweek.to_numpy()
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(n, size=max(1, round(0.06 * n)), replace=False)] = 1
    data["is_fraud"] = labels
    df = pd.DataFrame(data)
    assert list(df.columns) == COLUMNS
    return df


def make_window(weeks: int = 3, n: int = 400) -> pd.DataFrame:
    starts = pd.date_range("2024-02-12", periods=weeks, freq="7D")
    return pd.concat(
        [make_batch(n, seed=i, start=str(s.date())) for i, s in enumerate(starts)], ignore_index=True
    )


def failed_keys(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(r.expectation_type, r.column) for r in report.failures}


def result(report: ValidationReport, expectation_type: str, column: str | None = None) -> CheckResult:
    found = [r for r in report.results if r.expectation_type == expectation_type and r.column == column]
    assert len(found) == 1, (expectation_type, column, [r.label for r in report.results])
    return found[0]


@pytest.fixture(scope="module")
def suite_size() -> int:
    return len(load_suite_json(SUITE)["expectations"])


# ---------------------------------------------------------------------------- the suite file
def test_suite_json_loads_with_a_severity_on_every_expectation():
    spec = load_suite_json(SUITE)
    assert spec["name"] == "fraud_weekly_batch"
    assert all(e["meta"]["severity"] in (CRITICAL, WARNING) for e in spec["expectations"])
    types = {(e["type"], e["kwargs"].get("column")): e for e in spec["expectations"]}
    column_set = types[("expect_table_columns_to_match_set", None)]["kwargs"]
    assert sorted(column_set["column_set"]) == sorted(COLUMNS) and column_set["exact_match"] is True
    assert types[("expect_column_values_to_be_between", "amount")]["meta"]["severity"] == WARNING
    assert types[("expect_column_values_to_be_unique", "transaction_id")]["meta"]["severity"] == CRITICAL
    # GX accepts every entry (an invalid one would otherwise be dropped silently by GX).
    assert len(build_gx_suite(spec).expectations) == len(spec["expectations"])


def test_suite_covers_the_fraud_model_config():
    data = load_model_config(DEFAULT_MODELS_DIR / "fraud.yaml").data
    spec = load_suite_json(DEFAULT_EXPECTATIONS_DIR / data.expectation_suite)
    column_set = next(e for e in spec["expectations"] if e["type"] == "expect_table_columns_to_match_set")
    needed = {*data.features, data.label, data.id_column, data.timestamp_column}
    assert needed <= set(column_set["kwargs"]["column_set"])


@pytest.mark.parametrize(
    "mutate, error",
    [
        (lambda s: s["expectations"][0]["meta"].pop("severity"), "meta.severity"),
        (lambda s: s["expectations"][0]["meta"].update(severity="info"), "meta.severity"),
        (lambda s: s["expectations"][0].update(type="expect_nonsense"), "invalid"),
        (lambda s: s.update(expectations=[]), "non-empty"),
    ],
)
def test_invalid_suite_files_are_config_errors(tmp_path, mutate, error):
    spec = json.loads(SUITE.read_text())
    mutate(spec)
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match=error):
        run_suite(make_batch(), path)


def test_missing_suite_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no expectation suite"):
        run_suite(make_batch(), tmp_path / "absent.json")


# ---------------------------------------------------------------------------- run_suite
def test_good_batch_passes(suite_size):
    report = run_suite(make_batch(), SUITE)
    assert report.passed and report.status == "PASSED", report.format_text()
    assert report.total == suite_size and report.successful == suite_size and report.failed == 0
    assert report.critical_failures == [] and report.warnings == []
    rows = result(report, "expect_table_row_count_to_be_between")
    assert rows.observed_value == 600
    assert "Validation raw batch: PASSED" in report.format_text()


def test_missing_column_fails_every_expectation_on_it_and_counts_them(suite_size):
    report = run_suite(make_batch().drop(columns=["merchant_category"]), SUITE)
    assert not report.passed and report.status == "FAILED"
    assert report.total == suite_size  # nothing dropped
    cols = result(report, "expect_table_columns_to_match_set")
    assert not cols.success and cols.severity == CRITICAL
    assert cols.missing_columns == ["merchant_category"] and cols.unexpected_columns == []
    assert "merchant_category" not in cols.observed_value and "amount" in cols.observed_value
    for exp_type in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set"):
        r = result(report, exp_type, "merchant_category")
        assert not r.success and r.severity == CRITICAL
        assert "merchant_category" in r.exception and r.observed_value == r.exception
    assert report.failed == 3 and len(report.critical_failures) == 3 and report.successful == suite_size - 3
    text = report.format_text()
    assert "missing columns: ['merchant_category']" in text
    assert "Failed: 3 (critical: 3, warning: 0)" in text


def test_outlier_amounts_pass_with_warnings_and_are_listed():
    df = make_batch()
    df.loc[[10, 20, 30], "amount"] = [75000.0, 120000.5, 99999.0]
    report = run_suite(df, SUITE)
    assert report.passed and report.status == "PASSED WITH WARNINGS"
    assert [r.label for r in report.warnings] == ["expect_column_values_to_be_between (amount)"]
    warn = report.warnings[0]
    assert warn.unexpected_count == 3 and warn.unexpected_examples == [75000.0, 120000.5, 99999.0]
    assert warn.unexpected_percent == pytest.approx(0.5)
    text = report.format_text()
    assert "[warning]  expect_column_values_to_be_between (amount)" in text
    assert "3 values outside [0, 50000]" in text and "[75000.0, 120000.5, 99999.0]" in text
    raise_if_failed(report)  # warnings never raise


def _non_binary_label(df):
    df.loc[[1, 2], "is_fraud"] = [2, -1]


def _duplicate_ids(df):
    df.loc[[5, 6], "transaction_id"] = df.loc[4, "transaction_id"]


def _null_amount(df):
    df.loc[[7, 8], "amount"] = np.nan


def _null_category(df):
    df.loc[9, "merchant_category"] = None


def _unknown_category(df):
    df.loc[9, "merchant_category"] = "crypto"


def _zero_amount(df):
    df.loc[3, "amount"] = 0.0


def _bad_hour(df):
    df.loc[3, "hour"] = 24


@pytest.mark.parametrize(
    "mutate, expected_type, column, examples",
    [
        (_non_binary_label, "expect_column_values_to_be_in_set", "is_fraud", [2, -1]),
        (_duplicate_ids, "expect_column_values_to_be_unique", "transaction_id", ["tx-0-0000004"]),
        (_null_amount, "expect_column_values_to_not_be_null", "amount", None),
        (_null_category, "expect_column_values_to_not_be_null", "merchant_category", None),
        (_unknown_category, "expect_column_values_to_be_in_set", "merchant_category", ["crypto"]),
        (_zero_amount, "expect_column_min_to_be_between", "amount", None),
        (_bad_hour, "expect_column_values_to_be_between", "hour", [24]),
    ],
)
def test_each_critical_problem_fails_on_its_own(mutate, expected_type, column, examples):
    df = make_batch()
    mutate(df)
    report = run_suite(df, SUITE)
    assert not report.passed
    assert failed_keys(report) == {(expected_type, column)}, report.format_text()
    failure = report.critical_failures[0]
    if examples is not None:
        assert failure.unexpected_examples == examples
    text = report.format_text()
    assert f"[critical] {expected_type} ({column})" in text
    with pytest.raises(DataValidationError):
        raise_if_failed(report)


def test_zero_amount_reports_the_observed_minimum():
    df = make_batch()
    df.loc[3, "amount"] = 0.0
    failure = run_suite(df, SUITE).critical_failures[0]
    assert failure.observed_value == 0.0
    assert failure.message == "observed min 0, expected > 0"


def test_several_problems_are_all_listed_in_one_report(suite_size):
    df = make_batch()
    df = df.drop(columns=["cvv_match"]).assign(promo_code="none")
    _duplicate_ids(df)
    _non_binary_label(df)
    df.loc[11, "amount"] = 60000.0
    df.loc[12, "day_of_week"] = 9
    df.loc[13, "event_time"] = pd.NaT
    df["amount"] = df["amount"].astype(object)
    df.loc[14, "amount"] = None

    report = run_suite(df, SUITE)
    assert report.total == suite_size
    assert failed_keys(report) == {
        ("expect_table_columns_to_match_set", None),
        ("expect_column_values_to_be_in_set", "cvv_match"),
        ("expect_column_values_to_be_unique", "transaction_id"),
        ("expect_column_values_to_be_in_set", "is_fraud"),
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_values_to_be_between", "day_of_week"),
        ("expect_column_values_to_not_be_null", "event_time"),
        ("expect_column_values_to_not_be_null", "amount"),
    }, report.format_text()
    cols = result(report, "expect_table_columns_to_match_set")
    assert cols.missing_columns == ["cvv_match"] and cols.unexpected_columns == ["promo_code"]
    assert len(report.critical_failures) == 7 and len(report.warnings) == 1
    text = report.format_text()
    assert "Failed: 8 (critical: 7, warning: 1)" in text
    assert text.index("[critical]") < text.index("[warning]")  # critical listed first
    json.dumps(report.to_dict(), allow_nan=False)


def test_report_is_json_serialisable_and_round_trips():
    df = make_batch()
    df.loc[[5, 6], "event_time"] = df.loc[4, "event_time"]
    df.loc[3, "hour"] = 99
    report = run_suite(df, SUITE)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["stage"] == "raw batch" and data["passed"] is False and data["status"] == "FAILED"
    assert data["total"] == report.total and data["failed"] == 1
    assert (
        data["critical_failures"] == ["expect_column_values_to_be_between (hour)"] and data["warnings"] == []
    )
    hour = next(r for r in data["results"] if r["column"] == "hour" and not r["success"])
    assert hour["unexpected_examples"] == [99] and hour["kwargs"] == {
        "column": "hour",
        "min_value": 0,
        "max_value": 23,
    }
    assert hour["observed_value"]["unexpected_count"] == 1
    again = ValidationReport.from_dict(data)
    assert again.format_text() == report.format_text()


# ---------------------------------------------------------------------------- window checks
def test_good_window_passes_every_check():
    results = window_checks(make_window(), DATA_CFG)
    assert all(r.success for r in results), [r.message for r in results if not r.success]
    # row count, label present, label binary, positive rate, features present, one null rate per feature
    assert len(results) == 5 + len(DATA_CFG.features)
    assert {r.source for r in results} == {"window"}


def _window_failures(df, cfg=DATA_CFG) -> dict[tuple[str, str | None], CheckResult]:
    results = window_checks(df, cfg)
    assert len(results) == 5 + len(cfg.features)  # every check always evaluated
    return {(r.expectation_type, r.column): r for r in results if not r.success}


def test_window_too_few_rows():
    failures = _window_failures(make_batch(300))
    assert set(failures) == {("window_row_count", None)}
    assert failures["window_row_count", None].observed_value == 300
    assert failures["window_row_count", None].severity == CRITICAL


def test_window_missing_label_skips_dependent_checks_as_failed():
    failures = _window_failures(make_window().drop(columns=["is_fraud"]))
    assert set(failures) == {
        ("window_label_present", "is_fraud"),
        ("window_label_binary", "is_fraud"),
        ("window_positive_rate", "is_fraud"),
    }
    assert failures["window_positive_rate", "is_fraud"].message == "skipped: label 'is_fraud' missing"
    assert all(f.severity == CRITICAL for f in failures.values())


def test_window_non_binary_label():
    df = make_window()
    df.loc[[0, 1, 2], "is_fraud"] = [2, 3, 2]
    failures = _window_failures(df)
    assert set(failures) == {("window_label_binary", "is_fraud"), ("window_positive_rate", "is_fraud")}
    binary = failures["window_label_binary", "is_fraud"]
    assert binary.unexpected_count == 3 and binary.unexpected_examples == [2, 3]
    assert failures["window_positive_rate", "is_fraud"].message == "skipped: label 'is_fraud' is not binary"


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_window_positive_rate_out_of_band(rate):
    df = make_window()
    df["is_fraud"] = (np.arange(len(df)) < rate * len(df)).astype(int)
    failures = _window_failures(df)
    assert set(failures) == {("window_positive_rate", "is_fraud")}
    assert failures["window_positive_rate", "is_fraud"].observed_value == pytest.approx(rate)
    assert "expected [0.01, 0.2]" in failures["window_positive_rate", "is_fraud"].message


def test_window_positive_rate_not_checked_when_not_configured():
    cfg = DataConfig(label="is_fraud", numeric_features=("amount",), window_checks=WindowChecks(min_rows=10))
    results = window_checks(make_batch(50), cfg)
    assert [r.expectation_type for r in results] == [
        "window_row_count",
        "window_label_present",
        "window_label_binary",
        "window_features_present",
        "window_null_rate",
    ]
    assert all(r.success for r in results)


def test_window_missing_features_are_all_listed():
    failures = _window_failures(make_window().drop(columns=["amount", "cvv_match", "merchant_category"]))
    present = failures["window_features_present", None]
    assert present.severity == CRITICAL and present.missing_columns == [
        "amount",
        "cvv_match",
        "merchant_category",
    ]
    assert present.message == "missing features: ['amount', 'cvv_match', 'merchant_category']"
    # the null-rate check of each missing feature is reported as skipped (warning), not dropped
    skipped = {k[1] for k, r in failures.items() if k[0] == "window_null_rate"}
    assert skipped == {"amount", "cvv_match", "merchant_category"}


def test_window_null_rate_is_a_warning():
    df = make_window()
    df["distance_from_home_km"] = df["distance_from_home_km"].mask(np.arange(len(df)) % 5 == 0)  # 20% nulls
    failures = _window_failures(df)
    assert set(failures) == {("window_null_rate", "distance_from_home_km")}
    warn = failures["window_null_rate", "distance_from_home_km"]
    assert warn.severity == WARNING and warn.observed_value == pytest.approx(0.2)
    assert "will be imputed" in warn.message


# ---------------------------------------------------------------------------- validate + raise
def test_validate_combines_batch_and_window_in_one_report(suite_size):
    batch = make_batch()
    batch.loc[[10, 20, 30], "amount"] = [75000.0, 120000.5, 99999.0]
    window = make_window()
    window["velocity_1h"] = window["velocity_1h"].astype(float).mask(np.arange(len(window)) % 4 == 0)
    report = validate(batch, window, DATA_CFG, SUITE)
    assert report.stage == "raw batch + training window"
    assert report.total == suite_size + 5 + len(DATA_CFG.features)
    assert report.passed and report.status == "PASSED WITH WARNINGS"
    assert [r.label for r in report.warnings] == [
        "expect_column_values_to_be_between (amount)",
        "window_null_rate (velocity_1h)",
    ]
    assert raise_if_failed(report) is report


def test_validate_resolves_the_configured_suite_and_fails_closed_without_one():
    report = validate(make_batch(), make_window(), DATA_CFG)
    assert report.passed and report.meta["raw batch"]["suite"] == "fraud_weekly_batch"
    no_suite = DataConfig(label="is_fraud", numeric_features=("amount",))
    with pytest.raises(ConfigError, match="expectation_suite"):
        validate(make_batch(), make_window(), no_suite)


def test_raise_if_failed_carries_the_text_and_the_report():
    batch = make_batch().drop(columns=["merchant_category"])
    batch.loc[[10, 20, 30], "amount"] = [75000.0, 120000.5, 99999.0]
    window = make_window().drop(columns=["is_fraud", "merchant_category"])
    report = validate(batch, window, DATA_CFG, SUITE)
    assert not report.passed
    with pytest.raises(DataValidationError) as err:
        raise_if_failed(report, report_uri="s3://bucket/run/validation.json")
    message = str(err.value)
    assert message.startswith("Validation raw batch + training window: FAILED")
    for needle in (
        "[critical] expect_table_columns_to_match_set",
        "missing columns: ['merchant_category']",
        "[critical] expect_column_values_to_be_in_set (merchant_category)",
        "[critical] window_label_present (is_fraud)",
        "[critical] window_positive_rate (is_fraud)",
        "skipped: label 'is_fraud' missing",
        "[critical] window_features_present",
        "missing features: ['merchant_category']",
        "[warning]  window_null_rate (merchant_category)",
        "[warning]  expect_column_values_to_be_between (amount)",
        "[75000.0, 120000.5, 99999.0]",
        "Full report: s3://bucket/run/validation.json",
    ):
        assert needle in message, needle
    assert "Failed: 9 (critical: 7, warning: 2)" in message
    assert err.value.report["passed"] is False
    assert err.value.report["report_uri"] == "s3://bucket/run/validation.json"
    assert len(err.value.report["critical_failures"]) == len(report.critical_failures) == 7
    json.dumps(err.value.report, allow_nan=False)


# ---------------------------------------------------------------------------- packaging
def test_import_is_light():
    code = (
        "import sys, retrain.validation\n"
        "heavy = [m for m in ('great_expectations', 'pandas', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)


def test_gx_is_never_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "great_expectations", None)
    with pytest.raises(ImportError):
        run_suite(make_batch(), SUITE)


def test_run_suite_is_quiet(capfd):
    """No tqdm progress bars (GX enables them by default) and no GX INFO chatter."""
    run_suite(make_batch(), SUITE)
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err
    assert logging.getLogger("great_expectations").getEffectiveLevel() >= logging.WARNING
