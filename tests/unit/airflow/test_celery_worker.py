"""The Celery workers preload the task libraries (retrain.airflow.celery_worker), wired the way Airflow
wires it: `[celery] celery_config_options` names our config, the Celery provider builds its app from
it, and a worker's start (`loader.init_worker()`, what Celery's WorkController calls before forking
its pool) imports them. The scheduler, which builds the same app, does not.

Each case runs in a fresh interpreter: what is imported is the whole point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from retrain.airflow.celery_worker import PRELOADED_MODULES

OPTION = "retrain.airflow.celery_worker.CELERY_CONFIG"
PROBE = """
import json, sys
from airflow.providers.celery.executors import celery_executor_utils as utils
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
mods = json.loads(sys.argv[1])
out = {"broker_url": utils.app.conf.broker_url == DEFAULT_CELERY_CONFIG["broker_url"],
       "after_app": sorted(m for m in mods if m in sys.modules)}
utils.app.loader.init_worker()
out["after_worker_start"] = sorted(m for m in mods if m in sys.modules)
print(json.dumps(out))
"""


def _probe(option: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"}
    if option:
        env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = option
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(PRELOADED_MODULES))],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_worker_start_preloads_every_task_library_and_building_the_app_does_not():
    out = _probe(OPTION)
    assert out["broker_url"], "Airflow's Celery settings are kept"
    assert "great_expectations" not in out["after_app"], "the scheduler builds the app: no preload there"
    assert out["after_worker_start"] == sorted(PRELOADED_MODULES)


def test_without_the_option_a_worker_start_leaves_them_to_each_task_process():
    out = _probe(None)
    assert "great_expectations" not in out["after_worker_start"]
    assert "sklearn.ensemble" not in out["after_worker_start"]
