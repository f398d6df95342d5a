"""What every task of a run shares: the RunContext (derived from the DAG run, never the clock),
the store, the model family, loaders, and verified reads of this run's and the registry's files.

Each task (one module per task id in this package) reads and writes only keys derived from the run
(data week + run id), so a cleared task re-run, or a replayed week, rewrites the same objects with the
same content. Tasks return small JSON-able dicts (keys and decisions) for XCom; DataFrames and models
stay in S3. No Airflow imports here: retrain.airflow.tasks adapts these to Airflow.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from retrain import __version__
from retrain.config import ModelConfig, Settings
from retrain.errors import MissingInputError
from retrain.keys import Keys, version_id
from retrain.storage import ObjectNotFound, S3Store


@dataclass(frozen=True)
class RunContext:
    """What a task knows about its run: derived from the DAG run, never from the clock."""

    cfg: ModelConfig
    settings: Settings
    week: dt.date  # Monday of the data week (the run's data interval)
    run_id: str
    data_interval: tuple[str, str]
    logical_date: str | None = None
    dag_id: str = ""
    triggered_by: dict = field(default_factory=dict)

    @property
    def keys(self) -> Keys:
        return Keys(self.cfg.name, self.settings.prefix)

    def artifact(self, name: str) -> str:
        return self.keys.run_artifact(self.week, self.run_id, name)

    @property
    def version(self) -> str:
        return version_id(self.week, self.run_id)

    def describe(self) -> dict:
        return {
            "model": self.cfg.name,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "week": self.week.isoformat(),
            "data_interval": list(self.data_interval),
            "logical_date": self.logical_date,
        }


class Run:
    """One run's context and store; the tasks' shared reads."""

    def __init__(self, ctx: RunContext, store: S3Store | None = None):
        self.ctx = ctx
        self.store = store or S3Store(ctx.settings)

    @cached_property
    def family(self):
        from retrain.families import get_family

        return get_family(self.ctx.cfg.family)

    def loader(self):
        from retrain.pipeline.loader import LandingLoader

        return LandingLoader(self.store, self.ctx.keys, self.ctx.cfg)

    def pinned_loader(self):
        """A loader bound to the partitions (key -> sha256) this run's validation read and passed."""
        from retrain.errors import DataValidationError
        from retrain.pipeline.loader import LandingLoader

        key = self.ctx.artifact("validation.json")
        try:
            validation = self.store.get_json(key)
        except ObjectNotFound as exc:
            raise MissingInputError(f"no validation record s3://{self.store.bucket}/{key}: "
                                    "run validate_data before build_features") from exc
        if not validation.get("passed") or not validation.get("inputs"):
            raise DataValidationError(f"s3://{self.store.bucket}/{key} is not a passed validation of this run's "
                                      "inputs: nothing to build features from")
        return LandingLoader(self.store, self.ctx.keys, self.ctx.cfg, pinned=validation["inputs"])

    def run_file(self, manifest: dict, name: str) -> bytes:
        from retrain.storage.integrity import verify

        data = self.store.get_bytes(self.ctx.artifact(name))
        verify(data, manifest["files"][name], name)
        return data

    def run_frame(self, manifest: dict, name: str):
        from retrain.core.frames import from_bytes

        return from_bytes(self.run_file(manifest, name), "parquet", name=name)

    def run_model(self, manifest: dict, name: str):
        from retrain.storage.integrity import loads_verified

        return loads_verified(self.store.get_bytes(self.ctx.artifact(name)), manifest["files"][name], name)

    def version_frame(self, version: str, name: str):
        from retrain import registry
        from retrain.core.frames import from_bytes

        return from_bytes(registry.load_verified(self.store, self.ctx.keys, version, name), "parquet", name=name)

    def data_version_source(self, data_version: str) -> dict:
        """The earlier run a `data_version` names: a model version id (the data that trained it)
        or the content hash of a published version's data window (run_log data_window.content_hash)."""
        from retrain.registry.data_versions import find_data_version

        return find_data_version(self.store, self.ctx.keys, self.ctx.cfg.name, data_version)

    def source_artifact(self, src: dict, name: str) -> str:
        return self.ctx.keys.run_artifact(dt.date.fromisoformat(src["week"]), src["run_id"], name)

    def actor(self, kind: str = "dag_run") -> dict:
        return {"type": kind, "dag_id": self.ctx.dag_id, "run_id": self.ctx.run_id, **self.ctx.triggered_by}

    def record(self, name: str) -> dict | None:
        try:
            return self.store.get_json(self.ctx.artifact(name))
        except ObjectNotFound:
            return None

    def promoted_version(self) -> str:
        """The version this run promoted (a superseding revision differs from ctx.version)."""
        promotion = self.record("promotion.json") or {}
        return promotion.get("version") or self.ctx.version

    def promoted_by_this_run(self) -> bool:
        """True only if this run's promotion landed and its version is still the champion."""
        from retrain import registry

        try:
            promotion = self.store.get_json(self.ctx.artifact("promotion.json"))
        except ObjectNotFound:
            return False
        champion = registry.champion(self.store, self.ctx.keys)
        return (promotion.get("status") in ("promoted", "already_promoted")
                and champion is not None and champion.version == (promotion.get("version") or self.ctx.version))


def champion_event(result, unannounced_run: str | None = None) -> dict | None:
    """The champion asset event a registry call warrants: only when it moved the pointer itself.

    `unannounced_run`: a retried promote whose earlier try moved the pointer but died before
    recording it (so never emitted: Airflow emits for successful tries only) gets
    `already_promoted` back; if the slots were last written by that run, announce it now. A
    cleared re-run of a recorded promotion passes None and stays silent.
    """
    from retrain.airflow import assets

    if result.slots is None:
        return None
    if result.status in ("promoted", "rolled_back"):
        return assets.champion_event(result.slots)
    by = result.slots.updated_by or {}
    if result.status == "already_promoted" and unannounced_run and by.get("run_id") == unannounced_run \
            and by.get("action") == "promote":
        return assets.champion_event(result.slots)
    return None  # already_promoted / superseded / already_rolled_back / skipped / dry_run


def bundle_version() -> str:
    """Package version plus the git commit when known (baked into the image as RETRAIN_GIT_COMMIT)."""
    commit = os.environ.get("RETRAIN_GIT_COMMIT")
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
    return f"{__version__}+{commit}"
