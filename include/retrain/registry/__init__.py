"""The model registry in S3: immutable versions, one slots object, an append-only audit log.

Layout (see retrain.keys)::

    registry/{model}/versions/{version}/{file}        immutable, written with If-None-Match
    registry/{model}/versions/{version}/manifest.json written LAST: {version, model,
                                                      created_for_week, run_id, files: {name:
                                                      {sha256, size}}, metadata}; a version without
                                                      it is invisible and can never be pointed at
    registry/{model}/slots.json                       {model, champion, previous, generation,
                                                      updated_by}: the only mutable object, changed
                                                      by ONE conditional write per promotion or
                                                      rollback (If-Match the ETag read at the start,
                                                      If-None-Match when absent), never blindly retried
    registry/{model}/audit/{event}.json               one record per event (retrain.registry.audit)

Invariants: the champion always names a version whose manifest verified (every file present with
the recorded sha256 and size) at the moment it was pointed at; the previous slot is the champion
it replaced; bytes are checked against the manifest before they are returned, and
`load_verified_model` is the only place that unpickles. Every public function can be re-run after
a crash at any point and converges to the state of an uninterrupted run.
"""

from retrain.registry.audit import history, now_iso  # noqa: F401
from retrain.registry.promotion import MAX_REVISIONS, judge_promotion, promote, publish_run_version  # noqa: F401
from retrain.registry.rollback import RollbackPlan, plan_rollback, rollback  # noqa: F401
from retrain.registry.slots import (  # noqa: F401
    ALREADY_PROMOTED,
    ALREADY_ROLLED_BACK,
    DRY_RUN,
    PROMOTED,
    ROLLED_BACK,
    SKIPPED,
    SUPERSEDED,
    PromotionResult,
    RollbackResult,
    Slot,
    Slots,
    champion,
    cli_actor,
    dag_run_actor,
    read_slots,
    record_refusal,
)
from retrain.registry.versions import (  # noqa: F401
    MANIFEST_FILE,
    MODEL_FILE,
    VERSION_FILES,
    UnsafeNameError,
    VersionContentDiffers,
    VersionNotPublished,
    check_file_name,
    check_version,
    load_verified,
    load_verified_model,
    materialize,
    publish_version,
    read_manifest,
    revision_run_key,
    verify_version,
)

__all__ = [
    "MANIFEST_FILE",
    "MODEL_FILE",
    "VERSION_FILES",
    "PromotionResult",
    "RollbackResult",
    "Slot",
    "Slots",
    "UnsafeNameError",
    "champion",
    "check_file_name",
    "check_version",
    "cli_actor",
    "dag_run_actor",
    "history",
    "load_verified",
    "load_verified_model",
    "materialize",
    "plan_rollback",
    "promote",
    "publish_run_version",
    "record_refusal",
    "publish_version",
    "read_manifest",
    "read_slots",
    "rollback",
    "verify_version",
]
