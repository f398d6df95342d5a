"""Airflow DAG file. One on-call rollback DAG (`rollback_<model>`) per config file in include/models/, triggered by hand."""

from retrain.config import load_all_models
from retrain.dag_factory import build_rollback_dag

for _cfg in load_all_models():
    globals()[_cfg.rollback_dag_id] = build_rollback_dag(_cfg)
