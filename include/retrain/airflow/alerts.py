"""Failure alerts: one email per failure event, sent through an Airflow notifier.

Which failures raise an alert and what it says is retrain.airflow.alert_message; this module
delivers it: once per event, to the deployment's recipients. `on_failure_callback` fires once
per task-instance try that ends FAILED (never for a try that goes UP_FOR_RETRY), so retries of
`record_outcome` do not alert, only its final failure.

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

import json
import logging
import os
import re
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from retrain.airflow.alert_message import (  # noqa: F401  (re-exported: retrain.airflow.alerts.X keeps working)
    MARKER_PREFIX,
    REPORTS,
    Alert,
    build_alert,
    ui_base_url,
    ui_url,
)
from retrain.config import ModelConfig

log = logging.getLogger(__name__)

DEFAULT_SMTP_CONN_ID = "smtp_default"
DEFAULT_FROM = "retrain-alerts@localhost"
ENV_EMAIL = "RETRAIN_ALERT_EMAIL"
ENV_SMTP_CONN = "RETRAIN_ALERT_SMTP_CONN_ID"
ENV_FROM = "RETRAIN_ALERT_FROM"


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
