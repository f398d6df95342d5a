"""Failure alerts: one email per failure event, sent through an Airflow notifier.

Where alerts come from
    * `retrain_<model>`: only from `record_outcome`, the run's single leaf (all_done), whose
      failure means the run did not end cleanly: validation stopped it, the gate rejected the
      challenger, the smoke test failed and the promotion was rolled back automatically, or a
      task failed. The alert is built from the run's `outcome.json` (what, where, why).
    * `rollback_<model>` (on call): when its `rollback` or `smoke_test` task fails. A rollback
      that *succeeds* there is a deliberate human action, recorded with who and why in the
      registry's audit log: it sends no alert.
    `on_failure_callback` fires once per task-instance try that ends FAILED (never for a try
    that goes UP_FOR_RETRY), so retries of `record_outcome` do not alert, only its final failure.

Never twice for one event: a marker `alert_sent-<fingerprint>.json` under the run's prefix
    The fingerprint hashes the event (DAG, run, outcome, failed task, reason), so clearing and
    re-running a task that ends in the *same* outcome does not alert again, while a *different*
    outcome of the same run (the data was fixed, now the gate rejects) does.

    Delivery is AT-MOST-ONCE per event: the marker is claimed with a create-only write
    (If-None-Match: *) BEFORE the email is sent, so of two concurrent or repeated callbacks
    exactly one sends. The claim then moves (If-Match on its ETag, never a delete) to
    `sent`, or to `failed` when the SMTP server refused the message; a `failed` claim is
    taken over by the next callback for the same event (a cleared re-run retries the
    alert). The one lost-alert window is a worker dying between the claim and the send: the
    marker stays `sending`, and the run is still failed in the UI with its outcome.json in S3.
    At-least-once (send, then write the marker) would instead email twice whenever a worker
    dies after sending, and for every pair of racing callbacks; a duplicate page is the
    failure mode this module exists to prevent, a missing one is bounded by the UI and logs.
    If S3 itself cannot be reached (no marker can be read or claimed), the alert is sent
    anyway and the log says it was not de-duplicated: silence is worse than a duplicate.

Recipients: `alerts.email` of the model config, overridden per deployment by
    RETRAIN_ALERT_EMAIL_<MODEL> or RETRAIN_ALERT_EMAIL (comma/semicolon-separated). With none,
    the alert is only logged. The SMTP connection is RETRAIN_ALERT_SMTP_CONN_ID,
    `alerts.smtp_conn_id` or `smtp_default` (e.g. AIRFLOW_CONN_SMTP_DEFAULT); the sender is
    RETRAIN_ALERT_FROM, `alerts.from_email`, the connection's `from_email` extra, or a default.
    Environment variables win over the model file: they are the deployment's settings.

A callback cannot fail its task: every error here is caught and logged (a send failure with
recipients configured is logged at CRITICAL with the full alert text).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import os
import re
from typing import Any
from urllib.parse import quote

from airflow.sdk.bases.notifier import BaseNotifier

from retrain.config import ModelConfig

log = logging.getLogger(__name__)

DEFAULT_SMTP_CONN_ID = "smtp_default"
DEFAULT_FROM = "retrain-alerts@localhost"
MARKER_PREFIX = "alert_sent-"
ENV_EMAIL = "RETRAIN_ALERT_EMAIL"
ENV_SMTP_CONN = "RETRAIN_ALERT_SMTP_CONN_ID"
ENV_FROM = "RETRAIN_ALERT_FROM"

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


# ------------------------------------------------------------------------------- settings
def split_addresses(value: Any) -> list[str]:
    if value is None:
        return []
    items = re.split(r"\s*[,;]\s*", value) if isinstance(value, str) else [str(v) for v in value]
    return [i.strip() for i in items if i and i.strip()]


def recipients(cfg: ModelConfig) -> list[str]:
    """Deployment override (per model, then global) or the model config's `alerts.email`."""
    for var in (f"{ENV_EMAIL}_{cfg.name.upper()}", ENV_EMAIL):
        if os.environ.get(var, "").strip():
            return split_addresses(os.environ[var])
    return split_addresses(cfg.alerts.get("email"))


def smtp_conn_id(cfg: ModelConfig) -> str:
    return os.environ.get(ENV_SMTP_CONN) or cfg.alerts.get("smtp_conn_id") or DEFAULT_SMTP_CONN_ID


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


# ----------------------------------------------------------------------- de-duplication
class Claim:
    """The create-only marker that makes one callback (and only one) send an event's alert."""

    def __init__(self, store, key: str | None, alert: Alert):
        self.store, self.key, self.alert = store, key, alert
        self.etag: str | None = None
        self.record: dict = {}

    def acquire(self) -> bool | None:
        """True: ours, send. False: already sent (or being sent) for this event. None: no marker store."""
        from retrain.storage import ObjectNotFound, PreconditionFailed

        if self.store is None or self.key is None:
            return None
        self.record = {"fingerprint": self.alert.fingerprint, "dag_id": self.alert.dag_id,
                       "run_id": self.alert.run_id, "event": self.alert.event,
                       "failed_task": self.alert.failed_task, "reason": self.alert.reason,
                       "subject": self.alert.subject, "claimed_by_try": self.alert.try_number,
                       "status": "sending", "attempts": 1}
        try:
            try:
                self.etag = self.store.put_json(self.key, self.record, if_none_match=True)
                return True
            except PreconditionFailed:
                pass
            try:
                data, etag = self.store.get_with_etag(self.key)
            except ObjectNotFound:  # vanished in between (never by this bundle): treat as taken
                return False
            existing = json.loads(data)
            if existing.get("status") != "failed":
                log.info("alert for %s %s (%s) already %s: not sending again (marker s3://%s/%s)",
                         self.alert.dag_id, self.alert.run_id, self.alert.event, existing.get("status"),
                         self.store.bucket, self.key)
                return False
            # The last attempt for this event could not deliver: take the claim over (one winner).
            self.record["attempts"] = int(existing.get("attempts", 1)) + 1
            try:
                self.etag = self.store.put_json(self.key, self.record, if_match=etag)
                return True
            except PreconditionFailed:
                return False
        except Exception:  # broad ok: alert de-duplication only (logged); fails open to sending the alert
            log.warning("alert for %s %s: the de-duplication marker s3://%s/%s cannot be read or "
                        "written; sending WITHOUT de-duplication", self.alert.dag_id, self.alert.run_id,
                        getattr(self.store, "bucket", "?"), self.key, exc_info=True)
            return None

    def settle(self, status: str, **extra) -> None:
        if self.etag is None:
            return
        try:
            self.store.put_json(self.key, {**self.record, **extra, "status": status}, if_match=self.etag)
        except Exception:  # broad ok: alert marker only (logged); the alert was already sent or not
            # Left as `sending`: no later callback re-sends (at-most-once), which is what we want.
            log.warning("alert marker s3://%s/%s could not be set to %s", self.store.bucket, self.key, status,
                        exc_info=True)


# ----------------------------------------------------------------------------- notifier
class RetrainAlertNotifier(BaseNotifier):
    """on_failure_callback of a model's alerting tasks: one email per failure event.

    The message is built in notify() from the run's records, never Jinja-rendered (reasons are
    data and may contain braces), so there are no template fields.
    """

    template_fields = ()

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg

    def notify(self, context) -> None:
        try:
            self._notify(context)
        except Exception:  # broad ok: never let the callback raise; the task's state is already decided
            log.critical("ALERT HANDLING FAILED for %s (run %s): the failure was not alerted",
                         self.cfg.name, context.get("run_id"), exc_info=True)

    def _notify(self, context) -> None:
        self.deliver(build_alert(self.cfg, context))

    def deliver(self, alert: Alert) -> None:
        """Send one alert (at most once per event, see the module docstring); also used by retrain.airflow.deadline."""
        to = recipients(self.cfg)
        if not to:
            log.warning("ALERT (no recipients configured in alerts.email or %s; logged only)\n%s",
                        ENV_EMAIL, alert.text())
            return

        store = None
        if alert.marker_key:
            from retrain.config import Settings
            from retrain.storage import S3Store

            store = S3Store(Settings.from_env())
        claim = Claim(store, alert.marker_key, alert)
        acquired = claim.acquire()
        if acquired is False:
            return
        try:
            self.send(alert, to)
        except Exception as exc:  # broad ok: SMTP delivery failure is logged CRITICAL and recorded in the marker
            log.critical("ALERT NOT DELIVERED to %s via SMTP connection %r: %s\n%s", ", ".join(to),
                         smtp_conn_id(self.cfg), exc, alert.text(), exc_info=True)
            claim.settle("failed", error=f"{type(exc).__name__}: {exc}")
            return
        claim.settle("sent", recipients=to)
        log.warning("ALERT sent to %s%s\n%s", ", ".join(to),
                    "" if acquired else " (not de-duplicated: marker store unavailable)", alert.text())

    def send(self, alert: Alert, to: list[str]) -> None:
        send_email(self.cfg, to, alert.subject, alert.html(),
                   {"X-Retrain-Alert": alert.fingerprint, "X-Retrain-Event": alert.event})


def send_email(cfg: ModelConfig, to: list[str], subject: str, html_content: str, headers: dict[str, str]) -> None:
    """The one SMTP path of the bundle (alerts, the gate-rate monitor, the weekly summary)."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=smtp_conn_id(cfg)) as hook:
        sender = os.environ.get(ENV_FROM) or cfg.alerts.get("from_email") or hook.from_email or DEFAULT_FROM
        hook.send_email_smtp(to=to, from_email=sender, subject=subject, html_content=html_content,
                             custom_headers=headers)


def failure_notifier(cfg: ModelConfig) -> RetrainAlertNotifier:
    """The on_failure_callback for a model's alerting tasks (see the module docstring)."""
    return RetrainAlertNotifier(cfg)
