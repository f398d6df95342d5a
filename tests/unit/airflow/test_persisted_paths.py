"""Import paths Airflow persists in its metadata DB keep resolving after the split by layer."""

from __future__ import annotations

import importlib


def test_deadline_rows_of_runs_queued_before_the_split_still_find_their_callback():
    from retrain.airflow.deadline import CALLBACK, deadline_missed

    assert importlib.import_module("retrain.deadline").deadline_missed is deadline_missed
    module, _, name = CALLBACK.rpartition(".")
    assert getattr(importlib.import_module(module), name) is deadline_missed


def test_the_timetable_keeps_its_serialized_path():
    from retrain.timetable import WeeklyTimetable

    assert f"{WeeklyTimetable.__module__}.{WeeklyTimetable.__qualname__}" == "retrain.timetable.WeeklyTimetable"
