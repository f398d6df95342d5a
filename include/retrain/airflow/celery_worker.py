"""The Celery workers' configuration: Airflow's own, plus a preload of the libraries the bundle's tasks use.

    [celery] celery_config_options = retrain.airflow.celery_worker.CELERY_CONFIG
    (AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS; docker-compose.yaml sets it)

Why: Airflow 3 runs every task in a process forked from the Celery pool process, and every one of our
task processes imported pandas, scikit-learn, Great Expectations and the Amazon provider again: about
8 s of CPU on 2 cores before the first line of a task (GX alone 3.5-4.4 s; measured in the README).
The Celery provider already preloads Airflow's own operators and numpy on `import_modules` for the
same reason and then freezes the heap (gc.freeze) so the forked pages stay shared; this adds our
libraries to that preload, in the worker's main process, before the pool forks.

Only third-party libraries are preloaded, never the bundle's modules that read configs or connect to
anything: nothing here opens a file, a socket or a thread, so the fork stays clean. A library that
fails to import is not hidden: Celery logs the receiver's exception, and the task that needs the
library raises the same ImportError when it imports it.

Scheduler and API server import this module too (the Celery executor builds its app from the same
option): that costs the small imports at the top, nothing else; the preload runs in workers only.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

log = logging.getLogger(__name__)

# What the bundle's task callables import (lazily, inside the functions), heaviest first.
PRELOADED_MODULES = (
    "great_expectations",
    "great_expectations.expectations.expectation_configuration",
    "great_expectations.data_context.types.base",
    "airflow.providers.amazon.aws.hooks.s3",
    "sklearn.ensemble",
    "sklearn.compose",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.model_selection",
    "sklearn.metrics",
    "scipy.stats",
    "pandas",
    "pyarrow.parquet",
    "joblib",
    "threadpoolctl",
)

# A copy, not the object itself: the Celery provider ignores a user config that *is* its default.
CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)


def preload(modules: tuple[str, ...] = PRELOADED_MODULES) -> float:
    """Import `modules` in this process; the seconds it took (logged: the worker log shows it ran)."""
    from retrain.validation.suite import quiet_gx

    quiet_gx()  # before GX's first import, as in every task that validates
    started = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    seconds = time.perf_counter() - started
    log.info("retrain: preloaded %d libraries for the task processes in %.1f s: %s",
             len(modules), seconds, ", ".join(modules))
    return seconds


@import_modules.connect
def _preload_on_worker_start(*_args, **_kwargs) -> None:
    """Celery sends `import_modules` in a worker's main process, before the pool forks."""
    preload()
