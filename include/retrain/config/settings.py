"""Deployment settings, read from the environment: the same image runs in dev, staging and prod.

Settings (bucket, prefix, S3 connection, environment name) and the two directories the
bundle reads its files from: model configs (RETRAIN_MODELS_DIR) and expectation suites
(RETRAIN_EXPECTATIONS_DIR), by default the ones shipped next to the code in include/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from retrain.errors import ConfigError

PROJECT_INCLUDE = Path(__file__).resolve().parents[2]  # include/ (this file: include/retrain/config/)
DEFAULT_MODELS_DIR = PROJECT_INCLUDE / "models"
DEFAULT_EXPECTATIONS_DIR = PROJECT_INCLUDE / "expectations"


@dataclass(frozen=True)
class Settings:
    """Where the bundle keeps its objects: one bucket and prefix per environment."""

    bucket: str
    prefix: str = ""
    aws_conn_id: str = "aws_default"
    environment: str = "dev"

    @classmethod
    def from_env(cls) -> Settings:
        bucket = os.environ.get("RETRAIN_BUCKET", "retrain-dev")
        if len(bucket) < 3:
            raise ConfigError(f"RETRAIN_BUCKET {bucket!r} is not a valid bucket name")
        return cls(
            bucket=bucket,
            prefix=os.environ.get("RETRAIN_PREFIX", "").strip("/"),
            aws_conn_id=os.environ.get("RETRAIN_AWS_CONN_ID", "aws_default"),
            environment=os.environ.get("RETRAIN_ENV", "dev"),
        )


def models_dir() -> Path:
    return Path(os.environ.get("RETRAIN_MODELS_DIR", DEFAULT_MODELS_DIR))


def expectations_dir() -> Path:
    return Path(os.environ.get("RETRAIN_EXPECTATIONS_DIR", DEFAULT_EXPECTATIONS_DIR))
