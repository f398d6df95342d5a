"""`Steps`: every task of a run on one object, for the Airflow adapter (retrain.airflow.tasks), the
benchmarks and the tests. The logic lives in one module per task id; this is only their union.
"""

from __future__ import annotations

from retrain.pipeline.build_features import BuildFeatures
from retrain.pipeline.evaluate_triggers import EvaluateTriggers
from retrain.pipeline.promote import Promote
from retrain.pipeline.record_outcome import RecordOutcome
from retrain.pipeline.rollback import Rollback
from retrain.pipeline.run import RunContext, bundle_version
from retrain.pipeline.smoke_test import SmokeTest
from retrain.pipeline.train import Train
from retrain.pipeline.validate_data import ValidateData
from retrain.storage import ObjectNotFound, sha256_hex


class Steps(EvaluateTriggers, ValidateData, BuildFeatures, Train, Promote, SmokeTest, Rollback, RecordOutcome):
    """All tasks of one run (evaluation_gate comes with Promote, which may re-run it)."""


__all__ = ["RunContext", "Steps", "bundle_version", "ObjectNotFound", "sha256_hex"]
