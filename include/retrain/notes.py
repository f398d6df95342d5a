"""Each weekly run's story in the Airflow UI: the DAG run note (data week, outcome, champion, why).

How the note gets onto the run (Airflow 3.3.2):
    A task cannot set its own DAG run's note: the Task SDK's execution API only takes a
    `note` when it *triggers* a new run (`POST /execution/dag-runs/{dag_id}/{run_id}`), and
    the public REST API (`PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}`) needs a user's token
    that a worker does not have. So `record_outcome` pushes the note text as the XCom
    `run_note`, and a scheduler-side listener (plugins/retrain_run_notes.py,
    `on_dag_run_success` / `on_dag_run_failed`, called inside `DagRun.update_state` with the
    run attached to the scheduler's session) copies it onto the run. A note a person wrote
    (it has a user id) is never overwritten.

`after_outcome` also runs the gate-failure-rate monitor and the weekly summary: both belong
to the moment a run's outcome is final, and neither may change the run's verdict.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

NOTE_XCOM_KEY = "run_note"
MAX_REASON = 240


def one_line(text: str | None, limit: int = MAX_REASON) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_note(outcome: dict, timezone: str | None = None) -> str:
    """Markdown for the runs list and the run's details: which data week, what happened, why."""
    week = outcome.get("week") or "?"
    tz = f" 00:00 {timezone}" if timezone else ""
    champion = outcome.get("champion_after") or "none"
    lines = [
        f"**Data week {week}** (Monday{tz}) · **{outcome.get('outcome', '?')}** · champion `{champion}`",
        "",
        one_line(outcome.get("reason")),
    ]
    if outcome.get("trigger"):
        lines += ["", f"trigger: {outcome['trigger']}"]
    return "\n".join(lines)


def after_outcome(steps, outcome: dict) -> str:
    """Gate-rate monitor, weekly summary, then the note text (returned for the XCom)."""
    from retrain.monitoring import check_gate_failure_rate
    from retrain.summary import send_weekly_summary

    ctx, store = steps.ctx, steps.store
    monitor = check_gate_failure_rate(store, ctx, outcome)
    summary = send_weekly_summary(store, ctx, outcome, gate_monitor=monitor)
    log.info("weekly summary: %s", summary)
    return run_note(outcome, ctx.cfg.schedule.timezone)
