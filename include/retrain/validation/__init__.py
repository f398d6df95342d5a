"""Data validation that lists every failure at once, each with a severity.

Two sources of checks end up in one `ValidationReport`:

* a Great Expectations 1.x suite (JSON in include/expectations/) run on the newest raw batch
  (`run_suite`), every expectation carrying `meta.severity`;
* plain-pandas checks over the assembled multi-week training window (`window_checks`).

"critical" failures fail the run (`raise_if_failed` raises DataValidationError with the full
text report); "warning" failures are reported and the run continues. Nothing is skipped:
a check that cannot be computed is a failed result saying why.

Importing this package is light (no pandas, no GX); GX is imported when a suite runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from retrain.errors import ConfigError, DataValidationError
from retrain.validation.report import (
    CRITICAL,
    FAILED,
    PASSED,
    PASSED_WITH_WARNINGS,
    WARNING,
    CheckResult,
    ValidationReport,
)
from retrain.validation.suite import load_suite_json, run_suite
from retrain.validation.window import window_checks

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import DataConfig

__all__ = [
    "CRITICAL",
    "FAILED",
    "PASSED",
    "PASSED_WITH_WARNINGS",
    "WARNING",
    "CheckResult",
    "ValidationReport",
    "load_suite_json",
    "raise_if_failed",
    "run_suite",
    "run_window_checks",
    "suite_path_for",
    "validate",
    "window_checks",
]

STAGE = "raw batch + training window"


def suite_path_for(data_cfg: DataConfig) -> Path:
    """The configured suite file (data.expectation_suite) under expectations_dir()."""
    from retrain.config import expectations_dir

    if not data_cfg.expectation_suite:
        raise ConfigError("data.expectation_suite is not set: the raw batch cannot be validated")
    return expectations_dir() / data_cfg.expectation_suite


def run_window_checks(
    df: pd.DataFrame, data_cfg: DataConfig, stage: str = "training window"
) -> ValidationReport:
    return ValidationReport(stage=stage, results=window_checks(df, data_cfg), meta={"rows": int(len(df))})


def validate(
    batch_df: pd.DataFrame,
    window_df: pd.DataFrame,
    data_cfg: DataConfig,
    suite_path: Path | str | None = None,
    stage: str = STAGE,
) -> ValidationReport:
    """The suite on the newest batch plus the window checks, in one report.

    `suite_path` defaults to the configured suite; a model with no suite is a ConfigError
    (validation is never silently skipped).
    """
    path = Path(suite_path) if suite_path is not None else suite_path_for(data_cfg)
    batch_report = run_suite(batch_df, path, stage="raw batch")
    window_report = run_window_checks(window_df, data_cfg, stage="training window")
    return ValidationReport.combine(stage, batch_report, window_report)


def raise_if_failed(report: ValidationReport, report_uri: str | None = None) -> ValidationReport:
    """Raise DataValidationError (deterministic: never retried) if a critical check failed.

    The message is the full text report, so the task log and the alert list every failure.
    Returns the report unchanged when it passed (possibly with warnings).
    """
    if report.passed:
        return report
    text = report.format_text()
    details = report.to_dict()
    if report_uri:
        text = f"{text}\nFull report: {report_uri}"
        details["report_uri"] = report_uri
    raise DataValidationError(text, report=details)
