"""Pure rules of a retraining run: functions over DataFrames, metrics and config; no I/O, no Airflow,
no S3 (tests/unit/test_layers.py holds the line)."""
