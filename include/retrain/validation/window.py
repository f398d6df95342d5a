"""Checks over the assembled multi-week training window (plain pandas, no GX).

Every check is always evaluated and always reported: a check that cannot be computed because
an earlier one failed (e.g. the positive rate when the label is missing) is a failed result
saying why it was skipped, never dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrain.validation.report import CRITICAL, WARNING, CheckResult, distinct_examples, format_range

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import DataConfig

ROW_COUNT = "window_row_count"
LABEL_PRESENT = "window_label_present"
LABEL_BINARY = "window_label_binary"
POSITIVE_RATE = "window_positive_rate"
FEATURES_PRESENT = "window_features_present"
NULL_RATE = "window_null_rate"


def _check(name: str, severity: str, success: bool, message: str, **kw: Any) -> CheckResult:
    return CheckResult(
        expectation_type=name, severity=severity, success=success, message=message, source="window", **kw
    )


def _skipped(name: str, severity: str, reason: str, **kw: Any) -> CheckResult:
    message = f"skipped: {reason}"
    return _check(name, severity, False, message, observed_value=message, **kw)


def window_checks(df: pd.DataFrame, data_cfg: DataConfig) -> list[CheckResult]:
    """Row count, label presence / binarity / positive rate, feature presence and null rates."""
    wc = data_cfg.window_checks
    label = data_cfg.label
    n = int(len(df))
    columns = set(df.columns)
    results: list[CheckResult] = []

    # 1. enough rows to train on
    results.append(
        _check(
            ROW_COUNT,
            CRITICAL,
            n >= wc.min_rows,
            f"{n} rows, expected >= {wc.min_rows}",
            kwargs={"min_rows": wc.min_rows},
            observed_value=n,
        )
    )

    # 2. label present
    has_label = label in columns
    results.append(
        _check(
            LABEL_PRESENT,
            CRITICAL,
            has_label,
            f"label column {label!r} {'present' if has_label else 'missing'}",
            column=label,
            kwargs={"label": label},
            observed_value=has_label,
        )
    )

    # 3. label binary: every value is 0 or 1, no nulls
    binary = False
    labels = None
    if not has_label:
        results.append(
            _skipped(
                LABEL_BINARY, CRITICAL, f"label {label!r} missing", column=label, kwargs={"value_set": [0, 1]}
            )
        )
    else:
        series = df[label]
        nulls = int(series.isna().sum())
        labels = series.dropna()
        bad = labels[~labels.isin([0, 1])]
        binary = nulls == 0 and bad.empty
        parts = []
        if not bad.empty:
            parts.append(f"{len(bad)} values not in [0, 1]: {distinct_examples(bad)!r}")
        if nulls:
            parts.append(f"{nulls} null labels")
        results.append(
            _check(
                LABEL_BINARY,
                CRITICAL,
                binary,
                "; ".join(parts) or f"values: {sorted(distinct_examples(labels.unique()))!r}",
                column=label,
                kwargs={"value_set": [0, 1]},
                observed_value={"non_binary_count": int(len(bad)), "null_count": nulls},
                unexpected_count=int(len(bad)) + nulls,
                unexpected_percent=round(100.0 * (len(bad) + nulls) / n, 4) if n else None,
                unexpected_examples=distinct_examples(bad),
            )
        )

    # 4. positive rate within the configured band
    lo, hi = wc.min_positive_rate, wc.max_positive_rate
    if lo is not None or hi is not None:
        band = format_range(lo, hi)
        kwargs = {"min_positive_rate": lo, "max_positive_rate": hi}
        if not has_label:
            results.append(
                _skipped(POSITIVE_RATE, CRITICAL, f"label {label!r} missing", column=label, kwargs=kwargs)
            )
        elif not binary:
            results.append(
                _skipped(
                    POSITIVE_RATE, CRITICAL, f"label {label!r} is not binary", column=label, kwargs=kwargs
                )
            )
        elif labels is None or labels.empty:
            results.append(_skipped(POSITIVE_RATE, CRITICAL, "no labelled rows", column=label, kwargs=kwargs))
        else:
            rate = float((labels == 1).mean())
            ok = (lo is None or rate >= lo) and (hi is None or rate <= hi)
            results.append(
                _check(
                    POSITIVE_RATE,
                    CRITICAL,
                    ok,
                    f"positive rate {rate:.4f} ({int((labels == 1).sum())} of {len(labels)}), expected {band}",
                    column=label,
                    kwargs=kwargs,
                    observed_value=round(rate, 6),
                )
            )

    # 5. every required feature present (all missing ones listed)
    features = list(dict.fromkeys(data_cfg.features))
    missing = [f for f in features if f not in columns]
    results.append(
        _check(
            FEATURES_PRESENT,
            CRITICAL,
            not missing,
            f"missing features: {missing}" if missing else f"all {len(features)} features present",
            kwargs={"features": features},
            observed_value=[str(c) for c in df.columns],
            missing_columns=missing,
        )
    )

    # 6. null rate per feature (warning: nulls are imputed downstream)
    for feature in features:
        kwargs = {"max_null_rate": wc.max_null_rate}
        if feature not in columns:
            results.append(
                _skipped(NULL_RATE, WARNING, f"column {feature!r} missing", column=feature, kwargs=kwargs)
            )
            continue
        if n == 0:
            results.append(_skipped(NULL_RATE, WARNING, "window has no rows", column=feature, kwargs=kwargs))
            continue
        nulls = int(df[feature].isna().sum())
        rate = nulls / n
        ok = rate <= wc.max_null_rate
        verdict = "" if ok else " (will be imputed)"
        results.append(
            _check(
                NULL_RATE,
                WARNING,
                ok,
                f"null rate {rate:.2%} ({nulls} of {n}), expected <= {wc.max_null_rate:.2%}{verdict}",
                column=feature,
                kwargs=kwargs,
                observed_value=round(rate, 6),
                unexpected_count=nulls,
                unexpected_percent=round(100.0 * rate, 4),
            )
        )
    return results
