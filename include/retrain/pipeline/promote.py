"""promote: publish the blessed challenger as an immutable version, then move the slots (one
write); a decision taken against another champion is re-evaluated first.
"""

from __future__ import annotations

import logging

from retrain.errors import GateRejected
from retrain.pipeline.evaluation_gate import EvaluationGate
from retrain.pipeline.run import champion_event

log = logging.getLogger(__name__)


class Promote(EvaluationGate):
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
            "model.joblib": self.run_file(manifest, "challenger/model.joblib"),
            "reference.parquet": self.run_file(manifest, "challenger/reference.parquet"),
            "canary.parquet": self.run_file(manifest, "challenger/canary.parquet"),
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
