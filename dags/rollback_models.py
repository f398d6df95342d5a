"""Airflow DAG file. One on-call rollback DAG (`rollback_<model>`) per config file in include/models/, triggered by hand.

A broken config leaves out only that model (dags/model_configs.py reports it as an import error).
"""

from retrain.airflow.dag_factory import build_rollback_dag
from retrain.airflow.model_dags import build_dags

globals().update(build_dags(build_rollback_dag))
