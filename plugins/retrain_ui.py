"""Registers the "Model retraining" page: the app lives in retrain.airflow.ui (it checks the
Airflow user itself); here only the mount point and one menu entry per model."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from retrain.airflow.model_dags import usable_models
from retrain.airflow.ui.app import URL_PREFIX, app


class RetrainUIPlugin(AirflowPlugin):
    name = "retrain_ui"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Model retraining"}]
    external_views = [
        {"name": f"Model retraining: {cfg.name}", "href": f"{URL_PREFIX}/models/{cfg.name}",
         "url_route": f"retraining-{cfg.name}", "category": "browse", "destination": "nav"}
        for cfg in usable_models()[0]  # a broken model config hides only its own entry
    ]
