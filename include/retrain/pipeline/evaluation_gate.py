"""evaluation_gate: challenger and champion scored on the same holdout, in this run; the record
is the decision.
"""

from __future__ import annotations

import json
import logging

from retrain.errors import GateRejected
from retrain.pipeline.run import Run

log = logging.getLogger(__name__)


class EvaluationGate(Run):
    def evaluation_gate(self) -> dict:
        """Challenger and champion scored on the same holdout, in this run; the record is the decision."""
        from retrain import registry
        from retrain.core.bootstrap import PairedHoldout, settings_from_metrics_config
        from retrain.core.gate import evaluate_gate, format_comparison

        ctx, cfg = self.ctx, self.ctx.cfg
        features = self.store.get_json(ctx.artifact("features/manifest.json"))
        challenger_manifest = self.store.get_json(ctx.artifact("challenger/manifest.json"))
        holdout = self.run_frame(features, "features/holdout.parquet")
        feats = self.family.feature_columns(cfg)
        y = self.family.target(holdout, cfg)
        challenger = self.run_model(challenger_manifest, "challenger/model.joblib")
        challenger_scores = self.family.score(challenger, holdout[feats])
        challenger_metrics = self.family.metrics(y, challenger_scores, cfg)

        champion = registry.champion(self.store, ctx.keys)
        champion_metrics, in_sample, paired = None, False, None
        if champion is not None:
            model = registry.load_verified_model(self.store, ctx.keys, champion.version)
            champion_scores = self.family.score(model, holdout[feats])
            champion_metrics = self.family.metrics(y, champion_scores, cfg)
            # per-row scores of both models on the same rows: the gate's paired bootstrap
            paired = PairedHoldout(y, challenger_scores, champion_scores, **settings_from_metrics_config(cfg.metrics))
            champion_log = json.loads(registry.load_verified(self.store, ctx.keys, champion.version, "run_log.json"))
            champion_trained_on = set(champion_log.get("data_window", {}).get("train_weeks", []))
            in_sample = bool(champion_trained_on & set(features["holdout_weeks"]))

        decision = evaluate_gate(challenger_metrics, champion_metrics, cfg.gate, champion_in_sample=in_sample,
                                 paired=paired)
        log.info("%s vs champion %s on %d holdout rows\n%s", decision.summary(),
                 champion.version if champion else "(none)", len(holdout), format_comparison(decision))
        record = {
            **ctx.describe(),
            **decision.to_dict(),
            "challenger_version": ctx.version,
            "champion_version": champion.version if champion else None,
            "holdout_rows": len(holdout),
        }
        key = ctx.artifact("gate.json")
        self.store.put_json(key, record)
        from retrain.core.logtables import gate_table

        log.info("%s", gate_table(record))
        if not decision.passed:
            raise GateRejected(
                "evaluation gate rejected the challenger; the champion "
                f"{champion.version if champion else '(none)'} stays:\n"
                + "\n".join(f"  - {r}" for r in decision.reasons)
                + f"\nreport: s3://{self.store.bucket}/{key}"
            )
        return {"passed": True, "first_deployment": decision.first_deployment, "gate_key": key,
                "champion": record["champion_version"]}
