"""No task pays for imports it does not use: the modules every task process loads (the adapter,
the steps, the registry, the gate's rules, the outcome) import no heavy library at module level;
each step imports pandas / scikit-learn / Great Expectations only when it needs them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "sklearn", "scipy", "great_expectations", "pyarrow", "joblib")
LIGHT_PATH = ("retrain.airflow.tasks", "retrain.pipeline.steps", "retrain.registry", "retrain.core.gate", "retrain.core.outcome",
              "retrain.core.metrics", "retrain.config", "retrain.airflow.model_dags")


def test_modules_loaded_by_every_task_import_no_heavy_library():
    probe = (
        "import importlib, json, sys\n"
        f"for name in {LIGHT_PATH!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
