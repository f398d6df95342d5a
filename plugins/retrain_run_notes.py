"""Copies each weekly run's story (the XCom `run_note` of `record_outcome`) onto its DAG run note.

Why a listener: a task cannot set its own run's note in Airflow 3.3 (see retrain.airflow.notes). The
scheduler calls `on_dag_run_success` / `on_dag_run_failed` inside `DagRun.update_state`, with
the run attached to its session, so setting `dag_run.note` here is committed with the run's
final state. Light at import (the scheduler loads it); never raises (a note is a courtesy).
"""

from __future__ import annotations

import logging
import sys

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

NOTE_XCOM_KEY = "run_note"  # retrain.airflow.notes.NOTE_XCOM_KEY
NOTE_TASK = "record_outcome"
DAG_PREFIX = "retrain_"


def copy_note(dag_run) -> str | None:
    """Set the run's note from record_outcome's XCom; returns the note set (None: left alone).

    The scheduler hands over a run attached to its session; `dag.test()` a detached one that
    `update_state` merges right after the listeners ran (the merge cascades to the note).
    Reads go through the caller's session (the thread's scoped session when detached) and
    never commit: the scheduler forbids commits inside its loop (HA locks), and its own
    commit writes the note together with the run's final state.
    """
    from airflow import settings
    from airflow.models.dagrun import DagRunNote
    from airflow.models.xcom import XComModel
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    if not str(dag_run.dag_id).startswith(DAG_PREFIX):
        return None
    session = object_session(dag_run) or settings.Session()
    existing = session.scalars(select(DagRunNote).where(DagRunNote.dag_run_id == dag_run.id)).first()
    if existing is not None and existing.user_id is not None:
        return None  # a person wrote this note: keep it
    row = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id,
                                             task_ids=NOTE_TASK, key=NOTE_XCOM_KEY)).first()
    note = XComModel.deserialize_value(row) if row is not None else None
    if not isinstance(note, str) or not note:
        return None
    if object_session(dag_run) is not None:
        dag_run.note = note
    else:
        record = DagRunNote(content=note)
        record.dag_run_id = dag_run.id
        dag_run.dag_run_note = record
    return note


def _copy(dag_run) -> None:
    try:
        copy_note(dag_run)
    except Exception:  # broad ok: a missing note must never disturb the scheduler's state change
        log.warning("could not set the run note of %s %s", dag_run.dag_id, dag_run.run_id, exc_info=True)


@hookimpl
def on_dag_run_success(dag_run, msg: str):
    _copy(dag_run)


@hookimpl
def on_dag_run_failed(dag_run, msg: str):
    _copy(dag_run)


class RetrainRunNotesPlugin(AirflowPlugin):
    name = "retrain_run_notes"
    listeners = [sys.modules[__name__]]
