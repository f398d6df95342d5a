"""Airflow DAG file. One `score_<model>` DAG per config file in include/models/: the champion's
consumer, scheduled on the `<model>_champion` asset (see retrain.assets), runnable by hand."""

from retrain.config import load_all_models
from retrain.dag_factory import build_scoring_dag

for _cfg in load_all_models():
    globals()[_cfg.scoring_dag_id] = build_scoring_dag(_cfg)
