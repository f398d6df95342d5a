"""record_outcome: summarise the run from its task states and records (one outcome.json per
run) and update the monitoring index.
"""

from __future__ import annotations

import logging

from retrain.pipeline.run import Run, bundle_version

log = logging.getLogger(__name__)


OUTCOME_RECORDS = ("decision", "skip", "validation", "gate", "promotion", "smoke_test", "rollback", "approval")


class RecordOutcome(Run):
    def record_outcome(self, task_states: dict[str, str | None]) -> dict:
        """Summarise the run from its task states and records: one `outcome.json` per run."""
        from retrain import registry
        from retrain.core.outcome import summarise

        records = {name: self.record(f"{name}.json") for name in OUTCOME_RECORDS}
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
