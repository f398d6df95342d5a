"""Failure alerts: one per failed run, sent by the run's single leaf task."""

from __future__ import annotations

import logging

from retrain.config import ModelConfig

log = logging.getLogger(__name__)


def failure_notifier(cfg: ModelConfig):
    """The on_failure_callback for a model's leaf tasks (logging until alerts are configured)."""

    def _log_failure(context) -> None:
        ti = context.get("ti") or context.get("task_instance")
        log.error("ALERT %s run %s task %s failed: %s", cfg.name, context.get("run_id"),
                  getattr(ti, "task_id", "?"), context.get("exception"))

    return _log_failure
