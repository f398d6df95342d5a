"""The gate-failure-rate monitor: one alert when the evaluation gate rejects too often.

A gate that rejects challengers more than `gate_failure_max_rate` (default 20%) of the last
`gate_failure_window` (default 10) retraining runs means something is systematically wrong
(labels, features, thresholds), so it alerts, through the failure notifier's SMTP path.

What counts: runs that reached the gate (promoted, superseded, gate_rejected, rolled_back,
smoke_test_failed); skips and validation failures never reach it. The rate is judged only
on a full window, so the first rejection of a new deployment is not "100%".

One alert per crossing, not one per run: a state object per model,
    {prefix}/monitoring/{model}/gate_failure_rate.json
holds the window (the last runs that reached the gate, one entry per run id, upserted, so a
cleared re-run replaces its own entry) and the alert state. The alert fires when the rate
goes above the limit while the state is `ok`, and re-arms when the rate is back at or below
it. Every change is one conditional write (If-Match / If-None-Match), so two racing runs
cannot both claim the crossing; the claim is written BEFORE the email (at-most-once, as in
retrain.airflow.alerts) and settled `sent` or `failed` (a failed send is retried by the next run).
"""

from __future__ import annotations

import dataclasses
import json
import logging

from retrain.errors import ConfigError

log = logging.getLogger(__name__)

REACHED_GATE = ("promoted", "superseded", "gate_rejected", "rolled_back", "smoke_test_failed")
KEEP_RUNS = 60  # entries kept in the state object: enough for any sensible window change


@dataclasses.dataclass(frozen=True)
class MonitoringConfig:
    """The model file's optional `monitoring:` section."""

    gate_failure_window: int = 10
    gate_failure_max_rate: float = 0.20
    summary_email: tuple[str, ...] | None = None  # None: summaries are only logged
    summary_enabled: bool = True

    @classmethod
    def from_model(cls, cfg) -> MonitoringConfig:
        raw = dict(getattr(cfg, "monitoring", None) or {})
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"{cfg.name}: unknown monitoring settings {sorted(unknown)}")
        if "summary_email" in raw and raw["summary_email"] is not None:
            value = raw["summary_email"]
            raw["summary_email"] = tuple([value] if isinstance(value, str) else value)
        out = cls(**raw)
        if not (isinstance(out.gate_failure_window, int) and 1 <= out.gate_failure_window <= KEEP_RUNS):
            raise ConfigError(f"{cfg.name}: monitoring.gate_failure_window must be an integer in 1..{KEEP_RUNS}")
        if not 0.0 <= float(out.gate_failure_max_rate) < 1.0:
            raise ConfigError(f"{cfg.name}: monitoring.gate_failure_max_rate must be in [0, 1)")
        return out


# ------------------------------------------------------------------------------ pure core
@dataclasses.dataclass(frozen=True)
class GateRate:
    runs: int  # runs in the window that reached the gate
    rejected: int
    window: int
    max_rate: float
    rejected_runs: tuple[dict, ...] = ()

    @property
    def rate(self) -> float | None:
        return self.rejected / self.runs if self.runs else None

    @property
    def judged(self) -> bool:
        """Only a full window is judged (1 rejection of 1 run is not a 100% failure rate)."""
        return self.runs >= self.window

    @property
    def exceeded(self) -> bool:
        return self.judged and self.rate is not None and self.rate > self.max_rate

    def describe(self) -> str:
        if not self.runs:
            return "no run reached the evaluation gate yet"
        text = (f"gate rejected {self.rejected} of the last {self.runs} retraining runs "
                f"({self.rate:.0%}; limit {self.max_rate:.0%})")
        return text if self.judged else text + f", not judged before {self.window} runs"


def window_entry(outcome: dict) -> dict | None:
    """A run's entry in the gate window, or None when it did not reach the gate."""
    if outcome.get("outcome") not in REACHED_GATE:
        return None
    return {"run_id": outcome.get("run_id"), "week": outcome.get("week"), "outcome": outcome["outcome"],
            "reason": outcome.get("reason", "") if outcome["outcome"] == "gate_rejected" else ""}


def gate_failure_rate(outcomes: list[dict], window: int, max_rate: float) -> GateRate:
    """The rate over the newest `window` runs (by data week, then run id) that reached the gate.

    Takes outcome.json dicts (or window entries) in any order, so it can be fed from the
    state object here or from a per-model index of outcomes.
    """
    reached = [e for e in (window_entry(o) for o in outcomes) if e is not None]
    reached.sort(key=lambda e: (str(e.get("week")), str(e.get("run_id"))))
    last = reached[-window:]
    rejected = tuple(e for e in last if e["outcome"] == "gate_rejected")
    return GateRate(runs=len(last), rejected=len(rejected), window=window, max_rate=max_rate,
                    rejected_runs=rejected)


def upsert_run(runs: list[dict], outcome: dict) -> list[dict]:
    """The window list with this run's entry replaced (or removed if it no longer reached the gate)."""
    kept = [r for r in runs if r.get("run_id") != outcome.get("run_id")]
    entry = window_entry(outcome)
    if entry is not None:
        kept.append(entry)
    kept.sort(key=lambda e: (str(e.get("week")), str(e.get("run_id"))))
    return kept[-KEEP_RUNS:]


def next_alert_state(previous: dict, rate: GateRate) -> tuple[dict, bool]:
    """(new alert state, whether to send now). Fires on the crossing; re-arms when back under."""
    status = previous.get("status", "ok")
    if rate.exceeded:
        if status in ("sending", "sent", "logged"):
            return previous, False  # this crossing has already been claimed
        return {"status": "sending", "attempts": int(previous.get("attempts", 0)) + 1
                if status == "failed" else 1}, True
    if rate.judged and status != "ok":
        return {"status": "ok", "rearmed": True}, False
    return previous or {"status": "ok"}, False


# -------------------------------------------------------------------------------- effects
def state_key(keys) -> str:
    return keys._k("monitoring", keys.model, "gate_failure_rate.json")


def check_gate_failure_rate(store, ctx, outcome: dict, try_number: int | None = None) -> dict:
    """Record this run in the window and alert once if the rate crossed the limit.

    S3 errors propagate (the task retries and re-records the same entry); an SMTP failure is
    logged at CRITICAL and left `failed` for the next run to retry, never raised.
    """
    from retrain.storage import ObjectNotFound, PreconditionFailed

    cfg, mon = ctx.cfg, MonitoringConfig.from_model(ctx.cfg)
    key = state_key(ctx.keys)
    for _ in range(5):  # lost a conditional write to a concurrent run: read again and redo
        try:
            data, etag = store.get_with_etag(key)
            state = json.loads(data)
        except ObjectNotFound:
            state, etag = {"runs": [], "alert": {"status": "ok"}}, None
        runs = upsert_run(state.get("runs", []), {**outcome, "run_id": ctx.run_id, "week": ctx.week.isoformat()})
        rate = gate_failure_rate(runs, mon.gate_failure_window, mon.gate_failure_max_rate)
        alert_state, send = next_alert_state(state.get("alert") or {}, rate)
        if send:
            alert_state = {**alert_state, "run_id": ctx.run_id, "week": ctx.week.isoformat(),
                           "rate": rate.rate, "rejected": rate.rejected, "runs": rate.runs}
        new = {"model": cfg.name, "window": mon.gate_failure_window, "max_rate": mon.gate_failure_max_rate,
               "runs": runs, "alert": alert_state, "summary": rate.describe()}
        if new == state:
            break
        try:
            etag = store.put_json(key, new, **({"if_match": etag} if etag else {"if_none_match": True}))
        except PreconditionFailed:
            continue
        break
    else:
        raise PreconditionFailed(f"s3://{store.bucket}/{key}: kept losing the conditional write")
    log.info("gate failure rate: %s", rate.describe())
    if send:
        status = _send_alert(store, ctx, rate, try_number)
        store.put_json(key, {**new, "alert": {**alert_state, "status": status}}, if_match=etag)
        new["alert"] = {**alert_state, "status": status}
    return {"gate_failure_rate": rate.rate, "runs": rate.runs, "rejected": rate.rejected,
            "exceeded": rate.exceeded, "alert": new["alert"].get("status")}


def build_rate_alert(ctx, rate: GateRate, try_number: int | None, bucket: str):
    from retrain.airflow.alerts import Alert, ui_url

    recent = "; ".join(f"{r['week']}: {r['reason']}" for r in rate.rejected_runs[-3:])
    return Alert(
        model=ctx.cfg.name, dag_id=ctx.dag_id, run_id=ctx.run_id, week=ctx.week.isoformat(),
        event="gate_failure_rate", failed_task=None, alerting_task="record_outcome", try_number=try_number,
        reason=f"{rate.describe()}. Recent rejections: {recent or '-'}",
        environment=ctx.settings.environment,
        reports=(("monitor state", f"s3://{bucket}/{state_key(ctx.keys)}"),),
        ui_url=ui_url(ctx.dag_id, ctx.run_id, "record_outcome"),
    )


def _send_alert(store, ctx, rate: GateRate, try_number: int | None) -> str:
    from retrain.airflow.alerts import recipients, send_email

    alert = build_rate_alert(ctx, rate, try_number, store.bucket)
    to = recipients(ctx.cfg)
    if not to:
        log.warning("ALERT (no recipients configured; logged only)\n%s", alert.text())
        return "logged"
    try:
        send_email(ctx.cfg, to, alert.subject, alert.html(),
                   {"X-Retrain-Alert": alert.fingerprint, "X-Retrain-Event": alert.event})
    except Exception as exc:  # broad ok: SMTP only; S3 errors were raised before, the run's verdict is written
        log.critical("ALERT NOT DELIVERED to %s: %s\n%s", ", ".join(to), exc, alert.text(), exc_info=True)
        return "failed"
    log.warning("ALERT sent to %s\n%s", ", ".join(to), alert.text())
    return "sent"
