"""The "Model retraining" page served inside the Airflow 3 API server (see plugins/retrain_ui.py)."""
