"""Per-model configuration (YAML in include/models/) and deployment settings (environment).

A model is added by adding a YAML file: the DAG factory builds `retrain_<name>` and
`rollback_<name>` for every file found. Each section is a frozen pydantic dataclass: strict
scalar types, unknown keys refused, and every problem reported as one ConfigError naming the
file and the field path (`include/models/x.yaml: training.cv_folds: Input should be a valid
integer`). Parsing stays light (PyYAML + pydantic, which Airflow has already imported) because
the DAG files call `load_all_models()` at parse time.

One job per module: `models` (the sections and ModelConfig), `loading` (files to ModelConfig)
and `settings` (the environment: Settings, the models and expectations directories).
`retrain.config` is the import path everything uses (DAG files, the image's build check), so
every public name is re-exported here.
"""

from __future__ import annotations

from retrain.config.loading import (
    _YAML_LOADER,  # noqa: F401  (tests check the C loader is picked)
    NULL_MEANS_OFF,
    ModelScan,
    load_all_models,
    load_model_config,
    parse_model_config,
    scan_models,
)
from retrain.config.models import (
    FAMILY_DATA_KEYS,
    WEEKDAYS,
    AveragedFit,
    Bool,
    Candidate,
    DataConfig,
    Float,
    GateConfig,
    InputSpec,
    Int,
    ModelConfig,
    PromotionConfig,
    RegistryConfig,
    ScheduleConfig,
    Section,
    Str,
    TrainingConfig,
    TriggerConfig,
    WindowChecks,
)
from retrain.config.settings import (
    DEFAULT_EXPECTATIONS_DIR,
    DEFAULT_MODELS_DIR,
    PROJECT_INCLUDE,
    Settings,
    expectations_dir,
    models_dir,
)

__all__ = [
    "DEFAULT_EXPECTATIONS_DIR",
    "DEFAULT_MODELS_DIR",
    "FAMILY_DATA_KEYS",
    "NULL_MEANS_OFF",
    "PROJECT_INCLUDE",
    "WEEKDAYS",
    "Bool",
    "AveragedFit",
    "Candidate",
    "DataConfig",
    "Float",
    "GateConfig",
    "InputSpec",
    "Int",
    "ModelConfig",
    "ModelScan",
    "PromotionConfig",
    "RegistryConfig",
    "ScheduleConfig",
    "Section",
    "Settings",
    "Str",
    "TrainingConfig",
    "TriggerConfig",
    "WindowChecks",
    "expectations_dir",
    "load_all_models",
    "load_model_config",
    "models_dir",
    "parse_model_config",
    "scan_models",
]
