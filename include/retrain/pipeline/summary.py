"""The weekly summary email: one per model and run, sent when the run's outcome is recorded.

Why from `record_outcome` and not from a task after it or a separate summary DAG:
    record_outcome is the weekly DAG's single leaf (all_done) and decides the run's state; a
    `send_summary` task downstream of it would become the leaf, and Airflow judges a run by its
    leaves, so a failed week would show as a successful run. A separate summary DAG at a fixed
    hour would report a run still in progress as missing. Sending at the end of record_outcome
    (after outcome.json is written, before the run is failed) runs exactly once per finished
    run, with the outcome in hand, and never changes the run's verdict: an SMTP failure is
    logged at CRITICAL and retried by a cleared re-run.

Never twice for the same run and outcome: a marker `summary_sent.json` in the run's prefix is
    claimed with a create-only write before sending (at-most-once, as in retrain.airflow.alerts). A
    cleared re-run that records the SAME outcome sends nothing and logs that the summary was
    already sent; one that records a DIFFERENT outcome (the data was fixed) sends again with
    "(updated: was <previous outcome>)" in the subject, so a reader knows it is a resend.

Contents: `build_summary` is a pure function over outcome.json dicts (this week's run and last
    week's), so it can be fed from a per-model index of outcomes later. "Metric vs last week"
    is the champion's selection metric on each week's data: the gate's holdout score when the
    run reached the gate, else the trigger evaluator's score on the week's new labels.

Recipients: RETRAIN_SUMMARY_EMAIL_<MODEL>, RETRAIN_SUMMARY_EMAIL or `monitoring.summary_email`
    (the team, not on-call: alert recipients are not used); with none, the summary is only logged. The link to the "Model retraining"
    page is `{[api] base_url}/retrain/{model}` (omitted when base_url is not configured).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import json
import logging
import os

from retrain.monitoring import PAGE_PATH  # the page the plugin serves (emails link to it)

log = logging.getLogger(__name__)

ENV_SUMMARY_EMAIL = "RETRAIN_SUMMARY_EMAIL"
MARKER = "summary_sent.json"


@dataclasses.dataclass(frozen=True)
class Summary:
    model: str
    week: str
    subject: str
    rows: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    page_url: str | None

    def text(self) -> str:
        lines = [self.subject, ""] + [f"{k + ':':<22}{v}" for k, v in self.rows]
        lines += ["", "Warnings:"] + ([f"  - {w}" for w in self.warnings] or ["  none"])
        lines.append(f"Page: {self.page_url}" if self.page_url else "Page: (set [api] base_url for a link)")
        return "\n".join(lines)

    def html(self) -> str:
        esc = html.escape  # every value comes from records (data): text, never markup
        rows = "".join(f'<tr><th align="left" valign="top">{esc(k)}</th><td>{esc(v)}</td></tr>'
                       for k, v in self.rows)
        warns = "".join(f"<li>{esc(w)}</li>" for w in self.warnings) or "<li>none</li>"
        page = (f'<p>Model retraining page: <a href="{esc(self.page_url)}">{esc(self.page_url)}</a></p>'
                if self.page_url else "")
        return (f"<html><body><h3>{esc(self.subject)}</h3><table>{rows}</table>"
                f"<p>Warnings:</p><ul>{warns}</ul>{page}</body></html>")


# ------------------------------------------------------------------------------ pure core
def champion_metric(outcome: dict | None, metric: str) -> float | None:
    """The champion's `metric` on the week's data, as the run measured it (None if not measured)."""
    if not outcome:
        return None
    gate = outcome.get("gate") or {}
    side = "challenger" if outcome.get("outcome") == "promoted" else "champion"
    value = (gate.get(side) or {}).get(metric)
    if value is None:
        value = (((outcome.get("decision_signals") or {}).get("performance") or {}).get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def pick_run(outcomes: list[dict]) -> dict | None:
    """The run that stands for a week: the last clean one by run id, else the last one."""
    ordered = sorted(outcomes, key=lambda o: str(o.get("run_id")))
    clean = [o for o in ordered if o.get("ok")]
    return (clean or ordered or [None])[-1]


def warnings_of(outcome: dict) -> list[str]:
    out = []
    if not outcome.get("ok"):
        out.append(f"run did not end cleanly: {outcome.get('outcome')}: {outcome.get('reason')}")
    for failure in ((outcome.get("validation") or {}).get("failures") or []):
        if failure.startswith("[warning]"):
            out.append(f"validation warning: {failure}")
    drift = (outcome.get("decision_signals") or {}).get("drift_warnings") or []
    if drift:
        out.append("PSI in the warn band: " + ", ".join(drift))
    monitor = outcome.get("gate_monitor") or {}
    if monitor.get("exceeded"):
        out.append(f"gate failure rate {monitor['gate_failure_rate']:.0%} over the last {monitor['runs']} "
                   "retraining runs is above the limit")
    return out


def build_summary(model: str, metric: str, lower_is_better: bool, this_week: dict, last_week: dict | None,
                  page_url: str | None, resend_of: str | None = None) -> Summary:
    now, before = champion_metric(this_week, metric), champion_metric(last_week, metric)
    if now is None:
        vs = "not measured this week"
    elif before is None:
        vs = f"{now:.4f} (no measurement last week)"
    else:
        delta = now - before
        better = (delta < 0) if lower_is_better else (delta > 0)
        word = "unchanged" if delta == 0 else ("better" if better else "worse")
        vs = f"{now:.4f} vs {before:.4f} last week ({delta:+.4f}, {word}; {'lower' if lower_is_better else 'higher'} is better)"
    week = str(this_week.get("week"))
    rows = (
        ("Data week", week),
        ("Run", str(this_week.get("run_id"))),
        ("Trigger", f"{this_week.get('trigger') or '-'}: {this_week.get('trigger_reason') or ''}".rstrip(": ")),
        ("Outcome", f"{this_week.get('outcome')}: {this_week.get('reason') or ''}"),
        ("Champion", str(this_week.get("champion_after") or "none")),
        ("Champion last week", str((last_week or {}).get("champion_after") or "no run recorded")),
        (f"{metric} vs last week", vs),
    )
    subject = f"[retrain] weekly summary {model} week {week}: {this_week.get('outcome')}"
    if resend_of:
        subject += f" (updated: was {resend_of})"
    return Summary(model=model, week=week, subject=subject, rows=rows, warnings=tuple(warnings_of(this_week)),
                   page_url=page_url)


def fingerprint(outcome: dict) -> str:
    ident = {k: outcome.get(k) for k in ("run_id", "outcome", "reason", "champion_after")}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


# -------------------------------------------------------------------------------- effects
def summary_recipients(cfg) -> list[str]:
    from retrain.airflow.alerts import split_addresses
    from retrain.monitoring.gate_rate import MonitoringConfig

    for var in (f"{ENV_SUMMARY_EMAIL}_{cfg.name.upper()}", ENV_SUMMARY_EMAIL):
        if os.environ.get(var, "").strip():
            return split_addresses(os.environ[var])
    return split_addresses(list(MonitoringConfig.from_model(cfg).summary_email or ()))


def page_url(model: str) -> str | None:
    from retrain.airflow.alerts import ui_base_url

    base = ui_base_url()
    return base + PAGE_PATH.format(model=model) if base else None


def _with_signals(store, keys, outcome: dict) -> dict:
    """outcome.json plus the trigger signals of its decision.json (for metrics and drift warnings)."""
    from retrain.storage import ObjectNotFound

    try:
        decision = store.get_json(keys.run_artifact(dt.date.fromisoformat(outcome["week"]), outcome["run_id"],
                                                    "decision.json"))
    except ObjectNotFound:
        return outcome
    return {**outcome, "decision_signals": decision.get("signals") or {}}


def week_outcomes(store, keys, week: dt.date) -> list[dict]:
    """Every outcome.json recorded for one data week (usually one run)."""
    prefix = keys._k("runs", keys.model, f"week={week.isoformat()}") + "/"
    return [store.get_json(k) for k in store.list_keys(prefix) if k.endswith("/outcome.json")]


def send_weekly_summary(store, ctx, outcome: dict, gate_monitor: dict | None = None) -> str:
    """Claim the run's marker, send the summary, settle the marker; returns what happened."""
    from retrain.airflow.alerts import send_email
    from retrain.monitoring.gate_rate import MonitoringConfig
    from retrain.storage import ObjectNotFound, PreconditionFailed

    cfg = ctx.cfg
    if not MonitoringConfig.from_model(cfg).summary_enabled:
        return "disabled"
    this = _with_signals(store, ctx.keys, {**outcome, "gate_monitor": gate_monitor or {}})
    last = pick_run(week_outcomes(store, ctx.keys, ctx.week - dt.timedelta(days=7)))
    last = _with_signals(store, ctx.keys, last) if last else None
    metric = cfg.training.selection_metric
    fp, key = fingerprint(outcome), ctx.artifact(MARKER)
    resend_of, etag = None, None
    try:
        data, etag = store.get_with_etag(key)
        marker = json.loads(data)
        if marker.get("fingerprint") == fp and marker.get("status") in ("sending", "sent", "logged"):
            log.info("weekly summary for run %s (%s) already %s: not sending it again (marker s3://%s/%s)",
                     ctx.run_id, outcome.get("outcome"), marker.get("status"), store.bucket, key)
            return "already_sent"
        if marker.get("fingerprint") != fp:
            resend_of = marker.get("outcome")
    except ObjectNotFound:
        pass
    summary = build_summary(cfg.name, metric, metric in cfg.gate.maximums, this, last, page_url(cfg.name),
                            resend_of=resend_of)
    record = {"fingerprint": fp, "run_id": ctx.run_id, "outcome": outcome.get("outcome"),
              "subject": summary.subject, "status": "sending"}
    try:
        etag = store.put_json(key, record, **({"if_match": etag} if etag else {"if_none_match": True}))
    except PreconditionFailed:
        log.info("weekly summary for run %s: another attempt claimed it; not sending", ctx.run_id)
        return "already_sent"
    to = summary_recipients(cfg)
    if not to:
        log.warning("WEEKLY SUMMARY (no recipients configured; logged only)\n%s", summary.text())
        store.put_json(key, {**record, "status": "logged"}, if_match=etag)
        return "logged"
    try:
        send_email(cfg, to, summary.subject, summary.html(), {"X-Retrain-Summary": fp})
    except Exception as exc:  # broad ok: SMTP only; the run's records are written, its verdict is not ours
        log.critical("WEEKLY SUMMARY NOT DELIVERED to %s: %s\n%s", ", ".join(to), exc, summary.text(),
                     exc_info=True)
        store.put_json(key, {**record, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}, if_match=etag)
        return "failed"
    store.put_json(key, {**record, "status": "sent", "recipients": to}, if_match=etag)
    log.info("weekly summary sent to %s\n%s", ", ".join(to), summary.text())
    return "resent" if resend_of else "sent"
