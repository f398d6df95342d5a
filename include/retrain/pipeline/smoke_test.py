"""smoke_test: load the champion exactly as a serving process would and replay its canary.
"""

from __future__ import annotations

from retrain.errors import SmokeTestFailed
from retrain.pipeline.run import Run


class SmokeTest(Run):
    def smoke_test(self) -> dict:
        """Load the champion exactly as a serving process would and replay its canary predictions."""
        from retrain.pipeline.smoke import smoke_test_champion

        version = self.promoted_version()
        result = smoke_test_champion(self.store, self.ctx.keys, self.ctx.cfg, expected_version=version)
        if result["status"] == "rolled_back":  # a cleared re-run after a rollback: keep the first verdict
            prior = self.record("smoke_test.json") or {}
            if prior.get("status") == "failed":
                result["reason"] = f"rolled back: smoke test failed ({prior.get('reason')})"
            elif prior.get("status") == "rolled_back":
                result["reason"] = prior.get("reason") or result["reason"]
        self.store.put_json(self.ctx.artifact("smoke_test.json"), {**self.ctx.describe(), **result})
        if result["status"] in ("failed", "rolled_back"):
            raise SmokeTestFailed(f"smoke test of {version} failed: {result['reason']}"
                                  if result["status"] == "failed" else f"{version}: {result['reason']}")
        return result
