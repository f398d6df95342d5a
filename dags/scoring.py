"""Airflow DAG file. One `score_<model>` DAG per config file in include/models/: the champion's
consumer, scheduled on the `<model>_champion` asset (see retrain.airflow.assets), runnable by hand.

A broken config leaves out only that model (dags/model_configs.py reports it as an import error).
"""

from retrain.airflow.dag_factory import build_scoring_dag
from retrain.airflow.model_dags import build_dags

globals().update(build_dags(build_scoring_dag))
