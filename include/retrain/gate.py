"""The evaluation gate: may this challenger replace the champion?

Fail closed: a metric the config names but the challenger lacks (missing, None, NaN) fails;
every rule is evaluated and every failure listed, so one report explains a rejection fully.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from retrain.config import GateConfig
from retrain.jsonsafe import finite_or_none, jsonable
from retrain.metrics import higher_is_better


@dataclass
class GateDecision:
    passed: bool
    first_deployment: bool
    challenger: dict
    champion: dict | None
    thresholds: dict
    checks: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the GateRejected message."""
        if self.passed:
            scope = "first deployment, absolute thresholds" if self.first_deployment else "vs champion"
            return f"gate passed ({len(self.checks)} checks, {scope})"
        return "gate rejected: " + "; ".join(self.reasons)

    def to_dict(self) -> dict:
        return jsonable(
            {
                "passed": self.passed,
                "first_deployment": self.first_deployment,
                "challenger": self.challenger,
                "champion": self.champion,
                "thresholds": self.thresholds,
                "checks": self.checks,
                "reasons": self.reasons,
            }
        )






def _check(rule: str, metric: str, value: Any, threshold: float, passed: bool, message: str, **extra) -> dict:
    return {
        "rule": rule,
        "metric": metric,
        "value": value,
        "threshold": float(threshold),
        "passed": bool(passed),
        "message": message,
        **extra,
    }


def _absolute(rule: str, metric: str, threshold: float, challenger: dict) -> dict:
    raw = challenger.get(metric)
    value = finite_or_none(raw)
    word, op, bad = ("minimum", ">=", "<") if rule == "minimum" else ("maximum", "<=", ">")
    if value is None:
        return _check(
            rule,
            metric,
            None,
            threshold,
            False,
            f"{metric} is missing or not a finite number ({raw!r}): cannot check {word} {threshold:g}",
        )
    ok = value >= threshold if rule == "minimum" else value <= threshold
    sign = op if ok else bad
    return _check(rule, metric, value, threshold, ok, f"{metric}={value:.4g} {sign} {word} {threshold:g}")


def _regression(metric: str, allowed: float, challenger: dict, champion: dict) -> dict:
    chall, champ = finite_or_none(challenger.get(metric)), finite_or_none(champion.get(metric))
    rule = "relative_regression"
    try:
        higher = higher_is_better(metric)
    except KeyError as exc:
        return _check(rule, metric, None, allowed, False, f"cannot check regression: {exc.args[0]}")
    if chall is None or champ is None:
        who = "challenger" if chall is None else "champion"
        return _check(
            rule,
            metric,
            None,
            allowed,
            False,
            f"{metric} is missing or not finite for the {who}: cannot check regression",
            challenger_value=chall,
            champion_value=champ,
        )
    worse_by = (champ - chall) if higher else (chall - champ)
    # A zero champion gives no scale to be relative to: any worsening is unbounded.
    unbounded = math.inf if worse_by > 0 else 0.0
    regression = worse_by / abs(champ) if champ != 0 else unbounded
    ok = regression <= allowed
    pct = "inf" if math.isinf(regression) else f"{regression:.2%}"
    message = (
        f"{metric} {chall:.4g} vs champion {champ:.4g}: regression {pct} "
        f"{'<=' if ok else '>'} allowed {allowed:.2%}"
    )
    return _check(
        rule, metric, regression, allowed, ok, message, challenger_value=chall, champion_value=champ
    )


def evaluate_gate(
    challenger_metrics: dict,
    champion_metrics: dict | None,
    cfg: GateConfig,
    champion_in_sample: bool = False,
) -> GateDecision:
    """Absolute minimums/maximums always; relative regression only against a champion.

    `champion_in_sample`: the champion was fitted on (part of) this holdout, e.g. when a run
    replays an earlier data version; comparing against it would reward memorisation, so the
    relative rules are recorded as not applicable instead of enforced.

    Regression is a fraction of the champion's value, signed so that positive means worse:
    (champ - chall)/|champ| for higher-is-better metrics, (chall - champ)/|champ| otherwise.
    Raises ValueError if the config has no thresholds at all (nothing could be checked).
    """
    if not (cfg.minimums or cfg.maximums or cfg.max_relative_regression):
        raise ValueError("gate config has no thresholds: refusing to bless anything unchecked")
    challenger = dict(challenger_metrics or {})
    champion = dict(champion_metrics) if champion_metrics is not None else None

    checks = [_absolute("minimum", m, t, challenger) for m, t in cfg.minimums.items()]
    checks += [_absolute("maximum", m, t, challenger) for m, t in cfg.maximums.items()]
    if champion is not None and not champion_in_sample:
        checks += [_regression(m, a, challenger, champion) for m, a in cfg.max_relative_regression.items()]
    elif champion is not None:
        checks += [{"rule": "relative_regression", "metric": m, "value": challenger.get(m),
                    "threshold": a, "passed": True, "applicable": False,
                    "message": f"{m}: not compared, the champion was trained on this holdout"}
                   for m, a in cfg.max_relative_regression.items()]

    reasons = [c["message"] for c in checks if not c["passed"]]
    if not checks:
        reasons.append("no absolute thresholds apply to a first deployment: nothing was checked")
    return GateDecision(
        passed=not reasons,
        first_deployment=champion is None,
        challenger=challenger,
        champion=champion,
        thresholds={
            "minimums": dict(cfg.minimums),
            "maximums": dict(cfg.maximums),
            "max_relative_regression": dict(cfg.max_relative_regression),
        },
        checks=checks,
        reasons=reasons,
    )
