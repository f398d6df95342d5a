"""build_features: the out-of-time split of the validated window and the fitted preprocessor;
or an earlier data version's features, byte for byte.
"""

from __future__ import annotations

from retrain.pipeline.run import Run


class BuildFeatures(Run):
    def build_features(self, data_version: str | None = None) -> dict:
        from retrain.core.features import lineage_hash, split_out_of_time
        from retrain.core.frames import to_bytes
        from retrain.storage.integrity import dumps_model, fingerprint

        if data_version:  # retrain on an earlier data version: reuse that run's verified features
            return self._features_of_data_version(data_version)
        ctx, cfg = self.ctx, self.ctx.cfg
        loader = self.pinned_loader()  # exactly the bytes validate_data checked, or PartitionChanged
        window = self.family.window_frame(loader, cfg, ctx.week)
        train, holdout = split_out_of_time(window, cfg.training.holdout_weeks)
        feats = self.family.feature_columns(cfg)
        preprocessor = self.family.build_preprocessor(cfg)
        preprocessor.fit(train[feats], self.family.target(train, cfg))  # training part only

        files = {
            "features/train.parquet": to_bytes(train),
            "features/holdout.parquet": to_bytes(holdout),
            "features/preprocessor.joblib": dumps_model(preprocessor),
        }
        manifest = {
            **ctx.describe(),
            "files": {},
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "train_weeks": sorted(train["_week"].unique().tolist()),
            "holdout_weeks": sorted(holdout["_week"].unique().tolist()),
            "inputs": loader.lineage,
            "data_hash": lineage_hash(loader.lineage),
        }
        for name, data in files.items():
            self.store.put_bytes(ctx.artifact(name), data)
            manifest["files"][name] = fingerprint(data)
        key = ctx.artifact("features/manifest.json")
        self.store.put_json(key, manifest)  # written last: readers trust only what it lists
        return {"features_manifest": key, "train_rows": len(train), "holdout_rows": len(holdout),
                "data_hash": manifest["data_hash"]}

    def _features_of_data_version(self, data_version: str) -> dict:
        """This run's feature files = the earlier run's, byte for byte (fingerprints verified)."""
        from retrain.errors import IntegrityError
        from retrain.storage.integrity import verify

        ctx = self.ctx
        src = self.data_version_source(data_version)
        earlier = self.store.get_json(self.source_artifact(src, "features/manifest.json"))
        if earlier.get("data_hash") != src["content_hash"]:
            raise IntegrityError(f"data version {data_version!r}: the features of run {src['run_id']} "
                                 f"hash to {earlier.get('data_hash')}, its run log says {src['content_hash']}")
        for name, fp in earlier["files"].items():
            data = self.store.get_bytes(self.source_artifact(src, name))
            verify(data, fp, name)
            self.store.put_bytes(ctx.artifact(name), data)
        keep = {k: v for k, v in earlier.items() if k not in ctx.describe()}
        manifest = {**ctx.describe(), **keep, "data_version": src}
        key = ctx.artifact("features/manifest.json")
        self.store.put_json(key, manifest)  # written last, as in build_features
        return {"features_manifest": key, "train_rows": manifest["train_rows"],
                "holdout_rows": manifest["holdout_rows"], "data_hash": manifest["data_hash"],
                "data_version": src}
