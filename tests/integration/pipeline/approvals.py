"""A person answering the spend gate's approval request while ``dag.test()`` waits for one.

The answer goes through Airflow's own code: the Core API's response handler (what the "Required
actions" page calls) or the scheduler's sweep of requests whose deadline passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

GATE = "spend_gate"


@dataclass
class Person:
    id: str = "7"
    name: str = "ops-lead"

    def get_id(self) -> str:
        return self.id

    def get_name(self) -> str:
        return self.name


@dataclass
class Request:
    """What the person saw: the request's subject, body and form, read from the metadata DB."""

    subject: str = ""
    body: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


def _awaiting(dag_id: str) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.task_id == GATE,
                TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
            )
        )


def _answer(ti: Any, answer: str, params: dict[str, Any] | None, request: Request) -> None:
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        detail = session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti.id))
        request.subject, request.body, request.params = (
            detail.subject,
            detail.body or "",
            dict(detail.params or {}),
        )
        if answer == "timeout":
            # The deadline passes: the scheduler's own sweep applies the request's defaults.
            from datetime import UTC, datetime, timedelta

            from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
            from airflow.models.taskinstance import TaskInstance

            live = session.get(TaskInstance, ti.id)
            live.trigger_timeout = datetime.now(UTC) - timedelta(seconds=1)
            session.commit()
            sweeper: Any = type("Sweeper", (), {"log": __import__("logging").getLogger("sweep")})()
            SchedulerJobRunner.check_awaiting_input_timeouts(sweeper, session=session)
            session.commit()
            return
        update_hitl_detail(
            dag_id=ti.dag_id,
            dag_run_id=ti.run_id,
            task_id=GATE,
            update_hitl_detail_payload=UpdateHITLDetailPayload(
                chosen_options=[answer], params_input=params or {}
            ),
            user=Person(),
            session=session,
            map_index=ti.map_index,
        )
        session.commit()


def _give_up(dag_id: str) -> None:
    """Fail the waiting request's task, so that ``dag.test()`` ends and the test can say why."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    ti = _awaiting(dag_id)
    if ti is not None:
        with create_session() as session:
            live = session.get(TaskInstance, ti.id)
            live.state = TaskInstanceState.FAILED
            session.commit()


@contextmanager
def answering(
    dag_id: str, answer: str, params: dict[str, Any] | None = None, wait: float = 120.0
) -> Iterator[Request]:
    """Answer the first approval request of ``dag_id`` with ``answer`` (Approve, Reject, or timeout)."""
    # Imported here, before the thread starts: SQLAlchemy maps the models once, and two threads
    # importing them at the same time would each try.
    import airflow.api_fastapi.core_api.routes.public.hitl
    import airflow.jobs.scheduler_job_runner
    import airflow.models.hitl_history
    import airflow.models.taskinstance  # noqa: F401

    request = Request()
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + wait
        try:
            while not done.is_set() and time.monotonic() < deadline:
                ti = _awaiting(dag_id)
                if ti is not None:
                    _answer(ti, answer, params, request)
                    return
                done.wait(0.2)  # polling the metadata DB for the request to appear
        except BaseException as exc:  # the test reports it; the run must not wait for ever
            request.error = exc
            _give_up(dag_id)

    thread = threading.Thread(target=watch, name="approver", daemon=True)
    thread.start()
    try:
        yield request
    finally:
        done.set()
        thread.join(timeout=30)
