"""The Airflow adapter: DAG factory, task callables, alerts, assets, approval, deadlines, run notes and
the UI plugin's app. With `retrain.timetable` and the S3 hook in `retrain.storage.s3`, the only
modules of the package that import `airflow` (tests/unit/test_layers.py)."""
