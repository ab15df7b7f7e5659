"""Clear some tasks of a finished run, as the UI's "Clear" does, and run the run on to its end.

``dag.test()`` always re-creates its run from scratch; this keeps the run (its other tasks' states
and XComs) and runs only what was cleared, with the minimal loop ``dag.test()`` itself uses.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any


def clear_and_resume(dag: Any, run_id: str, task_ids: list[str], timeout: float = 240.0) -> str:
    """Clear ``task_ids`` (every map index) of ``run_id`` and run them; returns the run's final state."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.sdk import timezone
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag.dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id.in_(task_ids),
            )
        ).all()
        assert tis, f"no task instances {task_ids} in run {run_id}"
        clear_task_instances(list(tis), session, dag_run_state=DagRunState.RUNNING)
    deadline = time.monotonic() + timeout
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id))
        assert run is not None
        run.dag = DBDagBag().get_latest_version_of_dag(dag.dag_id, session=session)
        while run.state == DagRunState.RUNNING and time.monotonic() < deadline:
            session.expire_all()
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
                ti.scheduled_dttm = timezone.utcnow()
            session.commit()
            scheduled = [ti for ti in run.get_task_instances(session=session) if ti.state == "scheduled"]
            if not scheduled:
                time.sleep(0.5)
            for ti in scheduled:
                # The task's own failure is in its state, as in dag.test().
                with contextlib.suppress(Exception):
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
        return str(run.state)
