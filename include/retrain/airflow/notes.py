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

import datetime as dt
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
    from retrain.monitoring.gate_rate import check_gate_failure_rate
    from retrain.pipeline.summary import send_weekly_summary

    ctx, store = steps.ctx, steps.store
    monitor = check_gate_failure_rate(store, ctx, outcome)
    summary = send_weekly_summary(store, ctx, outcome, gate_monitor=monitor)
    log.info("weekly summary: %s", summary)
    return run_note(outcome, ctx.cfg.schedule.timezone)


# ------------------------------------------------------------------- backfill dialog dates
def backfill_dates(first_week: dt.date, last_week: dt.date) -> tuple[dt.date, dt.date]:
    """The dates to type into Airflow's backfill dialog to run data weeks first..last (Mondays).

    The dialog's dates are UTC midnights and select runs by logical date, which is the data
    week's Monday 00:00 in the model's time zone: Sunday 23:00 UTC (22:00 in summer) for
    Europe/Berlin. So "from" is the Sunday before the first week's Monday and "to" the last
    week's Monday; entering the Mondays themselves drops the first week.
    """
    from retrain.keys import week_start

    first, last = week_start(first_week), week_start(last_week)
    if last < first:
        raise ValueError(f"last week {last} is before first week {first}")
    return first - dt.timedelta(days=1), last


BACKFILL_DOC = """\
**Backfill: which dates to enter.** The backfill dialog's dates are UTC and pick runs by logical
date = the data week's Monday 00:00 {timezone} (Sunday evening in UTC). To run data weeks
*Monday A … Monday B*, enter **From = the Sunday before A** and **To = B**: e.g. weeks
2026-01-12 … 2026-02-02 → From `2026-01-11`, To `2026-02-02`. (From `2026-01-12` starts at week
2026-01-19.) Each run's note names its data week."""
