"""Airflow DAG file that defines no DAG: it fails to import, naming every broken model config.

Airflow shows that failure under the UI's import errors. It lives in its own file because
Airflow drops and marks stale every DAG of a file that fails to import: the weekly and
rollback DAGs of the models whose configs are fine must stay in files that import cleanly.
"""

from retrain.airflow.model_dags import raise_for_broken_models

raise_for_broken_models()
