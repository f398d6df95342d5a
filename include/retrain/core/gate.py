"""The evaluation gate: may this challenger replace the champion?

First deployment: the absolute minimums/maximums. Against a champion: the same floors, plus,
for every metric in `gate.compare`, a paired bootstrap on the same holdout rows: the challenger
passes only if the lower end of the confidence interval of its improvement is above
-tolerance, i.e. it is shown, at the configured confidence, not to be worse by more than the
tolerance. Fail closed: a metric the config names but the challenger lacks (missing, None,
NaN), a compared metric without a tolerance or without per-row scores, fails; every rule is
evaluated and every failure listed, so one report explains a rejection fully.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from retrain.config import GateConfig
from retrain.core.bootstrap import PairedHoldout, paired_intervals
from retrain.core.jsonsafe import finite_or_none, jsonable
from retrain.core.metrics import higher_is_better


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


def _agrees(bootstrapped: float | None, reported: Any) -> bool:
    """The bootstrap's full-holdout value equals the family's metric (same threshold and costs)."""
    value = finite_or_none(reported)
    if value is None or bootstrapped is None:
        return True  # nothing to disagree with; a missing value fails its own rule
    return math.isclose(bootstrapped, value, rel_tol=1e-9, abs_tol=1e-12)


def _paired(cfg: GateConfig, paired: PairedHoldout | None, challenger: dict, champion: dict) -> list[dict]:
    """One `paired_bootstrap` check per compared metric (see the module docstring)."""
    rule, checks, ready = "paired_bootstrap", [], []
    for m in cfg.compare:
        tol = finite_or_none(cfg.tolerance.get(m))
        if tol is None or tol < 0:
            checks.append(_check(rule, m, None, math.nan, False,
                                 f"{m}: no valid tolerance configured: cannot compare (fail closed)"))
        elif paired is None:
            checks.append(_check(rule, m, None, -tol, False,
                                 f"{m}: no per-row scores of both models: cannot run the paired comparison"))
        else:
            ready.append(m)
    if not ready:
        return checks
    try:
        intervals = paired_intervals(paired, ready, cfg.bootstrap_resamples, cfg.confidence, cfg.bootstrap_seed)
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if exc.args else repr(exc)
        return checks + [_check(rule, m, None, -float(cfg.tolerance[m]), False,
                                f"{m}: paired comparison impossible: {msg}") for m in ready]
    for m in ready:
        iv, tol = intervals[m], float(cfg.tolerance[m])
        detail = {"challenger_value": iv.challenger, "champion_value": iv.champion,
                  "improvement": iv.improvement, "ci_low": iv.low, "ci_high": iv.high,
                  "confidence": iv.confidence, "resamples": iv.resamples,
                  "undefined_resamples": iv.undefined_resamples}
        if not (_agrees(iv.challenger, challenger.get(m)) and _agrees(iv.champion, champion.get(m))):
            checks.append(_check(rule, m, iv.low, -tol, False,
                                 f"{m}: bootstrap values {iv.challenger!r}/{iv.champion!r} disagree with the "
                                 f"reported metrics {challenger.get(m)!r}/{champion.get(m)!r} (settings differ)",
                                 **detail))
            continue
        ok = iv.low is not None and iv.low >= -tol
        ci = f"[{_fmt(iv.low)}, {_fmt(iv.high)}]"
        checks.append(_check(
            rule, m, iv.low, -tol, ok,
            f"{m} {_num(iv.challenger)} vs champion {_num(iv.champion)}: improvement {_fmt(iv.improvement)}, "
            f"{iv.confidence:.0%} CI {ci} {'within' if ok else 'beyond'} tolerance {tol:g}",
            **detail))
    return checks


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4g}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def format_comparison(decision: GateDecision) -> str:
    """The paired comparison as a table for the task log (one row per compared metric)."""
    rows = [c for c in decision.checks if c["rule"] == "paired_bootstrap"]
    if not rows:
        scope = "first deployment" if decision.first_deployment else "no paired comparison"
        return f"({scope}: no challenger-vs-champion intervals)"
    head = f"{'metric':<12} {'challenger':>11} {'champion':>11} {'improvement':>12} {'CI low':>11} " \
           f"{'CI high':>11} {'tolerance':>10}  verdict"
    lines = [head]
    for c in rows:
        verdict = "n/a (in-sample)" if c.get("applicable") is False else ("ok" if c["passed"] else "WORSE")
        tol = -c["threshold"] if math.isfinite(c["threshold"]) else math.nan
        lines.append(f"{c['metric']:<12} {_num(c.get('challenger_value')):>11} {_num(c.get('champion_value')):>11} "
                     f"{_fmt(c.get('improvement')):>12} {_fmt(c.get('ci_low')):>11} {_fmt(c.get('ci_high')):>11} "
                     f"{tol:>10g}  {verdict}")
    conf = next((c["confidence"] for c in rows if "confidence" in c), None)
    if conf is not None:
        lines.append(f"(improvement > 0 means the challenger is better; paired bootstrap, {conf:.0%} interval, "
                     f"{rows[0].get('resamples')} resamples)")
    return "\n".join(lines)


def evaluate_gate(
    challenger_metrics: dict,
    champion_metrics: dict | None,
    cfg: GateConfig,
    champion_in_sample: bool = False,
    paired: PairedHoldout | None = None,
) -> GateDecision:
    """Absolute minimums/maximums always; relative regression only against a champion.

    `champion_in_sample`: the champion was fitted on (part of) this holdout, e.g. when a run
    replays an earlier data version; comparing against it would reward memorisation, so the
    relative rules are recorded as not applicable instead of enforced.

    `paired`: labels and both models' per-row scores on this holdout, for the `compare` rule;
    without them every compared metric fails (a champion exists, so there must be a comparison).

    Regression is a fraction of the champion's value, signed so that positive means worse:
    (champ - chall)/|champ| for higher-is-better metrics, (chall - champ)/|champ| otherwise.
    Raises ValueError if the config has no thresholds at all (nothing could be checked).
    """
    if not (cfg.minimums or cfg.maximums or cfg.max_relative_regression or cfg.compare):
        raise ValueError("gate config has no thresholds: refusing to bless anything unchecked")
    challenger = dict(challenger_metrics or {})
    champion = dict(champion_metrics) if champion_metrics is not None else None

    checks = [_absolute("minimum", m, t, challenger) for m, t in cfg.minimums.items()]
    checks += [_absolute("maximum", m, t, challenger) for m, t in cfg.maximums.items()]
    if champion is not None and not champion_in_sample:
        checks += [_regression(m, a, challenger, champion) for m, a in cfg.max_relative_regression.items()]
        checks += _paired(cfg, paired, challenger, champion)
    elif champion is not None:
        checks += [{"rule": "relative_regression", "metric": m, "value": challenger.get(m),
                    "threshold": a, "passed": True, "applicable": False,
                    "message": f"{m}: not compared, the champion was trained on this holdout"}
                   for m, a in cfg.max_relative_regression.items()]
        checks += [{"rule": "paired_bootstrap", "metric": m, "value": challenger.get(m),
                    "threshold": -float(cfg.tolerance.get(m, math.nan)), "passed": True, "applicable": False,
                    "message": f"{m}: not compared, the champion was trained on this holdout"}
                   for m in cfg.compare]

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
            "compare": list(cfg.compare),
            "tolerance": dict(cfg.tolerance),
            "confidence": cfg.confidence,
            "bootstrap_resamples": cfg.bootstrap_resamples,
            "bootstrap_seed": cfg.bootstrap_seed,
        },
        checks=checks,
        reasons=reasons,
    )
