"""Model files to ModelConfig: read the YAML, validate it, report every problem at once.

Each problem is a ConfigError line naming the file and the field path
(`include/models/x.yaml: training.cv_folds: Input should be a valid integer`). The DAG files
call scan_models() at parse time, so each file is parsed once per process until it changes on
disk, with libyaml when available, and one broken file never hides the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from retrain.config.models import ModelConfig
from retrain.config.settings import models_dir
from retrain.errors import ConfigError

_MODEL = TypeAdapter(ModelConfig)


def _field_path(loc: tuple) -> str:
    """('training', 'candidates', 0, 'estimator') -> 'training.candidates[0].estimator'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _config_error(path: Path, exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors(include_url=False):
        where = _field_path(tuple(err["loc"]))
        for msg in str(err["msg"]).removeprefix("Value error, ").splitlines():
            lines.append(f"{path}: {where}: {msg}" if where else f"{path}: {msg}")
    return ConfigError("\n".join(lines))


def _without_nulls(raw: dict) -> dict:
    """An empty YAML key (`schedule:`) means "use the defaults", as does an empty sub-key; values
    inside free-form mappings (candidate params, metrics) are kept: None can be meaningful there."""
    out = {k: v for k, v in raw.items() if v is not None}
    for key in ("data", "triggers", "training", "gate", "schedule", "registry", "promotion"):
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if v is not None or (key, k) in NULL_MEANS_OFF}
    return out


# the keys whose null is a setting of its own, not "use the default"
NULL_MEANS_OFF = {("schedule", "deadline")}


def parse_model_config(raw: dict, path: Path) -> ModelConfig:
    """Validate one model file; every problem is a ConfigError naming the file and the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    if "source_path" in raw:
        raise ConfigError(f"{path}: source_path: set by the loader, not in the file")
    values = _without_nulls(raw)
    data, triggers = values.get("data"), values.get("triggers")
    if isinstance(data, dict) and isinstance(triggers, dict) and "psi_features" not in triggers:
        values["triggers"] = {**triggers, "psi_features": data.get("numeric_features") or ()}
    try:
        return _MODEL.validate_python({**values, "source_path": str(path)})
    except ValidationError as exc:
        raise _config_error(path, exc) from None


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
    with path.open() as fh:
        try:
            raw = yaml.load(fh, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
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
