"""Great Expectations 1.x suites stored as JSON, run on one DataFrame with an ephemeral context.

The suite file is GX's own suite JSON (name, expectations: [{type, kwargs, meta}], meta); each
expectation must carry `meta.severity` ("critical" fails the run, "warning" is reported only).
GX is imported inside the functions: importing this module stays cheap (DAG parsing imports
it), and GX is never optional: if it cannot be imported, the ImportError propagates.

Every expectation of the suite ends up in the report. An expectation GX could not compute
(e.g. its column is missing) is a failed result whose observed value is GX's error message.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import ConfigError
from retrain.validation.report import (
    SEVERITIES,
    CheckResult,
    ValidationReport,
    distinct_examples,
    format_number,
    format_range,
    jsonable,
)

if TYPE_CHECKING:
    import pandas as pd

# SUMMARY keeps GX from materialising full unexpected lists / index lists on 80k-row batches;
# `partial_unexpected_list` still gives enough values for MAX_EXAMPLES distinct examples.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 50}

_DATASOURCE = "retrain_pandas"
_ASSET = "batch"
_BATCH_DEFINITION = "whole_dataframe"


def _quiet_gx() -> None:
    """Before GX is first imported: no usage statistics, and no INFO chatter in task logs
    (GX logs ~200 INFO lines while importing). Only sets levels nobody configured."""
    # GX 1.24 no longer ships usage statistics; the variable is kept for releases that read it,
    # and ephemeral_context() also disables analytics in the project config.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)


# ---------------------------------------------------------------------------- suite file
def load_suite_json(suite_path: Path | str) -> dict[str, Any]:
    """Read and check a suite file; every problem is a ConfigError naming the file."""
    path = Path(suite_path)
    if not path.is_file():
        raise ConfigError(f"no expectation suite at {path}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ConfigError(f"{path}: a suite is a JSON object with a non-empty 'name'")
    expectations = raw.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise ConfigError(f"{path}: 'expectations' must be a non-empty list")
    for i, exp in enumerate(expectations):
        where = f"{path}: expectations[{i}]"
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise ConfigError(f"{where}: needs a 'type'")
        if not isinstance(exp.get("kwargs", {}), dict):
            raise ConfigError(f"{where} ({exp['type']}): 'kwargs' must be an object")
        meta = exp.get("meta")
        severity = meta.get("severity") if isinstance(meta, dict) else None
        if severity not in SEVERITIES:
            # Fail closed: an expectation without a severity would be neither fatal nor ignorable.
            raise ConfigError(
                f"{where} ({exp['type']}): meta.severity must be one of {SEVERITIES}, not {severity!r}"
            )
        top = exp.get("severity")
        if top is not None and top != severity:
            raise ConfigError(
                f"{where} ({exp['type']}): severity {top!r} contradicts meta.severity {severity!r}"
            )
    return raw


def build_gx_suite(spec: dict[str, Any]):
    """A gx.ExpectationSuite with one Expectation per spec entry, in order.

    Each expectation is built explicitly: ExpectationSuite(expectations=[dicts]) only logs and
    drops an invalid one, which would silently shrink the suite.
    """
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectations = []
    for i, exp in enumerate(spec["expectations"]):
        severity = exp["meta"]["severity"]
        try:
            config = ExpectationConfiguration(
                type=exp["type"],
                kwargs=dict(exp.get("kwargs") or {}),
                meta=dict(exp["meta"]),
                severity=severity,
            )
            expectations.append(config.to_domain_obj())
        except Exception as exc:  # broad ok: builds a suite from JSON in memory (no storage): GX raises various types
            raise ConfigError(
                f"suite {spec['name']!r}: expectations[{i}] ({exp['type']}) is invalid: {exc}"
            ) from exc
    suite = gx.ExpectationSuite(name=spec["name"], expectations=expectations, meta=spec.get("meta"))
    if len(suite.expectations) != len(expectations):
        raise ConfigError(
            f"suite {spec['name']!r}: GX kept {len(suite.expectations)} of {len(expectations)} expectations"
        )
    return suite


# ---------------------------------------------------------------------------- GX context
def ephemeral_context():
    """A quiet in-memory GX context: no usage statistics, no progress bars, nothing on disk."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


# ---------------------------------------------------------------------------- running
def run_suite(df: pd.DataFrame, suite_path: Path | str, stage: str = "raw batch") -> ValidationReport:
    """Evaluate every expectation of the suite at `suite_path` on `df`."""
    spec = load_suite_json(suite_path)
    context = ephemeral_context()
    # Adding the suite to the context gives every expectation an id, which is how results
    # (which GX returns in its own order) are matched back to the suite's entries.
    suite = context.suites.add(build_gx_suite(spec))
    batch = (
        context.data_sources.add_pandas(_DATASOURCE)
        .add_dataframe_asset(_ASSET)
        .add_batch_definition_whole_dataframe(_BATCH_DEFINITION)
        .get_batch(batch_parameters={"dataframe": df})
    )
    outcome = batch.validate(suite, result_format=RESULT_FORMAT)
    by_id = {r.expectation_config.id: r for r in outcome.results}

    results = []
    for exp, gx_exp in zip(spec["expectations"], suite.expectations, strict=True):
        gx_result = by_id.get(gx_exp.id)
        results.append(_to_check_result(exp, gx_result))
    for check in results:
        _explain_type_error(check, df)
    meta = {
        "suite": spec["name"],
        "suite_path": str(suite_path),
        "rows": int(len(df)),
        "columns": [str(c) for c in df.columns],
    }
    return ValidationReport(stage=stage, results=results, meta=meta)


def _explain_type_error(check: CheckResult, df: pd.DataFrame) -> None:
    """A numeric expectation that GX could not compute on a text column ("min_value and
    max_value must be of the same type") is a type problem of the data: say so, with examples."""
    import pandas as pd

    col = check.column
    bounds = [check.kwargs.get(k) for k in ("min_value", "max_value")]
    if not check.exception or col not in df.columns or not any(isinstance(b, int | float) for b in bounds):
        return
    series = df[col]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return
    bad = series[pd.to_numeric(series, errors="coerce").isna() & series.notna()]
    if bad.empty:
        return
    check.exception = None
    check.unexpected_count = int(len(bad))
    check.unexpected_percent = round(100.0 * len(bad) / len(series), 4)
    check.unexpected_examples = distinct_examples(bad)
    check.observed_value = {"column_type": str(series.dtype), "non_numeric_count": int(len(bad))}
    check.message = (f"type problem: {len(bad)} values of {col} are not numbers (column type {series.dtype}); "
                     f"examples: {check.unexpected_examples!r}")


def _exception_message(exception_info: Any) -> str | None:
    """GX's exception_info is either {raised_exception, exception_message, ...} or, when a
    metric failed, {metric_id: {raised_exception, exception_message, ...}, ...}."""
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    messages: list[str] = []
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            msg = str(info.get("exception_message") or "unknown error").strip()
            msg = msg.removeprefix("Error: ")
            if msg not in messages:
                messages.append(msg)
    return "; ".join(messages) or None


def _to_check_result(exp: dict[str, Any], gx_result: Any) -> CheckResult:
    kwargs = jsonable(dict(exp.get("kwargs") or {}))
    base = {
        "expectation_type": exp["type"],
        "severity": exp["meta"]["severity"],
        "column": kwargs.get("column"),
        "kwargs": kwargs,
        "source": "suite",
    }
    if gx_result is None:  # never expected; but a missing result must not read as a pass
        msg = "no result returned by Great Expectations"
        return CheckResult(**base, success=False, observed_value=msg, exception=msg, message=f"error: {msg}")

    error = _exception_message(gx_result.exception_info)
    if error:
        return CheckResult(
            **base, success=False, observed_value=error, exception=error, message=f"error: {error}"
        )

    res = gx_result.result or {}
    check = CheckResult(
        **base, success=gx_result.success is True, observed_value=jsonable(res.get("observed_value"))
    )
    if "unexpected_count" in res:
        check.unexpected_count = int(res["unexpected_count"] or 0)
        pct = res.get("unexpected_percent")
        check.unexpected_percent = None if pct is None else round(float(pct), 4)
        check.unexpected_examples = distinct_examples(res.get("partial_unexpected_list") or [])
        check.observed_value = {
            "element_count": jsonable(res.get("element_count")),
            "unexpected_count": check.unexpected_count,
            "unexpected_percent": check.unexpected_percent,
            "missing_count": jsonable(res.get("missing_count")),
        }
    mismatched = (res.get("details") or {}).get("mismatched") or {}
    if exp["type"] in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"):
        if isinstance(mismatched, dict):  # the set expectation: {"missing": [...], "unexpected": [...]}
            check.missing_columns = [str(c) for c in mismatched.get("missing") or []]
            check.unexpected_columns = [str(c) for c in mismatched.get("unexpected") or []]
        # the ordered-list one reports position mismatches as a list; derive missing/unexpected below
        if not check.success and not (check.missing_columns or check.unexpected_columns):
            expected = kwargs.get("column_set") or kwargs.get("column_list") or []
            observed = check.observed_value or []
            check.missing_columns = [c for c in expected if c not in observed]
            check.unexpected_columns = [c for c in observed if c not in expected]
    check.message = _describe(check)
    return check


_MAP_PHRASES = {
    "expect_column_values_to_be_between": "values outside {range}",
    "expect_column_values_to_be_in_set": "values not in {value_set}",
    "expect_column_values_to_not_be_in_set": "values in forbidden set {value_set}",
    "expect_column_values_to_not_be_null": "null values",
    "expect_column_values_to_be_null": "non-null values",
    "expect_column_values_to_be_unique": "rows with a duplicated value",
    "expect_column_values_to_match_regex": "values not matching {regex}",
}


def _range_of(kwargs: dict[str, Any]) -> str:
    return format_range(
        kwargs.get("min_value"),
        kwargs.get("max_value"),
        bool(kwargs.get("strict_min")),
        bool(kwargs.get("strict_max")),
    )


def _describe(c: CheckResult) -> str:
    """One line saying what was observed, in the expectation's own terms."""
    kw = c.kwargs
    if c.expectation_type in (
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
    ):
        parts = []
        if c.missing_columns:
            parts.append(f"missing columns: {c.missing_columns}")
        if c.unexpected_columns:
            parts.append(f"unexpected columns: {c.unexpected_columns}")
        if not c.success and c.expectation_type.endswith("ordered_list") and not parts:
            parts.append("columns in the wrong order")
        parts.append(f"found columns: {c.observed_value}")
        return "; ".join(parts)
    if c.expectation_type == "expect_table_row_count_to_be_between":
        return f"{format_number(c.observed_value)} rows, expected {_range_of(kw)}"
    if c.unexpected_count is not None:
        phrase = _MAP_PHRASES.get(c.expectation_type, "unexpected values").format(
            range=_range_of(kw), value_set=kw.get("value_set"), regex=kw.get("regex")
        )
        pct = "" if c.unexpected_percent is None else f" ({c.unexpected_percent:.2f}%)"
        text = f"{c.unexpected_count} {phrase}{pct}"
        if c.unexpected_examples and c.expectation_type != "expect_column_values_to_not_be_null":
            if c.unexpected_count == len(c.unexpected_examples):
                text += f": {c.unexpected_examples!r}"
            else:
                text += f"; examples: {c.unexpected_examples!r}"
        return text
    if c.expectation_type.startswith("expect_column_") and c.expectation_type.endswith("_to_be_between"):
        stat = c.expectation_type.removeprefix("expect_column_").removesuffix("_to_be_between")
        return f"observed {stat} {format_number(c.observed_value)}, expected {_range_of(kw)}"
    return f"observed: {c.observed_value!r}"
