"""Result types of data validation: one `CheckResult` per expectation or window check, and a
`ValidationReport` that counts them, decides pass/fail by severity and renders a log text.

Pure Python (no pandas, no Great Expectations) so the report can be rebuilt from its JSON.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)

MAX_EXAMPLES = 10  # example unexpected values kept per result

PASSED = "PASSED"
PASSED_WITH_WARNINGS = "PASSED WITH WARNINGS"
FAILED = "FAILED"


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types (numpy scalars, timestamps, NaN/NaT/NA -> None, inf -> str)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(value) if math.isinf(value) else float(value)
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy scalar
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist"):  # numpy / pandas arrays
        return jsonable(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def distinct_examples(values: Iterable[Any], limit: int = MAX_EXAMPLES) -> list[Any]:
    """The first `limit` distinct values (in order of appearance), JSON-ready."""
    seen: set[str] = set()
    out: list[Any] = []
    for raw in values:
        value = jsonable(raw)
        key = repr(value)
        if key in seen:
            continue
        seen.add(key)
        out.append(value)
        if len(out) >= limit:
            break
    return out


def format_number(value: Any) -> str:
    """50000.0 -> '50000', 0.0612 -> '0.0612' (no scientific notation for counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def format_range(
    min_value: Any = None, max_value: Any = None, strict_min: bool = False, strict_max: bool = False
) -> str:
    """'[0, 50000]', '(0, 10]', '>= 0', '< 24' ..."""
    if min_value is not None and max_value is not None:
        left = "(" if strict_min else "["
        right = ")" if strict_max else "]"
        return f"{left}{format_number(min_value)}, {format_number(max_value)}{right}"
    if min_value is not None:
        return f"{'>' if strict_min else '>='} {format_number(min_value)}"
    if max_value is not None:
        return f"{'<' if strict_max else '<='} {format_number(max_value)}"
    return "(unbounded)"


@dataclass
class CheckResult:
    """Outcome of one expectation (source "suite") or one window check (source "window").

    `observed_value` is what was measured (row count, observed column list, min, rate...) or,
    when the check could not be computed, the error message (also in `exception`).
    """

    expectation_type: str
    severity: str
    success: bool
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_examples: list[Any] = field(default_factory=list)
    missing_columns: list[str] | None = None
    unexpected_columns: list[str] | None = None
    exception: str | None = None
    message: str = ""
    source: str = "suite"

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        self.success = bool(self.success)

    @property
    def label(self) -> str:
        return f"{self.expectation_type} ({self.column})" if self.column else self.expectation_type

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ValidationReport:
    """Every check of one validation stage; `passed` is False iff a critical check failed."""

    stage: str
    results: list[CheckResult] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ counts
    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def successful(self) -> int:
        return sum(1 for r in self.results if r.success)

    @property
    def failed(self) -> int:
        return self.total - self.successful

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]

    @property
    def critical_failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == CRITICAL]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == WARNING]

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    @property
    def status(self) -> str:
        if not self.passed:
            return FAILED
        return PASSED_WITH_WARNINGS if self.warnings else PASSED

    # ------------------------------------------------------------------ combining
    @classmethod
    def combine(cls, stage: str, *reports: ValidationReport, meta: dict | None = None) -> ValidationReport:
        """One report holding the results of all `reports`, in order."""
        merged_meta: dict[str, Any] = {}
        for report in reports:
            merged_meta[report.stage] = report.meta
        merged_meta.update(meta or {})
        return cls(stage=stage, results=[r for rep in reports for r in rep.results], meta=merged_meta)

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "status": self.status,
            "passed": self.passed,
            "total": self.total,
            "successful": self.successful,
            "failed": self.failed,
            "critical_failures": [r.label for r in self.critical_failures],
            "warnings": [r.label for r in self.warnings],
            "meta": jsonable(self.meta),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        return cls(
            stage=data["stage"],
            results=[CheckResult.from_dict(r) for r in data.get("results", [])],
            meta=dict(data.get("meta") or {}),
        )

    def format_text(self, verbose: bool = False) -> str:
        """Human report for logs: status, counts, then every failed check (critical first)
        with its column, expectation, observed values and examples. `verbose` also lists the
        checks that passed."""
        crit, warn = self.critical_failures, self.warnings
        lines = [
            f"Validation {self.stage}: {self.status}",
            f"Total expectations: {self.total}",
            f"Successful: {self.successful}",
            f"Failed: {self.failed} (critical: {len(crit)}, warning: {len(warn)})",
        ]
        if crit or warn:
            lines.append("Failed expectations:")
            for r in crit + warn:
                tag = f"[{r.severity}]".ljust(10)
                lines.append(f"  {tag} {r.label}")
                lines.append(f"      {r.message or _fallback_message(r)}")
        if verbose:
            passed = [r for r in self.results if r.success]
            if passed:
                lines.append("Passed expectations:")
                for r in passed:
                    detail = f": {r.message}" if r.message else ""
                    lines.append(f"  [ok]       {r.label}{detail}")
        return "\n".join(lines)


def _fallback_message(r: CheckResult) -> str:
    if r.exception:
        return f"error: {r.exception}"
    return f"observed: {r.observed_value!r}"
