"""The weekly pipeline's steps: read inputs from S3, call the pure core, write records.

Each step reads and writes only keys derived from the run (data week + run id), so a cleared
task re-run, or a replayed week, rewrites the same objects with the same content. Steps
return small JSON-able dicts (keys and decisions) for XCom; DataFrames and models stay in S3.
No Airflow imports here: retrain.airflow.tasks adapts these to Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from retrain import __version__
from retrain.config import ModelConfig, Settings
from retrain.errors import GateRejected, MissingInputError, SmokeTestFailed
from retrain.keys import Keys, version_id
from retrain.storage import ObjectNotFound, S3Store, sha256_hex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What a task knows about its run: derived from the DAG run, never from the clock."""

    cfg: ModelConfig
    settings: Settings
    week: dt.date  # Monday of the data week (the run's data interval)
    run_id: str
    data_interval: tuple[str, str]
    logical_date: str | None = None
    dag_id: str = ""
    triggered_by: dict = field(default_factory=dict)

    @property
    def keys(self) -> Keys:
        return Keys(self.cfg.name, self.settings.prefix)

    def artifact(self, name: str) -> str:
        return self.keys.run_artifact(self.week, self.run_id, name)

    @property
    def version(self) -> str:
        return version_id(self.week, self.run_id)

    def describe(self) -> dict:
        return {
            "model": self.cfg.name,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "week": self.week.isoformat(),
            "data_interval": list(self.data_interval),
            "logical_date": self.logical_date,
        }


class Steps:
    def __init__(self, ctx: RunContext, store: S3Store | None = None):
        self.ctx = ctx
        self.store = store or S3Store(ctx.settings)

    @cached_property
    def family(self):
        from retrain.families import get_family

        return get_family(self.ctx.cfg.family)

    def loader(self):
        from retrain.pipeline.loader import LandingLoader

        return LandingLoader(self.store, self.ctx.keys, self.ctx.cfg)

    # ---------------------------------------------------------------- evaluate_triggers
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
            reference = self._version_frame(champion.version, "reference.parquet")
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

    # ---------------------------------------------------------------- validate_data
    def validate(self, data_version: str | None = None) -> dict:
        """GX suite on the newest raw batch + checks over the training window; raises on critical.

        With `data_version` the run trains on an earlier run's inputs: that run's validation
        record is the check (it must have passed), this week's landing data is not read.
        """
        from retrain.core.features import assemble_window, window_weeks
        from retrain.validation import (
            STAGE,
            ValidationReport,
            raise_if_failed,
            run_window_checks,
            suite_path_for,
        )
        from retrain.validation import partitions as part

        if data_version:
            return self._validated_data_version(data_version)
        ctx, cfg = self.ctx, self.ctx.cfg
        loader = self.loader()
        records, suite = part.PartitionRecords(self.store, ctx.keys), suite_path_for(cfg.data)
        # the newest batch's record (written by evaluate_triggers) is reused while its bytes are unchanged;
        # a batch that never landed -> MissingInputError (fails closed)
        batch_report, _ = part.validate_partition(loader, cfg, ctx.week, suite, records, run=ctx.describe())
        family_stages = getattr(self.family, "validation_stages", None)
        if family_stages is None:
            if part.decoded(batch_report):
                window = assemble_window(loader.batches(window_weeks(ctx.week, cfg.data.window_weeks),
                                                        required=ctx.week))
                stages = [ValidationReport.combine(STAGE, batch_report, run_window_checks(window, cfg.data))]
            else:
                stages = [batch_report]
        else:
            # A family with its own stages (e.g. processed data, features) replaces the generic
            # window checks; the weekly-batch suite still runs first, and the family sees its
            # report so it can stop at the first failed stage (later stages listed as not run).
            stages = [batch_report, *family_stages(loader, cfg, ctx.week, batch_report)]
        if batch_report.passed:  # every older partition read: validated for its exact bytes
            partitions = part.window_partitions_stage(loader, cfg, suite, records, ctx.week, run=ctx.describe())
            if partitions.results:
                stages.insert(1, partitions)
        report = stages[0] if len(stages) == 1 else ValidationReport.combine(
            " + ".join(s.stage for s in stages), *stages)
        key = ctx.artifact("validation.json")
        summary = [stage_summary(i, s) for i, s in enumerate(stages, start=1)]
        self.store.put_json(key, {**ctx.describe(), **report.to_dict(), "stages": summary, "inputs": loader.lineage,
                                  "partitions": loader.partitions})  # inputs: what later tasks must read
        text = report.format_text()
        if len(stages) > 1:
            for s, line in zip(stages, summary, strict=True):
                if report.passed:  # a failure's full text is the task's failure message: logged once
                    log.info("stage %s\n%s", line["line"], s.format_text() if not line.get("not_run") else "")
            text = "\n".join(["Stages:", *(f"  {line['line']}" for line in summary), text])
        if report.passed:
            log.info("%s\nreport: s3://%s/%s", text, self.store.bucket, key)
        uri = f"s3://{self.store.bucket}/{key}"
        if not report.passed and len(stages) > 1:  # the stage list belongs in the failure text too
            from retrain.errors import DataValidationError

            raise DataValidationError(f"{text}\nFull report: {uri}", report={**report.to_dict(), "report_uri": uri})
        raise_if_failed(report, report_uri=uri)
        return {
            "passed": report.passed,
            "warnings": len(report.warnings),
            "failed": report.failed,
            "total": report.total,
            "report_key": key,
        }

    # ---------------------------------------------------------------- earlier data versions
    def data_version_source(self, data_version: str) -> dict:
        """The earlier run a `data_version` names: a model version id (the data that trained it)
        or the content hash of a published version's data window (run_log data_window.content_hash)."""
        from retrain.registry.data_versions import find_data_version

        return find_data_version(self.store, self.ctx.keys, self.ctx.cfg.name, data_version)

    def _source_artifact(self, src: dict, name: str) -> str:
        return self.ctx.keys.run_artifact(dt.date.fromisoformat(src["week"]), src["run_id"], name)

    def _validated_data_version(self, data_version: str) -> dict:
        from retrain.errors import DataValidationError

        ctx = self.ctx
        src = self.data_version_source(data_version)
        source_key = self._source_artifact(src, "validation.json")
        try:
            earlier = self.store.get_json(source_key)
        except ObjectNotFound as exc:
            raise MissingInputError(f"data version {data_version!r}: its run left no validation record "
                                    f"(s3://{self.store.bucket}/{source_key})") from exc
        keep = {k: v for k, v in earlier.items() if k not in ctx.describe()}
        key = ctx.artifact("validation.json")
        self.store.put_json(key, {**ctx.describe(), **keep, "data_version": src,
                                  "validated_in": f"s3://{self.store.bucket}/{source_key}"})
        log.info("data version %s (run %s, week %s): validated in that run: %s", src["content_hash"][:12],
                 src["run_id"], src["week"], earlier.get("status"))
        if not earlier.get("passed"):
            raise DataValidationError(f"data version {data_version!r} failed validation in its run "
                                      f"({source_key}); it cannot be trained on")
        return {"passed": True, "warnings": len(earlier.get("warnings") or []), "failed": earlier.get("failed"),
                "total": earlier.get("total"), "report_key": key, "data_version": src["content_hash"]}

    def _features_of_data_version(self, data_version: str) -> dict:
        """This run's feature files = the earlier run's, byte for byte (fingerprints verified)."""
        from retrain.errors import IntegrityError
        from retrain.storage.integrity import verify

        ctx = self.ctx
        src = self.data_version_source(data_version)
        earlier = self.store.get_json(self._source_artifact(src, "features/manifest.json"))
        if earlier.get("data_hash") != src["content_hash"]:
            raise IntegrityError(f"data version {data_version!r}: the features of run {src['run_id']} "
                                 f"hash to {earlier.get('data_hash')}, its run log says {src['content_hash']}")
        for name, fp in earlier["files"].items():
            data = self.store.get_bytes(self._source_artifact(src, name))
            verify(data, fp, name)
            self.store.put_bytes(ctx.artifact(name), data)
        keep = {k: v for k, v in earlier.items() if k not in ctx.describe()}
        manifest = {**ctx.describe(), **keep, "data_version": src}
        key = ctx.artifact("features/manifest.json")
        self.store.put_json(key, manifest)  # written last, as in build_features
        return {"features_manifest": key, "train_rows": manifest["train_rows"],
                "holdout_rows": manifest["holdout_rows"], "data_hash": manifest["data_hash"],
                "data_version": src}

    # ---------------------------------------------------------------- build_features
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

    def pinned_loader(self):
        """A loader bound to the partitions (key -> sha256) this run's validation read and passed."""
        from retrain.errors import DataValidationError
        from retrain.pipeline.loader import LandingLoader

        key = self.ctx.artifact("validation.json")
        try:
            validation = self.store.get_json(key)
        except ObjectNotFound as exc:
            raise MissingInputError(f"no validation record s3://{self.store.bucket}/{key}: "
                                    "run validate_data before build_features") from exc
        if not validation.get("passed") or not validation.get("inputs"):
            raise DataValidationError(f"s3://{self.store.bucket}/{key} is not a passed validation of this run's "
                                      "inputs: nothing to build features from")
        return LandingLoader(self.store, self.ctx.keys, self.ctx.cfg, pinned=validation["inputs"])

    def _run_file(self, manifest: dict, name: str) -> bytes:
        from retrain.storage.integrity import verify

        data = self.store.get_bytes(self.ctx.artifact(name))
        verify(data, manifest["files"][name], name)
        return data

    def _run_frame(self, manifest: dict, name: str):
        from retrain.core.frames import from_bytes

        return from_bytes(self._run_file(manifest, name), "parquet", name=name)

    def _run_model(self, manifest: dict, name: str):
        from retrain.storage.integrity import loads_verified

        return loads_verified(self.store.get_bytes(self.ctx.artifact(name)), manifest["files"][name], name)

    def _version_frame(self, version: str, name: str):
        from retrain import registry
        from retrain.core.frames import from_bytes

        return from_bytes(registry.load_verified(self.store, self.ctx.keys, version, name), "parquet", name=name)

    # ---------------------------------------------------------------- train
    def train(self) -> dict:
        from retrain.core.frames import to_bytes
        from retrain.core.training import train_candidates
        from retrain.storage.integrity import dumps_model, fingerprint

        ctx, cfg = self.ctx, self.ctx.cfg
        features = self.store.get_json(ctx.artifact("features/manifest.json"))
        train = self._run_frame(features, "features/train.parquet")
        holdout = self._run_frame(features, "features/holdout.parquet")
        preprocessor = self._run_model(features, "features/preprocessor.joblib")
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

    # ---------------------------------------------------------------- evaluation_gate
    def evaluation_gate(self) -> dict:
        """Challenger and champion scored on the same holdout, in this run; the record is the decision."""
        from retrain import registry
        from retrain.core.bootstrap import PairedHoldout, settings_from_metrics_config
        from retrain.core.gate import evaluate_gate, format_comparison

        ctx, cfg = self.ctx, self.ctx.cfg
        features = self.store.get_json(ctx.artifact("features/manifest.json"))
        challenger_manifest = self.store.get_json(ctx.artifact("challenger/manifest.json"))
        holdout = self._run_frame(features, "features/holdout.parquet")
        feats = self.family.feature_columns(cfg)
        y = self.family.target(holdout, cfg)
        challenger = self._run_model(challenger_manifest, "challenger/model.joblib")
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

    # ---------------------------------------------------------------- promote
    def promote(self) -> dict:
        """Publish the blessed challenger as an immutable version, then move the slots (one write)."""
        from retrain import registry

        ctx = self.ctx
        gate = self.store.get_json(ctx.artifact("gate.json"))
        if not gate.get("passed"):  # the gate decided; promotion never decides again
            raise GateRejected(f"gate.json for run {ctx.run_id} is not a pass; nothing to promote")
        slots, _ = registry.read_slots(self.store, ctx.keys)
        version, current = ctx.version, (slots.champion if slots else None)
        if current is not None and current.run_id == ctx.run_id and current.week == ctx.week.isoformat():
            version = current.version  # this run's version (maybe a superseding revision) is champion already
        elif registry.judge_promotion(slots, version, ctx.week.isoformat()) is None and (
            gate.get("champion_version") != (current.version if current else None)
        ):  # a cleared re-run must not act on a decision taken against another champion
            log.warning("gate.json compared against champion %s, the champion is now %s: re-running the gate",
                        gate.get("champion_version"), current.version if current else None)
            self.evaluation_gate()  # GateRejected if the challenger does not beat the current champion
            gate = self.store.get_json(ctx.artifact("gate.json"))
        manifest = self.store.get_json(ctx.artifact("challenger/manifest.json"))
        files = {
            "model.joblib": self._run_file(manifest, "challenger/model.joblib"),
            "reference.parquet": self._run_file(manifest, "challenger/reference.parquet"),
            "canary.parquet": self._run_file(manifest, "challenger/canary.parquet"),
            "canary_predictions.json": self.store.get_bytes(ctx.artifact("challenger/canary_predictions.json")),
            "run_log.json": self.store.get_bytes(ctx.artifact("run_log.json")),
            "gate.json": self.store.get_bytes(ctx.artifact("gate.json")),
        }
        # A cleared re-run whose promotion is already decided (superseded by a newer champion, or
        # already the champion) must not re-publish: its re-run gate.json differs from the published
        # one and versions are immutable. registry.promote judges before it verifies the version.
        recorded_before = self.store.exists(ctx.artifact("promotion.json"))  # else an earlier try died unrecorded
        if version == ctx.version and registry.judge_promotion(slots, version, ctx.week.isoformat()) is None:
            version = registry.publish_run_version(  # a superseding revision if a crash left a stale one
                self.store, ctx.keys, ctx.week, ctx.run_id, files,
                metadata={**ctx.describe(), "winner": manifest.get("winner")}, actor=self.actor(),
            )["version"]
        result = registry.promote(
            self.store, ctx.keys, version, ctx.week, ctx.run_id,
            reason=f"weekly retrain for {ctx.week.isoformat()} passed the evaluation gate",
            actor=self.actor(), gate_champion=gate.get("champion_version"),
        )
        record = {**ctx.describe(), "version": version, "status": result.status, "message": result.message}
        self.store.put_json(ctx.artifact("promotion.json"), record)
        log.info("promotion of %s: %s (%s)", version, result.status, result.message)
        return {"version": version, "status": result.status, "message": result.message,
                "champion_event": champion_event(result, None if recorded_before else ctx.run_id)}

    def promoted_version(self) -> str:
        """The version this run promoted (a superseding revision differs from ctx.version)."""
        promotion = self._record("promotion.json") or {}
        return promotion.get("version") or self.ctx.version

    def actor(self, kind: str = "dag_run") -> dict:
        return {"type": kind, "dag_id": self.ctx.dag_id, "run_id": self.ctx.run_id, **self.ctx.triggered_by}

    # ---------------------------------------------------------------- smoke_test / rollback
    def smoke_test(self) -> dict:
        """Load the champion exactly as a serving process would and replay its canary predictions."""
        from retrain.pipeline.smoke import smoke_test_champion

        version = self.promoted_version()
        result = smoke_test_champion(self.store, self.ctx.keys, self.ctx.cfg, expected_version=version)
        if result["status"] == "rolled_back":  # a cleared re-run after a rollback: keep the first verdict
            prior = self._record("smoke_test.json") or {}
            if prior.get("status") == "failed":
                result["reason"] = f"rolled back: smoke test failed ({prior.get('reason')})"
            elif prior.get("status") == "rolled_back":
                result["reason"] = prior.get("reason") or result["reason"]
        self.store.put_json(self.ctx.artifact("smoke_test.json"), {**self.ctx.describe(), **result})
        if result["status"] in ("failed", "rolled_back"):
            raise SmokeTestFailed(f"smoke test of {version} failed: {result['reason']}"
                                  if result["status"] == "failed" else f"{version}: {result['reason']}")
        return result

    def rollback_after_failed_smoke_test(self) -> dict:
        from retrain import registry

        version = self.promoted_version()
        result = registry.rollback(
            self.store, self.ctx.keys,
            reason=f"automatic: smoke test failed for {version}",
            actor=self.actor("automatic_rollback"),
            run_id=self.ctx.run_id,
            expected_champion=version,
        )
        record = {**self.ctx.describe(), "status": result.status, "message": result.message}
        self.store.put_json(self.ctx.artifact("rollback.json"), record)
        return {**record, "champion_event": champion_event(result)}

    def manual_rollback(self, reason: str, to_version: str | None, dry_run: bool,
                        allow_failed_smoke_test: bool = False) -> dict:
        """On-call rollback: verify, load and replay the target's canary first, then one conditional swap."""
        from retrain.pipeline.oncall import manual_rollback

        out = manual_rollback(self.store, self.ctx.keys, self.ctx.cfg, reason=reason, to_version=to_version,
                              dry_run=dry_run, allow_failed_smoke_test=allow_failed_smoke_test,
                              actor=self.actor("manual_rollback"), run_id=self.ctx.run_id)
        log.info("rollback of %s: %s", self.ctx.cfg.name, out)
        return out

    def smoke_test_current(self, rollback_result: dict) -> dict:
        """Smoke test after the on-call swap; restores the champion from before it if it fails."""
        from retrain.pipeline.oncall import smoke_test_or_restore

        return smoke_test_or_restore(self.store, self.ctx.keys, self.ctx.cfg, rollback_result,
                                     self.actor("manual_rollback"), self.ctx.run_id)

    def promoted_by_this_run(self) -> bool:
        """True only if this run's promotion landed and its version is still the champion."""
        from retrain import registry

        try:
            promotion = self.store.get_json(self.ctx.artifact("promotion.json"))
        except ObjectNotFound:
            return False
        champion = registry.champion(self.store, self.ctx.keys)
        return (promotion.get("status") in ("promoted", "already_promoted")
                and champion is not None and champion.version == (promotion.get("version") or self.ctx.version))

    # ---------------------------------------------------------------- record_outcome
    def _record(self, name: str) -> dict | None:
        try:
            return self.store.get_json(self.ctx.artifact(name))
        except ObjectNotFound:
            return None

    def record_outcome(self, task_states: dict[str, str | None]) -> dict:
        """Summarise the run from its task states and records: one `outcome.json` per run."""
        from retrain import registry
        from retrain.core.outcome import summarise

        records = {name: self._record(f"{name}.json") for name in OUTCOME_RECORDS}
        champion = registry.champion(self.store, self.ctx.keys)
        outcome = summarise(task_states, records, self.promoted_version())
        record = {
            **self.ctx.describe(),
            **outcome,
            "champion_after": champion.version if champion else None,
            "task_states": task_states,
            "run_prefix": self.ctx.keys.run_prefix(self.ctx.week, self.ctx.run_id),
            "bucket": self.store.bucket,
            "bundle_version": bundle_version(),  # the code that ran this (last) attempt: always the installed one
        }
        self.store.put_json(self.ctx.artifact("outcome.json"), record)
        from retrain.monitoring.index import index_entry, update_index

        update_index(self.store, self.ctx.keys, index_entry(record, records))  # the page reads this
        log.info("run outcome: %s (%s); champion now %s", outcome["outcome"], outcome["reason"],
                 record["champion_after"])
        return record


def stage_summary(step: int, report) -> dict:
    """One validation stage as listed in validation.json and the log: counts, or why it did not run."""
    not_run = (report.meta or {}).get("not_run")
    status = "NOT RUN" if not_run else report.status
    line = f"{step}. {report.stage}: {status}"
    line += f" ({not_run})" if not_run else f" ({report.successful}/{report.total} passed, {report.failed} failed)"
    return {
        "step": step,
        "stage": report.stage,
        "status": status,
        "not_run": not_run,
        "total": report.total,
        "successful": report.successful,
        "failed": report.failed,
        "critical_failures": [r.label for r in report.critical_failures],
        "warnings": [r.label for r in report.warnings],
        "line": line,
    }


def missing_columns_message(exc: KeyError) -> str:
    """pandas says "['a', 'b'] not in index"; say which required columns the batch lacks."""
    text = str(exc.args[0]) if exc.args else str(exc)
    found = re.search(r"(\[.*\]) not in index", text)
    return f"missing required columns {found.group(1)}" if found else f"missing required column {text!r}"


def champion_event(result, unannounced_run: str | None = None) -> dict | None:
    """The champion asset event a registry call warrants: only when it moved the pointer itself.

    `unannounced_run`: a retried promote whose earlier try moved the pointer but died before
    recording it (so never emitted: Airflow emits for successful tries only) gets
    `already_promoted` back; if the slots were last written by that run, announce it now. A
    cleared re-run of a recorded promotion passes None and stays silent.
    """
    from retrain.airflow import assets

    if result.slots is None:
        return None
    if result.status in ("promoted", "rolled_back"):
        return assets.champion_event(result.slots)
    by = result.slots.updated_by or {}
    if result.status == "already_promoted" and unannounced_run and by.get("run_id") == unannounced_run \
            and by.get("action") == "promote":
        return assets.champion_event(result.slots)
    return None  # already_promoted / superseded / already_rolled_back / skipped / dry_run


OUTCOME_RECORDS = ("decision", "skip", "validation", "gate", "promotion", "smoke_test", "rollback", "approval")


def bundle_version() -> str:
    """Package version plus the git commit when known (baked into the image as RETRAIN_GIT_COMMIT)."""
    commit = os.environ.get("RETRAIN_GIT_COMMIT")
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
    return f"{__version__}+{commit}"


__all__ = ["RunContext", "Steps", "bundle_version", "ObjectNotFound", "sha256_hex"]
