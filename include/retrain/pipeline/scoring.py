"""The champion's consumer: score the newest landed batch with the champion, as serving would.

`score_<model>` runs on every `<model>_champion` asset event (and by hand). It reads the slots
object, downloads the champion with `registry.materialize` (every file checked against the
version's manifest, the model unpickled only after its checksum matched: the smoke test's
loading path), scores the newest landed week and writes

    {prefix}/predictions/{model}/week=YYYY-MM-DD/version={version}/predictions.parquet
    {prefix}/predictions/{model}/week=YYYY-MM-DD/version={version}/manifest.json   (written last)

Keys come from the data week and the version, so scoring the same week with the same champion
again rewrites the same bytes; a new champion writes beside the old one.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tempfile
from pathlib import Path

from retrain.config import ModelConfig
from retrain.errors import MissingInputError, RegistryError
from retrain.keys import Keys
from retrain.storage import S3Store

log = logging.getLogger(__name__)

_WEEK = re.compile(r"/week=(\d{4}-\d{2}-\d{2})/batch\.[a-z]+$")


def newest_landed_week(store: S3Store, keys: Keys, fmt: str) -> dt.date:
    """The latest week whose batch object has landed (the batch serving would score next)."""
    weeks = sorted(
        dt.date.fromisoformat(m.group(1))
        for key in store.list_keys(keys.landing_prefix())
        if (m := _WEEK.search(key)) and key.endswith(f"batch.{fmt}")
    )
    if not weeks:
        raise MissingInputError(f"no landed batch under s3://{store.bucket}/{keys.landing_prefix()}")
    return weeks[-1]


def load_champion(store: S3Store, keys: Keys):
    """(slots, model): the champion downloaded and verified exactly as the smoke test loads it."""
    from retrain import registry
    from retrain.storage.integrity import loads_verified

    slots, _ = registry.read_slots(store, keys)
    if slots is None or slots.champion is None:
        raise RegistryError(f"{keys.model} has no champion: nothing to score with")
    version = slots.champion.version
    with tempfile.TemporaryDirectory(prefix="retrain-score-") as tmp:
        manifest = registry.materialize(store, keys, version, Path(tmp))
        path = Path(tmp) / registry.MODEL_FILE
        model = loads_verified(path.read_bytes(), manifest["files"][registry.MODEL_FILE], registry.MODEL_FILE)
    return slots, model


def score_newest_batch(store: S3Store, keys: Keys, cfg: ModelConfig, run_id: str,
                       triggering_events: list[dict] | None = None) -> dict:
    """Score the newest landed week with the current champion; returns the predictions manifest."""
    import pandas as pd

    from retrain.core.frames import to_bytes
    from retrain.families import get_family
    from retrain.pipeline.loader import LandingLoader
    from retrain.pipeline.run import bundle_version
    from retrain.storage.integrity import fingerprint

    slots, model = load_champion(store, keys)
    version = slots.champion.version
    family = get_family(cfg.family)
    week = newest_landed_week(store, keys, cfg.data.format)
    loader = LandingLoader(store, keys, cfg)
    batch = family.batch_frame(loader, cfg, week)
    scores = family.score(model, batch[family.feature_columns(cfg)])
    frame = pd.DataFrame({"score": scores})
    if cfg.data.id_column and cfg.data.id_column in batch.columns:
        frame.insert(0, cfg.data.id_column, batch[cfg.data.id_column].to_numpy())
    frame["model_version"] = version
    data = to_bytes(frame)
    key = keys.predictions(week, version, "predictions.parquet")
    store.put_bytes(key, data)
    manifest = {
        "model": cfg.name,
        "version": version,
        "generation": slots.generation,
        "week": week.isoformat(),
        "rows": len(frame),
        "files": {"predictions.parquet": fingerprint(data)},
        "inputs": loader.lineage,
        "run_id": run_id,
        "bundle_version": bundle_version(),
        # what announced the champion (None for a manual run); the slots object is authoritative
        "triggering_events": triggering_events or [],
    }
    store.put_json(keys.predictions(week, version, "manifest.json"), manifest)  # last: marks it complete
    log.info("scored %d rows of week %s with %s (generation %d)", len(frame), week, version, slots.generation)
    return {"version": version, "generation": slots.generation, "week": week.isoformat(), "rows": len(frame),
            "predictions_key": key}
