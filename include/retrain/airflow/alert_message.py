"""What a failure alert says: one Alert per failure event, built from the run's records.

Where alerts come from
    * `retrain_<model>`: only from `record_outcome`, the run's single leaf (all_done), whose
      failure means the run did not end cleanly: validation stopped it, the gate rejected the
      challenger, the smoke test failed and the promotion was rolled back automatically, or a
      task failed. The alert is built from the run's `outcome.json` (what, where, why).
    * `rollback_<model>` (on call): when its `rollback` or `smoke_test` task fails. A rollback
      that *succeeds* there is a deliberate human action, recorded with who and why in the
      registry's audit log: it sends no alert.

The Alert's fingerprint is the event's identity (DAG, run, outcome, failed task, reason), which
retrain.airflow.alerts uses to send each event at most once. Building never raises for a
missing record: an alert without its report links beats no alert.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import os
from urllib.parse import quote

from retrain.config import ModelConfig

# the delivery module's logger: one logger name for everything about alerts, as before the split
log = logging.getLogger("retrain.airflow.alerts")

MARKER_PREFIX = "alert_sent-"

# The records a reader needs for each weekly outcome (outcome.json is always linked).
REPORTS = {
    "validation_failed": ("validation.json",),
    "gate_rejected": ("gate.json",),
    "rolled_back": ("smoke_test.json", "rollback.json", "promotion.json"),
    "smoke_test_failed": ("smoke_test.json", "rollback.json", "promotion.json"),
    "not_approved": ("approval.json", "gate.json"),
}


@dataclasses.dataclass(frozen=True)
class Alert:
    """One failure event, ready to be logged or emailed."""

    model: str
    dag_id: str
    run_id: str
    week: str | None
    event: str  # the outcome: validation_failed, gate_rejected, rolled_back, rollback_failed, ...
    failed_task: str | None
    alerting_task: str
    try_number: int | None
    reason: str
    environment: str
    reports: tuple[tuple[str, str], ...] = ()  # (label, s3:// URI)
    ui_url: str | None = None
    champion_after: str | None = None
    marker_key: str | None = None  # where the de-duplication marker lives (None: cannot de-duplicate)

    @property
    def fingerprint(self) -> str:
        """Identity of the event: same run, same outcome, same failed task, same reason."""
        ident = {"dag_id": self.dag_id, "run_id": self.run_id, "event": self.event,
                 "failed_task": self.failed_task, "reason": self.reason}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def subject(self) -> str:
        where = f"week {self.week}" if self.week else f"run {self.run_id}"
        return f"[retrain] {self.dag_id} {where}: {self.event}"

    def fields(self) -> list[tuple[str, str]]:
        rows = [
            ("DAG", self.dag_id),
            ("Run", self.run_id),
            ("Data week", self.week or "-"),
            ("Outcome", self.event),
            ("Failed task", self.failed_task or "-"),
            ("Alerting task", self.alerting_task + (f" (try {self.try_number})" if self.try_number else "")),
            ("Reason", self.reason),
            ("Environment", self.environment),
        ]
        if self.champion_after is not None:
            rows.append(("Champion now", self.champion_after or "none"))
        return rows

    def text(self) -> str:
        lines = [self.subject, ""]
        lines += [f"{k + ':':<15}{v}" for k, v in self.fields()]
        lines += ["", "Report:"] + [f"  {label:<17}{uri}" for label, uri in self.reports]
        lines.append(f"Airflow:         {self.ui_url}" if self.ui_url else "Airflow:         (set [api] base_url "
                     "/ AIRFLOW__API__BASE_URL for a link to the task instance)")
        return "\n".join(lines)

    def html(self) -> str:
        esc = html.escape
        rows = "".join(
            f'<tr><th align="left" valign="top">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in self.fields()
        )
        reports = "".join(
            f'<li>{esc(label)}: <a href="{esc(uri)}">{esc(uri)}</a></li>' for label, uri in self.reports
        )
        ui = (f'<p>Task instance in Airflow: <a href="{esc(self.ui_url)}">{esc(self.ui_url)}</a></p>'
              if self.ui_url else "")
        return (
            f"<html><body><h3>{esc(self.subject)}</h3><table>{rows}</table>"
            f"<p>Report:</p><ul>{reports}</ul>{ui}</body></html>"
        )


# ----------------------------------------------------------------------------------- links
def ui_base_url() -> str | None:
    """Airflow 3's `[api] base_url` (AIRFLOW__API__BASE_URL); None when not configured."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - older layouts
        from airflow.configuration import conf
    try:
        url = conf.get("api", "base_url", fallback=None)
    except Exception:  # broad ok: alert text only (a UI link); the task's state is already decided
        url = None
    return url.rstrip("/") if url else None


def ui_url(dag_id: str, run_id: str, task_id: str, map_index: int | None = None,
           try_number: int | None = None) -> str | None:
    base = ui_base_url()
    if not base:
        return None
    url = f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}"
    if map_index is not None and map_index >= 0:
        url += f"/mapped/{map_index}"
    if try_number:
        url += f"?try_number={try_number}"
    return url


# -------------------------------------------------------------------------------- building
def build_alert(cfg: ModelConfig, context) -> Alert:
    """What failed and why, from the Airflow context and (weekly DAG) the run's outcome.json."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None) or "?"
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id") or getattr(ti, "run_id", None) or "?"
    task_id = getattr(ti, "task_id", None) or "?"
    try_number = getattr(ti, "try_number", None)
    exc = context.get("exception")
    exc_text = (str(exc) or type(exc).__name__) if exc is not None else "the task failed (no exception recorded)"

    ctx = store = None
    try:
        from retrain.airflow.tasks import run_context
        from retrain.storage import S3Store

        ctx = run_context(cfg.name, context)
        store = S3Store(ctx.settings)
    except Exception:  # broad ok: alert path only; the task's state is already decided, the alert still goes out
        log.warning("alert for %s %s: cannot derive the run's S3 keys; alerting without reports",
                    dag_id, run_id, exc_info=True)

    def uri(name: str) -> str:
        return f"s3://{store.bucket}/{ctx.artifact(name)}"

    week = ctx.week.isoformat() if ctx else None
    environment = ctx.settings.environment if ctx else os.environ.get("RETRAIN_ENV", "dev")
    event, failed_task, reason, reports, champion = "failed", task_id, exc_text, [], None

    if dag_id == cfg.retrain_dag_id:
        outcome = _read_outcome(store, ctx) if ctx else None
        # Trust outcome.json only if this failure is the one it records (record_outcome raises
        # "<outcome>: <reason>"); otherwise it may be a stale record of an earlier attempt.
        if outcome and exc_text == f"{outcome.get('outcome')}: {outcome.get('reason')}":
            event = str(outcome.get("outcome"))
            failed_task = outcome.get("failed_task") or task_id
            reason = str(outcome.get("reason"))
            champion = outcome.get("champion_after") or ""
            reports = [("outcome.json", uri("outcome.json"))]
            reports += [(name, uri(name)) for name in REPORTS.get(event, ()) if _exists(store, ctx, name)]
        else:
            event = "record_outcome_failed" if task_id == "record_outcome" else "failed"
            if ctx:
                reports = [("run records", f"s3://{store.bucket}/{ctx.keys.run_prefix(ctx.week, ctx.run_id)}")]
    elif dag_id == cfg.rollback_dag_id:
        event = "rollback_failed" if task_id == "rollback" else "rollback_smoke_test_failed"
        week = None  # an on-call run has no data week of its own
        if ctx:
            reports = [("registry slots", f"s3://{store.bucket}/{ctx.keys.slots()}"),
                       ("registry audit", f"s3://{store.bucket}/{ctx.keys.audit_prefix()}")]

    alert = Alert(
        model=cfg.name, dag_id=dag_id, run_id=run_id, week=week, event=event, failed_task=failed_task,
        alerting_task=task_id, try_number=try_number, reason=reason, environment=environment,
        reports=tuple(reports),
        ui_url=ui_url(dag_id, run_id, task_id, getattr(ti, "map_index", None), try_number),
        champion_after=champion,
    )
    if ctx:
        alert = dataclasses.replace(alert, marker_key=ctx.artifact(f"{MARKER_PREFIX}{alert.fingerprint}.json"))
    return alert


def _read_outcome(store, ctx) -> dict | None:
    from retrain.storage import ObjectNotFound

    try:
        return store.get_json(ctx.artifact("outcome.json"))
    except ObjectNotFound:
        return None
    except Exception:  # broad ok: alert path only (logged); a transient read error only leaves the report out
        log.warning("alert: cannot read %s", ctx.artifact("outcome.json"), exc_info=True)
        return None


def _exists(store, ctx, name: str) -> bool:
    try:
        return store.exists(ctx.artifact(name))
    except Exception:  # broad ok: alert path only; decides whether to link a report, never a verdict
        return True  # link it anyway: a reader can check
