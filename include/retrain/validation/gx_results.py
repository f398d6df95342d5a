"""Great Expectations' results as CheckResults: what was observed, said in the expectation's terms.

GX's result dicts differ per expectation type (map, aggregate, table columns) and carry an
error instead of a result when an expectation could not be computed; here each becomes one
CheckResult with a one-line message (`3 values outside [0, 1] (0.40%): [...]`), and a failure
to compute is a failed result saying why, never a pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrain.validation.report import CheckResult, distinct_examples, format_number, format_range, jsonable

if TYPE_CHECKING:
    import pandas as pd


def explain_type_error(check: CheckResult, df: pd.DataFrame) -> None:
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


def check_result(exp: dict[str, Any], gx_result: Any) -> CheckResult:
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
