"""The deadline callback's import path before the package was split by layer.

Airflow stores a deadline alert's callback as an import path in each DAG run's deadline row; runs
queued before an upgrade still name ``retrain.deadline.deadline_missed`` when their deadline is
missed. The callback lives in retrain.airflow.deadline (CALLBACK there is what new runs store).
"""

from retrain.airflow.deadline import deadline_missed  # noqa: F401
