"""Airflow DAG file. One weekly retraining DAG (`retrain_<model>`) per config file in include/models/.

Wiring only: the DAG shape lives in retrain.airflow.dag_factory, all logic in the retrain package.
Adding a model is adding a YAML file; no DAG code is copied. A broken config leaves out only
that model (dags/model_configs.py reports it as an import error).
"""

from retrain.airflow.dag_factory import build_weekly_dag
from retrain.airflow.model_dags import build_dags

globals().update(build_dags(build_weekly_dag))
