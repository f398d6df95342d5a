"""rollback: the weekly DAG's automatic rollback after a failed smoke test, and the on-call
rollback DAG's verified swap and its smoke test (retrain.pipeline.oncall).
"""

from __future__ import annotations

import logging

from retrain.pipeline.run import Run, champion_event

log = logging.getLogger(__name__)


class Rollback(Run):
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
