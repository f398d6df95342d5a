"""Smoke test of the champion, done the way a serving process loads it.

Read the slots object, fetch the champion's files, verify every checksum against the
manifest, deserialize, score the canary rows stored with the version and compare with the
predictions recorded at training time. Optionally poll a serving health URL until it reports
the version.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from retrain.config import ModelConfig
from retrain.keys import Keys
from retrain.storage import S3Store

log = logging.getLogger(__name__)


def smoke_test_champion(store: S3Store, keys: Keys, cfg: ModelConfig, expected_version: str | None = None) -> dict:
    """The champion's verdict: passed / failed, or skipped (a newer run promoted) or rolled_back
    (the expected version was rolled back away from: never a success). Transient storage errors
    propagate so the task retries; only a verdict on the model fails the smoke test."""
    from retrain import registry

    slots, _ = registry.read_slots(store, keys)
    champion = slots.champion if slots else None
    if champion is None:
        return {"status": "failed", "reason": "the registry has no champion", "version": None}
    if expected_version and champion.version != expected_version:
        rolled_back = rollback_of(store, keys, slots, expected_version)
        if rolled_back is not None:
            return {"status": "rolled_back", "version": champion.version, "rolled_back_version": expected_version,
                    "reason": rolled_back}
        return {
            "status": "skipped",
            "reason": f"champion is {champion.version}, not {expected_version} (a newer run promoted)",
            "version": champion.version,
        }
    result = smoke_test_version(store, keys, cfg, champion.version)
    if result["status"] == "passed" and cfg.registry.health_url:
        result["health"] = poll_health(cfg.registry.health_url, champion.version)
        if result["health"]["status"] != "ok":
            result.update(status="failed", reason=f"serving never reported {champion.version}")
    return result


def smoke_test_version(store: S3Store, keys: Keys, cfg: ModelConfig, version: str) -> dict:
    """Load one version as a serving process would (verified bytes) and replay its canary.

    Verdicts (status "failed"): bytes refused (IntegrityError), not published, model does not
    deserialize or score, canary predictions differ. Anything transient propagates.
    """
    from retrain import registry
    from retrain.core.frames import from_bytes
    from retrain.errors import DeterministicError, ModelLoadError, TransientStorageError
    from retrain.families import get_family
    from retrain.storage.integrity import loads_verified

    family = get_family(cfg.family)
    try:
        with tempfile.TemporaryDirectory(prefix="retrain-smoke-") as tmp:
            manifest = registry.materialize(store, keys, version, Path(tmp))
            files = manifest["files"]
            model = loads_verified((Path(tmp) / "model.joblib").read_bytes(), files["model.joblib"], "model.joblib")
            canary = from_bytes((Path(tmp) / "canary.parquet").read_bytes(), "parquet", name="canary.parquet")
            expected = np.asarray(json.loads((Path(tmp) / "canary_predictions.json").read_text()), dtype=float)
        try:
            got = np.asarray(family.score(model, canary[family.feature_columns(cfg)]), dtype=float)
        except TransientStorageError:
            raise
        except Exception as exc:  # broad ok: scoring in-memory canary rows touches no storage; a failure is the model's verdict
            raise ModelLoadError(f"{version} does not score its canary rows: {exc!r}") from exc
    except DeterministicError as exc:  # verdicts only: TransientStorageError is not one and propagates
        return {"status": "failed", "reason": str(exc), "version": version}
    except (KeyError, ValueError) as exc:  # the version's own files lack the canary/predictions: a verdict
        return {"status": "failed", "reason": f"{version}: unusable canary files: {exc!r}", "version": version}
    if got.shape != expected.shape:
        return {"status": "failed", "version": version,
                "reason": f"canary produced {got.shape[0]} predictions, {expected.shape[0]} were recorded"}
    max_diff = float(np.max(np.abs(got - expected))) if len(got) else 0.0
    if not np.isfinite(got).all() or max_diff > cfg.registry.smoke_tolerance:
        return {"status": "failed", "version": version, "max_abs_diff": max_diff,
                "reason": f"canary predictions differ from the recorded ones by up to {max_diff:.3g}"}
    return {"status": "passed", "version": version, "canary_rows": len(got), "max_abs_diff": max_diff}


def rollback_of(store: S3Store, keys: Keys, slots, version: str) -> str | None:
    """Why `version` is no longer champion if a rollback moved away from it (None if it was
    superseded by a newer promotion instead). Derived from the slots' retired set and the audit log."""
    from retrain import registry

    if version not in slots.retired and not (
        slots.updated_by.get("action") == "rollback" and slots.updated_by.get("from_version") == version
    ):
        return None
    records = [e for e in registry.history(store, keys)
               if e.get("outcome") == "applied" and e.get("action") == "rollback" and e.get("from_version") == version]
    if not records:
        return f"rolled back: {version} was rolled back (champion now {slots.champion.version})"
    last = records[-1]
    who = (last.get("actor") or {}).get("type", "?")
    return (f"rolled back: {last.get('reason')} ({who}, generation {last.get('generation_after')}, "
            f"champion now {slots.champion.version})")


def poll_health(url: str, version: str, attempts: int = 10, delay: float = 3.0) -> dict:
    """Bounded polling of a serving endpoint that answers JSON with a `model_version` field."""
    last = None
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (configured URL)
                last = json.loads(resp.read() or b"{}")
            if last.get("model_version") == version:
                return {"status": "ok", "attempts": attempt, "response": last}
        except (OSError, ValueError) as exc:
            last = {"error": str(exc)}
        time.sleep(delay)
    return {"status": "timeout", "attempts": attempts, "response": last}
