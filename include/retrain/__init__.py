"""Weekly, safe retraining of ML models on Airflow 3: all pipeline logic of the bundle."""

__version__ = "0.1.0"
