"""What the sales family reads from a model file's `data` section (the keys only it uses).

Each helper applies the family's default and, for the forecast horizon, refuses a value or a
configured lag the feature engineering could not honour: a ConfigError naming the file, raised
before any data is read.
"""

from __future__ import annotations

from pathlib import Path

from retrain.config import ModelConfig
from retrain.errors import ConfigError
from retrain.families.sales.history import DEFAULT_HORIZON_DAYS, MAX_HORIZON_DAYS, lag_of

DEFAULT_HISTORY_WEEKS = 9  # 63 days before the window: covers lag 28 and the 60-day rolling window


def history_weeks(cfg: ModelConfig) -> int:
    return int(cfg.data.extra.get("history_weeks", DEFAULT_HISTORY_WEEKS))


def forecast_horizon(cfg: ModelConfig) -> int:
    """`data.forecast_horizon_days`: how many days ahead the model forecasts (default 7: a
    Monday forecast of the whole week from data up to the Sunday before). No feature of a day
    reads sales newer than that many days; a configured lag below it is a config error."""
    value = cfg.data.extra.get("forecast_horizon_days", DEFAULT_HORIZON_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HORIZON_DAYS:
        raise ConfigError(f"{cfg.source_path}: data.forecast_horizon_days must be an integer in "
                          f"1..{MAX_HORIZON_DAYS}, not {value!r}")
    too_recent = [f for f in cfg.data.features if (lag_of(f) or value) < value]
    if too_recent:
        raise ConfigError(f"{cfg.source_path}: {too_recent} read sales less than forecast_horizon_days={value} "
                          "days old; remove them or lower the horizon")
    return value


def stores_input(cfg: ModelConfig) -> tuple[str, str]:
    """(landing object name, format) of the store table."""
    spec = cfg.data.extra.get("stores_input") or {}
    return str(spec.get("name", "stores")), str(spec.get("format", cfg.data.format))


def _suite(cfg: ModelConfig, key: str) -> Path:
    from retrain.config import expectations_dir

    name = cfg.data.extra.get(key)
    if not name:
        raise ConfigError(f"{cfg.source_path}: data.{key} is not set")
    return expectations_dir() / str(name)
