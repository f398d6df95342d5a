"""evaluate_triggers (and the skip branch): check the newest batch, measure drift and the
champion's performance on it, and record the trigger decision.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from retrain.errors import MissingInputError
from retrain.pipeline.run import Run

log = logging.getLogger(__name__)


class EvaluateTriggers(Run):
    def evaluate_triggers(self, force: bool = False) -> dict:
        from retrain import registry
        from retrain.core.drift import feature_drift, ks_statistic
        from retrain.core.triggers import TriggerInputs, decide

        ctx, cfg = self.ctx, self.ctx.cfg
        champion = registry.champion(self.store, ctx.keys)
        loader = self.loader()
        batch, readable, problems = None, True, []
        check = self.check_newest_batch(loader)  # every week, whatever the triggers decide
        if check is not None and not check["passed"]:  # never scored: validation fails with the report
            problems = list(check["critical_failures"])
            readable = not any(p.startswith("batch_readable") for p in problems)
        else:
            try:
                batch = self.family.batch_frame(loader, cfg, ctx.week)
            except MissingInputError as exc:  # not landed, or readable but unusable (e.g. text in a number)
                readable, problems = check is not None, [str(exc)]
            except KeyError as exc:  # prepare() could not find a required column
                problems = [f"schema: {missing_columns_message(exc)}"]
        if batch is not None:
            required = list(self.family.feature_columns(cfg)) + [cfg.data.label]
            missing = [c for c in required if c not in batch.columns]
            if missing:
                problems.append(f"schema: missing required columns {missing}")

        drift = ks = performance = age = None
        if champion is not None and readable and not problems:
            model = registry.load_verified_model(self.store, ctx.keys, champion.version)
            reference = self.version_frame(champion.version, "reference.parquet")
            feats = self.family.feature_columns(cfg)
            drift = feature_drift(reference, batch, list(cfg.triggers.psi_features), cfg.triggers)
            current_scores = self.family.score(model, batch[feats])
            ks, _ = ks_statistic(self.family.score(model, reference[feats]), current_scores)
            performance = self.family.metrics(self.family.target(batch, cfg), current_scores, cfg)
            age = (ctx.week - dt.date.fromisoformat(champion.week)).days

        decision = decide(
            TriggerInputs(
                champion_present=champion is not None,
                force=force,
                batch_readable=readable,
                schema_problems=problems,
                drift=drift,
                score_ks=ks,
                performance=performance,
                model_age_days=age,
                batch_rows=None if batch is None else len(batch),
            ),
            cfg.triggers,
        )
        record = {
            **ctx.describe(),
            **decision.to_dict(),
            "champion": champion.version if champion else None,
            "inputs": loader.lineage,
            "batch_check": check,
        }
        key = ctx.artifact("decision.json")
        self.store.put_json(key, record)
        log.info("trigger decision for week %s: %s (%s)", ctx.week, decision.trigger, decision.reason)
        return {
            "retrain": decision.retrain,
            "trigger": decision.trigger,
            "reason": decision.reason,
            "champion": record["champion"],
            "decision_key": key,
            "batch_warnings": (check or {}).get("warnings", []),
        }

    def check_newest_batch(self, loader) -> dict | None:
        """The raw-batch suite on this week's batch, recorded per content; None if it never landed."""
        from retrain.validation import suite_path_for
        from retrain.validation.partitions import PartitionRecords, summary, validate_partition

        ctx = self.ctx
        try:
            report, record = validate_partition(loader, ctx.cfg, ctx.week, suite_path_for(ctx.cfg.data),
                                                PartitionRecords(self.store, ctx.keys), run=ctx.describe())
        except MissingInputError:
            return None
        log.info("newest batch (week %s):\n%s", ctx.week, report.format_text())
        return summary(report, record)

    def skip(self, decision: dict) -> dict:
        record = {**self.ctx.describe(), "outcome": "skipped", "reason": decision.get("reason"), "decision": decision,
                  "batch_warnings": decision.get("batch_warnings", [])}
        key = self.ctx.artifact("skip.json")
        self.store.put_json(key, record)
        return {"outcome": "skipped", "reason": decision.get("reason"), "skip_key": key}


def missing_columns_message(exc: KeyError) -> str:
    """pandas says "['a', 'b'] not in index"; say which required columns the batch lacks."""
    text = str(exc.args[0]) if exc.args else str(exc)
    found = re.search(r"(\[.*\]) not in index", text)
    return f"missing required columns {found.group(1)}" if found else f"missing required column {text!r}"
