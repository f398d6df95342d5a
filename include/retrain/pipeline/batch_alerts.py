"""One alert per landed batch whose raw-batch suite passed with warnings, skip weeks included.

A warning does not stop the run, so no failure alert tells anyone; this one does (for runs that
ended cleanly: a failed run's alert links outcome.json, which lists the warnings), once per
batch content: the de-duplication marker sits beside the batch's validation record (keyed on
week and sha256), so a cleared re-run, or a later run reading the same bytes, stays silent,
while a re-landed (different) batch alerts again. The claim/send/settle protocol is the
failure alerts' (retrain.airflow.alerts.Claim): at most once per marker.
"""

from __future__ import annotations

import datetime as dt
import logging

from retrain.config import ModelConfig

log = logging.getLogger(__name__)

EVENT = "batch_warnings"


def build_warning_alert(ctx, store, outcome: dict):
    """The Alert for this run's newest-batch warnings, or None when there are none."""
    from retrain.airflow.alerts import Alert

    check = outcome.get("batch_check") or {}
    warnings = list(check.get("warnings") or [])
    if not warnings or not check.get("sha256"):
        return None
    week = ctx.week.isoformat()
    reports = [("decision.json", f"s3://{store.bucket}/{ctx.artifact('decision.json')}")]
    if check.get("record_key"):
        reports.append(("batch validation", f"s3://{store.bucket}/{check['record_key']}"))
    return Alert(
        model=ctx.cfg.name, dag_id=ctx.dag_id, run_id=ctx.run_id, week=week, event=EVENT, failed_task=None,
        alerting_task="record_outcome", try_number=None,
        reason=f"the week's batch passed validation with {len(warnings)} warning(s): " + "; ".join(warnings),
        environment=ctx.settings.environment, reports=tuple(reports),
        marker_key=ctx.keys.partition_validation(dt.date.fromisoformat(week), "alert_sent-batch", check["sha256"]),
    )


def alert_batch_warnings(cfg: ModelConfig, ctx, store, outcome: dict, notifier=None) -> str:
    """Send the warning alert once per batch content; returns what happened (for the log/tests)."""
    from retrain.airflow.alerts import Claim, RetrainAlertNotifier, recipients

    if not outcome.get("ok"):  # the run's failure alert already goes out, with outcome.json listing them
        return "run failed: in its failure alert"
    alert = build_warning_alert(ctx, store, outcome)
    if alert is None:
        return "no warnings"
    to = recipients(cfg)
    if not to:
        log.warning("BATCH WARNINGS (no recipients configured; logged only)\n%s", alert.text())
        return "logged"
    claim = Claim(store, alert.marker_key, alert)
    if claim.acquire() is False:
        return "already sent"
    try:
        (notifier or RetrainAlertNotifier(cfg)).send(alert, to)
    except Exception as exc:  # broad ok: SMTP errors of any kind; recorded on the claim, never a verdict
        log.critical("BATCH WARNING ALERT NOT DELIVERED to %s: %s\n%s", ", ".join(to), exc, alert.text())
        claim.settle("failed", error=f"{type(exc).__name__}: {exc}")
        return "failed"
    claim.settle("sent", recipients=to)
    return "sent"
