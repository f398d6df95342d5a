"""Plain-text tables for task logs: one table per step, so a successful `train` or
`evaluation_gate` log says what was measured without opening S3 (pure functions over records)."""

from __future__ import annotations

from typing import Any

# the holdout metrics worth a column (counts and thresholds stay in run_log.json)
HEADLINE = ("roc_auc", "pr_auc", "recall", "precision", "cost_per_1k", "rmspe", "rmse", "mae")


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])])


def training_table(candidates: list[dict], winner: str, selection_metric: str) -> str:
    """One row per candidate: CV score (mean ± std) on the selection metric and holdout metrics."""
    present = {m for c in candidates for m, v in (c.get("holdout_metrics") or {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    metrics = [m for m in dict.fromkeys([selection_metric, *HEADLINE]) if m in present]
    rows = [[("* " if c["name"] == winner else "  ") + c["name"], f"{c['cv_mean']:.4f} ± {c['cv_std']:.4f}",
             *[(c.get("holdout_metrics") or {}).get(m) for m in metrics], f"{c.get('fit_seconds') or 0:.1f}"]
            for c in candidates]
    head = ["candidate", f"cv {selection_metric}", *[f"holdout {m}" for m in metrics], "fit s"]
    return f"training: winner {winner} (by cv {selection_metric}; * = winner)\n" + table(head, rows)


def gate_table(record: dict) -> str:
    """One row per gate rule: metric, challenger, champion, threshold, verdict."""
    challenger, champion = record.get("challenger") or {}, record.get("champion") or {}
    rows = [[c["rule"], c["metric"], challenger.get(c["metric"]), champion.get(c["metric"]), c.get("threshold"),
             "pass" if c["passed"] else "FAIL"] for c in record.get("checks") or []]
    verdict = "PASSED" if record.get("passed") else "REJECTED"
    first = " (first deployment: absolute limits only)" if record.get("first_deployment") else ""
    return (f"evaluation gate: {verdict}{first}; challenger {record.get('challenger_version')} vs champion "
            f"{record.get('champion_version') or '(none)'}\n"
            + table(["rule", "metric", "challenger", "champion", "threshold", "result"], rows))
