"""Per-model configuration (YAML in include/models/) and deployment settings (environment).

A model is added by adding a YAML file: the DAG factory builds `retrain_<name>` and
`rollback_<name>` for every file found. Parsing stays light (PyYAML only) because the DAG
files call `load_all_models()` at parse time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from retrain.errors import ConfigError

PROJECT_INCLUDE = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = PROJECT_INCLUDE / "models"
DEFAULT_EXPECTATIONS_DIR = PROJECT_INCLUDE / "expectations"

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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


@dataclass(frozen=True)
class ScheduleConfig:
    weekday: str = "monday"
    hour: int = 2
    minute: int = 0
    timezone: str = "Europe/Berlin"
    catchup: bool = False
    start_date: str = "2024-01-01"  # first data week a catchup/backfill may cover
    deadline: str | None = "06:00"  # local HH:MM the weekly run must be finished by (None: no deadline alert)


@dataclass(frozen=True)
class WindowChecks:
    min_rows: int = 500
    min_positive_rate: float | None = None
    max_positive_rate: float | None = None
    max_null_rate: float = 0.10


@dataclass(frozen=True)
class DataConfig:
    label: str
    numeric_features: tuple[str, ...]
    binary_features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    format: str = "parquet"
    id_column: str | None = None
    timestamp_column: str | None = None
    window_weeks: int = 8
    expectation_suite: str | None = None
    window_checks: WindowChecks = field(default_factory=WindowChecks)
    max_batch_bytes: int = 256 * 1024 * 1024  # landing object size (HEAD), refused above before download
    max_batch_rows: int = 5_000_000  # rows per landing object (parquet footer), refused above before decoding
    max_batch_uncompressed_bytes: int = 1024 * 1024 * 1024  # parquet footer's uncompressed size
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric_features + self.binary_features + self.categorical_features


@dataclass(frozen=True)
class TriggerConfig:
    psi_features: tuple[str, ...]
    psi_warn: float = 0.10
    psi_action: float = 0.25
    psi_bins: int = 10
    psi_noise_quantile: float = 0.99
    psi_noise_bootstrap: int = 200
    ks_action: float = 0.20
    performance: dict[str, float] = field(default_factory=dict)  # "min_<metric>" / "max_<metric>"
    max_model_age_days: int = 28


@dataclass(frozen=True)
class Candidate:
    name: str
    estimator: str  # dotted path, must live under sklearn.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingConfig:
    selection_metric: str
    candidates: tuple[Candidate, ...]
    cv_folds: int = 5
    cv_max_rows: int = 200_000
    random_state: int = 42
    holdout_weeks: int = 1
    threads: int = 1  # OpenMP/BLAS threads per fit: oversubscribed threads stall badly on shared workers


@dataclass(frozen=True)
class GateConfig:
    minimums: dict[str, float] = field(default_factory=dict)
    maximums: dict[str, float] = field(default_factory=dict)
    max_relative_regression: dict[str, float] = field(default_factory=dict)
    # vs the champion: paired bootstrap on the same holdout; every compared metric needs a tolerance
    compare: tuple[str, ...] = ()
    tolerance: dict[str, float] = field(default_factory=dict)  # worst allowed worsening, metric units
    confidence: float = 0.95
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0


@dataclass(frozen=True)
class RegistryConfig:
    reference_sample_rows: int = 5000
    canary_rows: int = 200
    smoke_tolerance: float = 1e-9
    health_url: str | None = None


@dataclass(frozen=True)
class PromotionConfig:
    approval: str = "none"  # none | required: a human approves (Airflow HITL) between gate and promote
    approval_timeout_hours: float = 24.0  # no answer by then counts as a rejection


@dataclass(frozen=True)
class ModelConfig:
    name: str
    family: str
    data: DataConfig
    triggers: TriggerConfig
    training: TrainingConfig
    gate: GateConfig
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    metrics: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    monitoring: dict[str, Any] = field(default_factory=dict)  # retrain.monitoring.gate_rate.MonitoringConfig
    description: str = ""
    owner: str = "ml-platform"
    tags: tuple[str, ...] = ()
    source_path: str = ""

    @property
    def retrain_dag_id(self) -> str:
        return f"retrain_{self.name}"

    @property
    def rollback_dag_id(self) -> str:
        return f"rollback_{self.name}"

    @property
    def scoring_dag_id(self) -> str:
        return f"score_{self.name}"


def _section(raw: dict, key: str, path: Path, required: bool = True) -> dict:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{path}: missing section '{key}'")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: section '{key}' must be a mapping")
    return value


def _build(cls, values: dict, path: Path, where: str):
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{path}: invalid '{where}' section: {exc}") from exc


def _check_gate_comparison(gate: GateConfig, path: Path) -> None:
    """Fail closed: a compared metric without a tolerance could never be decided."""
    untolerated = [m for m in gate.compare if m not in gate.tolerance]
    if untolerated:
        raise ConfigError(f"{path}: gate.tolerance has no value for compared metric(s) {untolerated}")
    stray = [m for m in gate.tolerance if m not in gate.compare]
    if stray:
        raise ConfigError(f"{path}: gate.tolerance names {stray}, which gate.compare does not list")
    if any(not isinstance(t, (int, float)) or t < 0 for t in gate.tolerance.values()):
        raise ConfigError(f"{path}: gate.tolerance values must be numbers >= 0")
    if not 0.5 <= gate.confidence < 1.0:
        raise ConfigError(f"{path}: gate.confidence must be in [0.5, 1), not {gate.confidence!r}")
    if gate.compare and gate.bootstrap_resamples < 100:
        raise ConfigError(f"{path}: gate.bootstrap_resamples must be at least 100")


def parse_model_config(raw: dict, path: Path) -> ModelConfig:
    """Validate one model file; every problem is a ConfigError naming the file."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    for key in ("name", "family"):
        if not raw.get(key):
            raise ConfigError(f"{path}: missing '{key}'")
    name = str(raw["name"])
    if not name.replace("_", "").isalnum() or not name.islower():
        raise ConfigError(f"{path}: name {name!r} must be lower-case letters, digits and '_'")

    data_raw = dict(_section(raw, "data", path))
    checks = _build(WindowChecks, data_raw.pop("window_checks", {}) or {}, path, "data.window_checks")
    for key in ("numeric_features", "binary_features", "categorical_features"):
        data_raw[key] = tuple(data_raw.get(key) or ())
    known = set(DataConfig.__dataclass_fields__)
    extra = {k: data_raw.pop(k) for k in list(data_raw) if k not in known}
    data = _build(DataConfig, {**data_raw, "window_checks": checks, "extra": extra}, path, "data")
    if data.format not in ("parquet", "csv"):
        raise ConfigError(f"{path}: data.format must be parquet or csv, not {data.format!r}")

    trig_raw = dict(_section(raw, "triggers", path))
    trig_raw["psi_features"] = tuple(trig_raw.get("psi_features") or data.numeric_features)
    triggers = _build(TriggerConfig, trig_raw, path, "triggers")
    if not triggers.psi_warn <= triggers.psi_action:
        raise ConfigError(f"{path}: triggers.psi_warn must not exceed psi_action")
    for key in triggers.performance:
        if not key.startswith(("min_", "max_")):
            raise ConfigError(f"{path}: triggers.performance key {key!r} must start with min_ or max_")

    train_raw = dict(_section(raw, "training", path))
    cands = []
    for i, c in enumerate(train_raw.pop("candidates", None) or []):
        cand = _build(Candidate, c, path, f"training.candidates[{i}]")
        if not cand.estimator.startswith("sklearn."):
            raise ConfigError(f"{path}: candidate {cand.name!r}: only sklearn estimators are allowed")
        cands.append(cand)
    if not cands:
        raise ConfigError(f"{path}: training.candidates is empty")
    if len({c.name for c in cands}) != len(cands):
        raise ConfigError(f"{path}: candidate names must be unique")
    training = _build(TrainingConfig, {**train_raw, "candidates": tuple(cands)}, path, "training")

    gate_raw = dict(_section(raw, "gate", path))
    gate_raw["compare"] = tuple(gate_raw.get("compare") or ())
    gate = _build(GateConfig, gate_raw, path, "gate")
    _check_gate_comparison(gate, path)
    if not (gate.minimums or gate.maximums):
        # Fail closed: no thresholds means nothing could ever be blessed.
        raise ConfigError(f"{path}: gate needs at least one absolute minimum or maximum")

    schedule = _build(ScheduleConfig, _section(raw, "schedule", path, required=False), path, "schedule")
    if schedule.weekday not in WEEKDAYS:
        raise ConfigError(f"{path}: schedule.weekday must be one of {WEEKDAYS}")
    registry = _build(RegistryConfig, _section(raw, "registry", path, required=False), path, "registry")
    promotion = _build(PromotionConfig, _section(raw, "promotion", path, required=False), path, "promotion")
    if promotion.approval not in ("none", "required"):
        raise ConfigError(f"{path}: promotion.approval must be none or required, not {promotion.approval!r}")
    if not promotion.approval_timeout_hours > 0:
        raise ConfigError(f"{path}: promotion.approval_timeout_hours must be positive")
    if schedule.deadline is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(schedule.deadline)):
        raise ConfigError(f"{path}: schedule.deadline must be HH:MM (local time) or null, not {schedule.deadline!r} (quote it: '06:00')")

    return ModelConfig(
        name=name,
        family=str(raw["family"]),
        data=data,
        triggers=triggers,
        training=training,
        gate=gate,
        schedule=schedule,
        registry=registry,
        promotion=promotion,
        metrics=_section(raw, "metrics", path, required=False),
        alerts=_section(raw, "alerts", path, required=False),
        monitoring=_section(raw, "monitoring", path, required=False),
        description=str(raw.get("description", "")),
        owner=str(raw.get("owner", "ml-platform")),
        tags=tuple(raw.get("tags") or ()),
        source_path=str(path),
    )


def models_dir() -> Path:
    return Path(os.environ.get("RETRAIN_MODELS_DIR", DEFAULT_MODELS_DIR))


def expectations_dir() -> Path:
    return Path(os.environ.get("RETRAIN_EXPECTATIONS_DIR", DEFAULT_EXPECTATIONS_DIR))


# The C loader parses the same files ~9x faster than the pure-Python one (DAG files parse every config).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# path -> ((mtime_ns, size), config): each file is parsed once per process until it changes on disk.
_CACHE: dict[Path, tuple[tuple[int, int], ModelConfig]] = {}


def load_model_config(name_or_path: str | Path) -> ModelConfig:
    path = Path(name_or_path)
    if not path.suffix:
        path = models_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"no model config at {path}")
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with path.open() as fh:
            raw = yaml.load(fh, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    cfg = parse_model_config(raw, path)
    _CACHE[path] = (stamp, cfg)
    return cfg


@dataclass(frozen=True)
class ModelScan:
    """Every config file loaded on its own: the good ones, and what is wrong with each broken one."""

    configs: tuple[ModelConfig, ...]
    errors: dict[str, str]  # config file -> ConfigError message (names the file and the field)


def scan_models(directory: Path | None = None) -> ModelScan:
    """Load each model file independently, so one broken file never hides the others.

    Two files claiming the same model name are both left out (neither may own that model's
    DAGs and registry), each with an error naming the other.
    """
    directory = directory or models_dir()
    configs: list[ModelConfig] = []
    errors: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            configs.append(load_model_config(path))
        except ConfigError as exc:
            errors[str(path)] = str(exc)
    by_name: dict[str, list[ModelConfig]] = {}
    for cfg in configs:
        by_name.setdefault(cfg.name, []).append(cfg)
    for name, same in by_name.items():
        if len(same) > 1:
            files = [c.source_path for c in same]
            for cfg in same:
                errors[cfg.source_path] = f"{cfg.source_path}: name {name!r} is also used by {files}"
    good = tuple(c for c in configs if len(by_name[c.name]) == 1)
    return ModelScan(configs=good, errors=dict(sorted(errors.items())))


def load_all_models(directory: Path | None = None) -> list[ModelConfig]:
    """Every model config, or a ConfigError listing every broken file (strict: for tools and tests)."""
    scan = scan_models(directory)
    if scan.errors:
        raise ConfigError("; ".join(scan.errors.values()))
    return list(scan.configs)
