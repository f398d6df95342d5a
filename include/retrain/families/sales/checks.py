"""Validation stages of the sales family: store table, processed data, features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from retrain.config import ModelConfig
from retrain.errors import MissingInputError
from retrain.families.sales.features import LAG_FEATURES, ROLLING_FEATURES, engineer_features, model_rows
from retrain.families.sales.processing import (
    NUMERIC_INPUTS,
    WEEK_COLUMN,
    Processed,
    read_processed,
    read_stores,
)
from retrain.families.sales.settings import _suite, forecast_horizon


def _check(name: str, severity: str, success: bool, message: str, **kw):
    from retrain.validation import CheckResult

    return CheckResult(expectation_type=name, severity=severity, success=success, message=message,
                       source="sales", **kw)


def _stage(name: str, results: list, **meta):
    from retrain.validation import ValidationReport

    return ValidationReport(stage=name, results=results, meta=meta)


def not_run(stage: str, reason: str):
    """A stage that did not run because an earlier one failed: listed, with no results."""
    return _stage(stage, [], not_run=reason)


def _reason(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def validation_stages(loader, cfg: ModelConfig, week: dt.date, batch_report=None) -> list:
    from retrain.validation import CRITICAL, ValidationReport, run_suite

    # raw data, second half: the store table landed with the week
    try:
        store_report = run_suite(read_stores(loader, cfg, week), _suite(cfg, "store_table_suite"),
                                 stage="raw store table")
    except MissingInputError as exc:
        store_report = _stage("raw store table", [_check("store_table_readable", CRITICAL, False, str(exc))])
    reports = [store_report]
    if not store_report.passed or (batch_report is not None and not batch_report.passed):
        why = "stopped: the raw data (sales batch or store table) failed a critical check"
        return [*reports, not_run("processed", why), not_run("features", why)]

    # processed: cleaned, typed and merged with the history and the store table
    try:
        processed = read_processed(loader, cfg, week, cfg.data.window_weeks)
    except (KeyError, MissingInputError) as exc:
        failed = _stage("processed", [_check("processed_inputs_usable", CRITICAL, False, _reason(exc))])
        return [*reports, failed, not_run("features", "stopped: the landed data could not be processed")]
    processed_report = ValidationReport.combine(
        "processed",
        run_suite(processed.frame, _suite(cfg, "processed_suite"), stage="processed suite"),
        _stage("processed checks", processed_checks(processed)),
        meta={"rows": len(processed.frame), "weeks": sorted(processed.frame[WEEK_COLUMN].unique().tolist())},
    )
    reports.append(processed_report)
    if not processed_report.passed:
        return [*reports, not_run("features", "stopped: the processed data failed a critical check")]

    # features: the model rows with their features
    first = week - dt.timedelta(weeks=cfg.data.window_weeks - 1)
    try:
        rows = model_rows(engineer_features(processed.require_typed(), forecast_horizon(cfg)), first)
    except (KeyError, MissingInputError) as exc:
        return [*reports, _stage("features", [_check("features_computable", CRITICAL, False, _reason(exc))])]
    reports.append(ValidationReport.combine(
        "features",
        run_suite(rows, _suite(cfg, "features_suite"), stage="features suite"),
        _stage("feature checks", feature_checks(rows, cfg)),
        meta={"rows": len(rows)},
    ))
    return reports


CLOSURE_DAYS = 7  # a store without rows this long was closed, not dropped from an extract


def processed_checks(processed: Processed) -> list:
    """Types, dates contiguous per store, rows in their landing week, DayOfWeek vs Date."""
    from retrain.validation import CRITICAL, WARNING
    from retrain.validation.report import distinct_examples

    frame, results = processed.frame, []
    for col in (*NUMERIC_INPUTS, "Date"):
        p = processed.type_problems.get(col)
        expected = "a YYYY-MM-DD date" if col == "Date" else "numeric"
        if p is None:
            results.append(_check("processed_column_type", CRITICAL, True, f"{col} is {expected}", column=col,
                                  observed_value=str(frame[col].dtype)))
            continue
        results.append(_check(
            "processed_column_type", CRITICAL, False,
            f"{p['bad_count']} values are not {expected} (found column type {p['dtype']}): {p['examples']!r}",
            column=col, observed_value=p["dtype"], unexpected_count=p["bad_count"],
            unexpected_percent=round(100.0 * p["bad_count"] / max(len(frame), 1), 4),
            unexpected_examples=distinct_examples(p["examples"]),
        ))

    placed = frame.dropna(subset=["Store", "Date"])
    ordered = placed.sort_values(["Store", "Date"], kind="stable")
    step = ordered.groupby("Store", sort=False)["Date"].diff().dt.days
    gaps = ordered.loc[step > 1, ["Store", "Date"]].assign(days=step[step > 1] - 1)
    newest = pd.Timestamp(processed.newest_week)
    # A few days missing in the newest week is a broken extract (critical); a store back after
    # a closure of a week or more (the real data's 180 stores without rows 2014-07-01..2014-12-31)
    # is a warning: its lags and rolling windows read NaN across the gap.
    in_newest = (gaps["Date"] > newest) & (gaps["days"] < CLOSURE_DAYS)
    for name, severity, part, where in (
        ("processed_dates_contiguous_newest_week", CRITICAL, gaps[in_newest], "in the newest week"),
        ("processed_dates_contiguous_history", WARNING, gaps[~in_newest], "in the history"),
    ):
        examples = [f"store {int(r.Store)}: {int(r.days)} day(s) missing before {r.Date.date()}"
                    for r in part.head(10).itertuples()]
        results.append(_check(
            name, severity, part.empty,
            f"no missing days per store {where}" if part.empty
            else f"{len(part)} gap(s) in {part['Store'].nunique()} store(s) {where}: {examples}",
            column="Date", unexpected_count=len(part), unexpected_examples=examples,
        ))

    offset = (placed["Date"] - pd.to_datetime(placed[WEEK_COLUMN])).dt.days
    outside = placed[(offset < 0) | (offset > 6)]
    results.append(_check(
        "processed_dates_in_landing_week", CRITICAL, outside.empty,
        "every row lies in its landing week" if outside.empty else
        f"{len(outside)} rows outside their week=... partition: "
        f"{outside[['Store', 'Date', WEEK_COLUMN]].head(5).astype(str).to_dict('records')}",
        column="Date", unexpected_count=len(outside),
    ))
    dow = placed.dropna(subset=["DayOfWeek"])
    wrong = dow[dow["DayOfWeek"] != dow["Date"].dt.day_of_week + 1]
    results.append(_check(
        "processed_day_of_week_matches_date", CRITICAL, wrong.empty,
        "DayOfWeek agrees with Date (1 = Monday)" if wrong.empty else
        f"{len(wrong)} rows whose DayOfWeek is not the weekday of Date: "
        f"{wrong[['Store', 'Date', 'DayOfWeek']].head(5).astype(str).to_dict('records')}",
        column="DayOfWeek", unexpected_count=len(wrong),
    ))
    return results


def feature_checks(rows: pd.DataFrame, cfg: ModelConfig) -> list:
    """Configured features present, no infinities, enough rows, lag history mostly present."""
    from retrain.validation import CRITICAL, WARNING

    features = list(dict.fromkeys(cfg.data.features))
    missing = [f for f in features if f not in rows.columns]
    results = [_check("features_present", CRITICAL, not missing,
                      f"missing features: {missing}" if missing else f"all {len(features)} model features present",
                      missing_columns=missing, kwargs={"features": features})]
    numeric = [c for c in (*features, cfg.data.label) if c in rows.columns
               and pd.api.types.is_numeric_dtype(rows[c]) and not pd.api.types.is_bool_dtype(rows[c])]
    inf_counts = {c: int(np.isinf(rows[c].to_numpy(dtype=np.float64)).sum()) for c in numeric}
    inf_counts = {c: n for c, n in inf_counts.items() if n}
    results.append(_check("features_finite", CRITICAL, not inf_counts,
                          f"infinite values: {inf_counts}" if inf_counts else f"no infinities in {len(numeric)} columns",
                          observed_value=inf_counts, unexpected_count=sum(inf_counts.values())))
    min_rows = cfg.data.window_checks.min_rows
    results.append(_check("features_row_count", CRITICAL, len(rows) >= min_rows,
                          f"{len(rows)} model rows (open days with Sales > 0), expected >= {min_rows}",
                          observed_value=len(rows), kwargs={"min_rows": min_rows}))
    limit = cfg.data.window_checks.max_null_rate
    history_cols = [c for c in (*LAG_FEATURES, *ROLLING_FEATURES) if c in rows.columns]
    rates = {c: round(float(rows[c].isna().mean()), 4) for c in history_cols} if len(rows) else {}
    high = {c: r for c, r in rates.items() if r > limit}
    results.append(_check("features_history_null_rate", WARNING, not high,
                          f"lag/rolling null rate above {limit:.0%} (missing history, the model sees NaN): {high}"
                          if high else f"lag/rolling null rates <= {limit:.0%}", observed_value=rates))
    return results
