"""Pure views over the monitoring index: what each section of the page shows.

Every function takes the index dict (see `monitoring.index`) and returns plain data; charts and
HTML are built from these in `charts` and `render`, so the numbers a test checks are the numbers
drawn.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from retrain.registry.audit import APPLIED, sort_key

TREND_METRICS = {
    "binary_classifier": ("roc_auc", "recall", "cost_per_1k"),
    "sales_forecast": ("rmspe",),
}
GATE_WINDOW = 20  # retraining runs that reached the gate
GATE_LIMIT = 0.20  # the seed's "more than 20% rejected: something is systematically wrong"


def runs(index: dict) -> list[dict]:
    """Every run's entry, oldest data week first (a re-run replaced its own entry)."""
    return sorted((index.get("runs") or {}).values(),
                  key=lambda r: (r.get("week") or "", r.get("logical_date") or "", r.get("run_id") or ""))


def events(index: dict) -> list[dict]:
    """Registry audit records in the order the registry made them (generation, then phase)."""
    return sorted((index.get("registry_events") or {}).values(), key=sort_key)


def week_of_version(version: str | None) -> str | None:
    """Monday (ISO date) of a version id's data week, e.g. 2026-W06-xxxx -> 2026-02-02."""
    if not version or len(version) < 8:
        return None
    try:
        return dt.date.fromisocalendar(int(version[:4]), int(version[6:8]), 1).isoformat()
    except ValueError:
        return None


def trend(index: dict, metrics: tuple[str, ...]) -> dict[str, Any]:
    """One point per applied promotion: the new champion's holdout metrics, the trigger reason of
    the run that trained it, and its DAG run; rollbacks as markers on the same week axis."""
    by_run = index.get("runs") or {}
    points, rollbacks = [], []
    for ev in events(index):
        if ev.get("outcome") != APPLIED:
            continue
        run = by_run.get(ev.get("run_id") or "") or {}
        if ev.get("action") == "promote":
            challenger = (run.get("gate") or {}).get("challenger") or {}
            points.append({
                "version": ev.get("to_version"),
                "week": run.get("week") or week_of_version(ev.get("to_version")),
                "metrics": {m: challenger.get(m) for m in metrics},
                "trigger": run.get("trigger"),
                "trigger_reason": run.get("trigger_reason"),
                "dag_id": run.get("dag_id") or (ev.get("actor") or {}).get("dag_id"),
                "run_id": ev.get("run_id"),
                "at": ev.get("at"),
            })
        elif ev.get("action") == "rollback":
            rollbacks.append({
                "from_version": ev.get("from_version"),
                "to_version": ev.get("to_version"),
                "week": run.get("week") or week_of_version(ev.get("from_version")),
                "reason": ev.get("reason"),
                "dag_id": (ev.get("actor") or {}).get("dag_id") or run.get("dag_id"),
                "run_id": ev.get("run_id"),
                "at": ev.get("at"),
            })
    return {"metrics": list(metrics), "points": points, "rollbacks": rollbacks}


def gate_settings(cfg) -> tuple[int, float]:
    """(window, limit) of the model's gate-failure-rate monitor: the page shows what the alert judges."""
    from retrain.monitoring.gate_rate import MonitoringConfig

    mon = MonitoringConfig.from_model(cfg)
    return mon.gate_failure_window, mon.gate_failure_max_rate


def gate_failure_rate(index: dict, window: int = GATE_WINDOW, limit: float = GATE_LIMIT) -> dict[str, Any]:
    """Share of the last `window` retraining runs whose challenger the gate rejected.

    Only runs that reached the gate count (a skip week or a validation stop is not a gate verdict).
    """
    gated = [r for r in runs(index) if (r.get("gate") or {}).get("passed") is not None]
    last = gated[-window:]
    rejected = [r for r in last if not r["gate"]["passed"]]
    rate = len(rejected) / len(last) if last else None
    series = []
    for i, r in enumerate(gated):
        recent = gated[max(0, i + 1 - window): i + 1]
        series.append({"week": r["week"], "run_id": r["run_id"], "dag_id": r.get("dag_id"),
                       "passed": bool(r["gate"]["passed"]),
                       "rate": sum(1 for x in recent if not x["gate"]["passed"]) / len(recent)})
    return {
        "window": window, "limit": limit, "runs": len(last), "rejected": len(rejected), "rate": rate,
        "above_limit": rate is not None and rate > limit, "series": series,
        "recent_rejections": [{"week": r["week"], "run_id": r["run_id"], "dag_id": r.get("dag_id"),
                               "reasons": r["gate"].get("reasons") or []} for r in reversed(rejected)][:5],
    }


def drift(index: dict) -> dict[str, Any]:
    """PSI per monitored feature per week (latest run of each week), with bands and noise floors."""
    weeks: dict[str, dict] = {}
    for r in runs(index):
        if r.get("drift"):
            weeks[r["week"]] = r["drift"]
    features = sorted({f for d in weeks.values() for f in d.get("features") or {}})
    last = next(reversed(weeks.values()), {}) if weeks else {}
    return {
        "weeks": list(weeks), "features": features,
        "cells": {w: d.get("features") or {} for w, d in weeks.items()},
        "ks": {w: d.get("ks") for w, d in weeks.items()},
        "psi_warn": last.get("psi_warn"), "psi_action": last.get("psi_action"), "ks_action": last.get("ks_action"),
    }


def validation_by_week(index: dict) -> list[dict]:
    """The latest validation report of each week (newest week first)."""
    latest: dict[str, dict] = {}
    for r in runs(index):
        if r.get("validation") is not None:
            latest[r["week"]] = {**r["validation"], "week": r["week"], "run_id": r["run_id"],
                                 "dag_id": r.get("dag_id")}
    return [latest[w] for w in sorted(latest, reverse=True)]


def _effective(ev: dict, by_run: dict) -> str | None:
    """When a change took effect: the logical date of the weekly run that made it (a backfill
    replays history on its data dates), else the wall-clock time the registry recorded."""
    run = by_run.get(ev.get("run_id") or "") or {}
    return run.get("logical_date") or ev.get("at")


def champion_timeline(index: dict) -> list[dict]:
    """Applied registry changes in order: who became champion, when (effective) and why."""
    by_run = index.get("runs") or {}
    out = []
    for ev in events(index):
        if ev.get("outcome") != APPLIED:
            continue
        run = by_run.get(ev.get("run_id") or "") or {}
        why = ev.get("reason") or ""
        if ev.get("action") == "promote" and run.get("trigger"):
            why = f"{run['trigger']}: {run.get('trigger_reason') or ''}".strip()
        out.append({"version": ev.get("to_version"), "from_version": ev.get("from_version"),
                    "action": ev.get("action"), "effective": _effective(ev, by_run), "at": ev.get("at"),
                    "why": why, "run_id": ev.get("run_id"), "dag_id": run.get("dag_id")})
    return out


def in_production_on(index: dict, day: dt.date) -> dict | None:
    """The champion at the end of `day` (UTC): the last change effective on or before it."""
    answer = None
    for change in champion_timeline(index):
        eff = change.get("effective")
        if eff and eff[:10] <= day.isoformat():
            answer = change
    return answer
