"""Registers the bundle's custom timetables with Airflow.

Airflow 3.3 only (de)serializes a custom timetable whose class is listed in a plugin's
``timetables``: the DAG processor needs it to serialize DAGs using it, and the scheduler and API
server need it to deserialize them (``airflow.serialization.helpers.find_registered_custom_timetable``
looks the class up by its import path, ``retrain.timetable.WeeklyTimetable``). The class itself
lives in the ``retrain`` package so DAG files and tasks import the very same class object.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from retrain.timetable import WeeklyTimetable


class RetrainTimetablesPlugin(AirflowPlugin):
    name = "retrain_timetables"
    timetables = [WeeklyTimetable]
