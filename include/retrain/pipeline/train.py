"""train: the candidates' race on this run's features; the winner, its reference sample, canary
rows and predictions, and the run log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from retrain.pipeline.run import Run, bundle_version

log = logging.getLogger(__name__)


class Train(Run):
    def train(self) -> dict:
        from retrain.core.frames import to_bytes
        from retrain.core.training import train_candidates
        from retrain.storage.integrity import dumps_model, fingerprint

        ctx, cfg = self.ctx, self.ctx.cfg
        features = self.store.get_json(ctx.artifact("features/manifest.json"))
        train = self.run_frame(features, "features/train.parquet")
        holdout = self.run_frame(features, "features/holdout.parquet")
        preprocessor = self.run_model(features, "features/preprocessor.joblib")
        result = train_candidates(train, holdout, cfg, self.family, preprocessor)

        feats = self.family.feature_columns(cfg)
        reference = holdout.sample(n=min(cfg.registry.reference_sample_rows, len(holdout)),
                                   random_state=cfg.training.random_state).reset_index(drop=True)
        canary = holdout.head(cfg.registry.canary_rows).reset_index(drop=True)
        canary_predictions = [float(x) for x in self.family.score(result.model, canary[feats])]
        winner = next(c for c in result.candidates if c.name == result.winner)
        run_log = {
            **ctx.describe(),
            "bundle_version": bundle_version(),
            "config": cfg.source_path and Path(cfg.source_path).name,
            "data_window": {
                **({"data_version_of": features["data_version"]} if features.get("data_version") else {}),
                "weeks": features["train_weeks"] + features["holdout_weeks"],
                "train_weeks": features["train_weeks"],
                "holdout_weeks": features["holdout_weeks"],
                "inputs": features["inputs"],
                "content_hash": features["data_hash"],
            },
            **result.summary(),
            "winner_holdout_metrics": winner.holdout_metrics,
            "winner_cv_mean": winner.cv_mean,
        }
        files = {
            "challenger/model.joblib": dumps_model(result.model),
            "challenger/reference.parquet": to_bytes(reference),
            "challenger/canary.parquet": to_bytes(canary),
        }
        manifest = {**ctx.describe(), "files": {}, "winner": result.winner}
        for name, data in files.items():
            self.store.put_bytes(ctx.artifact(name), data)
            manifest["files"][name] = fingerprint(data)
        self.store.put_json(ctx.artifact("challenger/canary_predictions.json"), canary_predictions)
        self.store.put_json(ctx.artifact("run_log.json"), run_log)
        key = ctx.artifact("challenger/manifest.json")
        self.store.put_json(key, manifest)
        from retrain.core.logtables import training_table

        log.info("%s", training_table(run_log["candidates"], result.winner, result.selection_metric))
        return {
            "winner": result.winner,
            "cv_mean": winner.cv_mean,
            "selection_metric": result.selection_metric,
            "run_log_key": ctx.artifact("run_log.json"),
            "challenger_manifest": key,
        }
