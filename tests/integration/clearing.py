"""Clear task instances of an existing DAG run and run them again, as the UI's "Clear" does.

`dag.test()` deletes and recreates a run; this keeps the run (its id, its other task instances and
their states), resets the chosen task instances with Airflow's own `clear_task_instances`, and
runs what becomes schedulable with the same minimal loop `dag.test()` uses (in-process `_run_task`).
"""

from __future__ import annotations

import contextlib


def clear_and_rerun(dag, run_id: str, task_ids: list[str]) -> dict[str, tuple[str | None, int]]:
    """Clear `task_ids` of run `run_id` and run the run to its end; returns {task_id: (state, try_number)}."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils import timezone
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    session = settings.Session()
    tis = session.scalars(select(TaskInstance).where(
        TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id.in_(task_ids))).all()
    assert sorted(ti.task_id for ti in tis) == sorted(task_ids), "unknown task ids"
    clear_task_instances(tis, session, dag_run_state=DagRunState.RUNNING)
    session.commit()

    dr = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id))
    dr.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    for _ in range(100):
        if dr.state != DagRunState.RUNNING:
            break
        session.expire_all()
        schedulable, _ = dr.update_state(session=session)
        for ti in schedulable:
            ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
            ti.scheduled_dttm = timezone.utcnow()
        session.commit()
        for ti in [t for t in dr.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED]:
            # broad ok: mirrors dag.test(); the task instance's state records the failure
            with contextlib.suppress(Exception):
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=False)
    else:
        raise AssertionError(f"run {run_id} did not finish after clearing {task_ids}")
    session.expire_all()
    states = {ti.task_id: (str(ti.state) if ti.state else None, ti.try_number)
              for ti in dr.get_task_instances(session=session)}
    states["__run__"] = (str(dr.state), 0)
    session.close()
    return states
