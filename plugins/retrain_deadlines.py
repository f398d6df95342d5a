"""Registers the weekly run's deadline reference with Airflow.

Airflow 3.3 deserializes a custom deadline reference only when a plugin lists it in
``deadline_references`` (``airflow.serialization.helpers.find_registered_custom_deadline_reference``
looks it up by import path, ``retrain.airflow.deadline.ScheduledRunDeadline``): the scheduler needs
it to create each scheduled run's deadline, the API server to show DAGs that carry it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from retrain.airflow.deadline import ScheduledRunDeadline


class RetrainDeadlinesPlugin(AirflowPlugin):
    name = "retrain_deadlines"
    deadline_references = [ScheduledRunDeadline]
