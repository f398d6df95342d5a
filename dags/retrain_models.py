"""Airflow DAG file. One weekly retraining DAG (`retrain_<model>`) per config file in include/models/.

Wiring only: the DAG shape lives in retrain.dag_factory, all logic in the retrain package.
Adding a model is adding a YAML file; no DAG code is copied.
"""

from retrain.config import load_all_models
from retrain.dag_factory import build_weekly_dag

for _cfg in load_all_models():
    globals()[_cfg.retrain_dag_id] = build_weekly_dag(_cfg)
