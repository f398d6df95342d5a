"""Whether this week's run retrains, and why: one pure function over precomputed signals.

Every signal is computed and recorded, then the first trigger in priority order wins:
force -> first_deployment -> invalid_input -> drift -> score_drift -> performance -> age -> none.
An unreadable or malformed batch never skips: it "retrains" so that validation runs and
fails with a full report, instead of the problem hiding behind a quiet "no drift".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retrain.config import TriggerConfig
from retrain.core.drift import DriftReport
from retrain.core.jsonsafe import finite_or_none, jsonable

TRIGGERS = (
    "force",
    "first_deployment",
    "invalid_input",
    "drift",
    "score_drift",
    "performance",
    "age",
    "none",
)


@dataclass
class TriggerInputs:
    champion_present: bool
    force: bool = False
    batch_readable: bool = True
    schema_problems: list[str] = field(default_factory=list)
    drift: DriftReport | None = None
    score_ks: float | None = None
    performance: dict | None = None  # champion metrics on the new week's labels
    model_age_days: int | None = None
    batch_rows: int | None = None  # None: unknown (not checked); 0: empty batch -> invalid_input


@dataclass
class Decision:
    retrain: bool
    trigger: str
    reason: str
    signals: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "retrain": self.retrain,
            "trigger": self.trigger,
            "reason": self.reason,
            "signals": self.signals,
        }






def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3f}"


def _performance_checks(performance: dict | None, cfg: TriggerConfig) -> dict:
    """Each cfg.performance rule against the champion's metrics on the new labels.

    margin > 0 means violated, as a fraction of the threshold, so violations of differently
    scaled metrics (recall vs cost) can be ranked. A missing/None metric is "unavailable",
    not a violation: no labels means no performance signal, not a reason to retrain.
    """
    checks: list[dict] = []
    unavailable: list[str] = []
    if performance is None:
        return {"evaluated": False, "checks": checks, "violations": [], "unavailable": unavailable}
    for key, threshold in cfg.performance.items():
        kind, metric = key.split("_", 1)
        value = finite_or_none(performance.get(metric))
        if value is None:
            unavailable.append(metric)
            continue
        diff = (threshold - value) if kind == "min" else (value - threshold)
        margin = diff / abs(threshold) if threshold else diff
        checks.append(
            {
                "rule": key,
                "metric": metric,
                "kind": kind,
                "value": value,
                "threshold": float(threshold),
                "violated": diff > 0,
                "margin": margin,
            }
        )
    violations = sorted((c for c in checks if c["violated"]), key=lambda c: c["margin"], reverse=True)
    return {
        "evaluated": True,
        "checks": checks,
        "violations": [c["rule"] for c in violations],
        "unavailable": unavailable,
    }


def _describe_perf(check: dict) -> str:
    op = "<" if check["violated"] and check["kind"] == "min" else ">"
    if not check["violated"]:
        op = ">=" if check["kind"] == "min" else "<="
    return f"{check['metric']}={_fmt(check['value'])} {op} {check['kind']} {_fmt(check['threshold'])}"


def decide(inputs: TriggerInputs, cfg: TriggerConfig) -> Decision:
    """Retrain or not, with the single trigger that decided it and every signal computed."""
    drift = inputs.drift

    problems = list(inputs.schema_problems or [])
    if drift is not None:
        problems += [p for p in drift.problems() if p not in problems]
    if inputs.batch_readable and inputs.batch_rows is not None and inputs.batch_rows <= 0:
        problems.append("batch has no rows")

    actions = drift.effective_actions() if drift is not None else []
    worst = drift.worst() if drift is not None else None
    ks = finite_or_none(inputs.score_ks)
    perf = _performance_checks(inputs.performance, cfg)
    perf_by_rule = {c["rule"]: c for c in perf["checks"]}
    age = inputs.model_age_days

    signals = {
        "force": bool(inputs.force),
        "champion_present": bool(inputs.champion_present),
        "batch_readable": bool(inputs.batch_readable),
        "batch_rows": inputs.batch_rows,
        "schema_problems": problems,
        "drift": drift.to_dict() if drift is not None else None,
        "drift_actions": [f for f, _ in actions],
        "drift_warnings": [f for f, e in (drift.features.items() if drift else []) if e["band"] == "warn"],
        "drift_suppressed_by_noise_floor": drift.suppressed() if drift is not None else [],
        "worst_psi": {"feature": worst[0], **worst[1]} if worst else None,
        "score_ks": ks,
        "performance": {"metrics": inputs.performance, **perf},
        "model_age_days": age,
        "thresholds": {
            "psi_warn": cfg.psi_warn,
            "psi_action": cfg.psi_action,
            "ks_action": cfg.ks_action,
            "performance": dict(cfg.performance),
            "max_model_age_days": cfg.max_model_age_days,
        },
    }

    def done(retrain: bool, trigger: str, reason: str) -> Decision:
        return Decision(retrain=retrain, trigger=trigger, reason=reason, signals=jsonable(signals))

    if inputs.force:
        return done(True, "force", "retrain forced by run parameter (force=True)")
    if not inputs.champion_present:
        return done(True, "first_deployment", "no champion registered: first deployment")
    if not inputs.batch_readable:
        return done(True, "invalid_input", "batch unreadable: routed to validation (never skipped)")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return done(True, "invalid_input", f"invalid batch: {problems[0]}{more}; routed to validation")
    if actions:
        feature, e = actions[0]
        more = f" (+{len(actions) - 1} more feature(s))" if len(actions) > 1 else ""
        return done(
            True,
            "drift",
            f"PSI action on '{feature}' (PSI={e['psi']:.3f} > {cfg.psi_action:g}, "
            f"noise floor {e['noise_floor']:.3f}){more}",
        )
    if ks is not None and ks > cfg.ks_action:
        return done(True, "score_drift", f"score drift: KS={ks:.3f} > {cfg.ks_action:g}")
    if perf["violations"]:
        check = perf_by_rule[perf["violations"][0]]
        more = f" (+{len(perf['violations']) - 1} more)" if len(perf["violations"]) > 1 else ""
        return done(
            True,
            "performance",
            f"champion {_describe_perf(check)} on the new week's labels "
            f"({check['margin']:.1%} beyond threshold){more}",
        )
    if age is not None and age > cfg.max_model_age_days:
        return done(True, "age", f"champion is {age} days old > max {cfg.max_model_age_days}")

    parts = []
    if worst:
        parts.append(f"worst PSI {worst[1]['psi']:.3f} on '{worst[0]}' ({worst[1]['band']})")
        if signals["drift_suppressed_by_noise_floor"]:
            parts.append(f"{len(signals['drift_suppressed_by_noise_floor'])} under noise floor")
    else:
        parts.append("PSI n/a")
    parts.append(f"KS {_fmt(ks)} (<= {cfg.ks_action:g})" if ks is not None else "KS n/a")
    if perf["checks"]:
        closest = max(perf["checks"], key=lambda c: c["margin"])  # closest to violating
        parts.append(_describe_perf(closest))
    else:
        parts.append("performance n/a")
    parts.append(f"age {age}d (<= {cfg.max_model_age_days})" if age is not None else "age n/a")
    return done(False, "none", "all signals within thresholds: " + ", ".join(parts))
