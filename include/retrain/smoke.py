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
    from retrain import registry
    from retrain.artifacts import loads_verified
    from retrain.errors import RetrainError
    from retrain.families import get_family
    from retrain.frames import from_bytes

    slots, _ = registry.read_slots(store, keys)
    champion = slots.champion if slots else None
    if champion is None:
        return {"status": "failed", "reason": "the registry has no champion", "version": None}
    if expected_version and champion.version != expected_version:
        return {
            "status": "skipped",
            "reason": f"champion is {champion.version}, not {expected_version} (a newer run promoted)",
            "version": champion.version,
        }
    family = get_family(cfg.family)
    try:
        with tempfile.TemporaryDirectory(prefix="retrain-smoke-") as tmp:
            manifest = registry.materialize(store, keys, champion.version, Path(tmp))
            files = manifest["files"]
            model = loads_verified((Path(tmp) / "model.joblib").read_bytes(), files["model.joblib"], "model.joblib")
            canary = from_bytes((Path(tmp) / "canary.parquet").read_bytes(), "parquet", name="canary.parquet")
            expected = np.asarray(json.loads((Path(tmp) / "canary_predictions.json").read_text()), dtype=float)
        got = np.asarray(family.score(model, canary[family.feature_columns(cfg)]), dtype=float)
    except RetrainError as exc:
        return {"status": "failed", "reason": str(exc), "version": champion.version}
    if got.shape != expected.shape:
        return {"status": "failed", "version": champion.version,
                "reason": f"canary produced {got.shape[0]} predictions, {expected.shape[0]} were recorded"}
    max_diff = float(np.max(np.abs(got - expected))) if len(got) else 0.0
    if not np.isfinite(got).all() or max_diff > cfg.registry.smoke_tolerance:
        return {"status": "failed", "version": champion.version, "max_abs_diff": max_diff,
                "reason": f"canary predictions differ from the recorded ones by up to {max_diff:.3g}"}
    result = {"status": "passed", "version": champion.version, "canary_rows": len(got), "max_abs_diff": max_diff}
    if cfg.registry.health_url:
        result["health"] = poll_health(cfg.registry.health_url, champion.version)
        if result["health"]["status"] != "ok":
            result.update(status="failed", reason=f"serving never reported {champion.version}")
    return result


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
