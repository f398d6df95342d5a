"""Per-model isolation for the DAG files: one broken model config never hides another model's DAGs.

Airflow discards every DAG of a file whose import raises, and marks every DAG it knows from a
file with an import error as stale (not scheduled, not triggerable). So the two DAG files build
the DAGs of every *usable* model and never raise for a broken one, while a third DAG file,
`dags/model_configs.py`, defines no DAG and raises one ConfigError naming every broken config
file and field: that is the entry the UI lists under import errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pendulum

from retrain.config import ModelConfig, scan_models
from retrain.errors import ConfigError

log = logging.getLogger(__name__)


def _schedule_problem(cfg: ModelConfig) -> str | None:
    """What the DAG builders would choke on in `schedule` (checked here so it is reported per file)."""
    from airflow.sdk.exceptions import AirflowTimetableInvalid

    from retrain.timetable import WeeklyTimetable

    try:
        WeeklyTimetable.from_schedule(cfg.schedule)
        pendulum.parse(cfg.schedule.start_date, tz=cfg.schedule.timezone)
    except (AirflowTimetableInvalid, ValueError, TypeError) as exc:
        return f"{cfg.source_path}: invalid 'schedule' section: {exc}"
    return None


def usable_models() -> tuple[list[ModelConfig], dict[str, str]]:
    """(configs the DAG builders accept, {config file: what is wrong}) for every model file."""
    scan = scan_models()
    good, errors = [], dict(scan.errors)
    for cfg in scan.configs:
        problem = _schedule_problem(cfg)
        if problem:
            errors[cfg.source_path] = problem
        else:
            good.append(cfg)
    return good, errors


def build_dags(builder: Callable[[ModelConfig], Any]) -> dict[str, Any]:
    """dag_id -> DAG built by `builder` for every usable model; broken models are left out (logged)."""
    configs, errors = usable_models()
    for message in errors.values():
        log.error("model config left out (see the import error of dags/model_configs.py): %s", message)
    dags = {}
    for cfg in configs:
        dag = builder(cfg)
        dags[dag.dag_id] = dag
    return dags


def raise_for_broken_models() -> None:
    """One ConfigError listing every broken model config file, or nothing when all are usable."""
    _, errors = usable_models()
    if errors:
        lines = "\n".join(f"- {message}" for message in errors.values())
        raise ConfigError(
            f"{len(errors)} model config file(s) are broken; their DAGs are not built "
            f"(every other model's DAGs are):\n{lines}"
        )
