"""What a new user writes first: one DAG per Roboflow connection that checks it and lists jobs.

``check_connection`` raises with ``RoboflowHook.test_connection()``'s message when the check fails;
``list_jobs`` uses the client as operators do, with the connection's own retry settings. Each task
logs a marker first, so a test searching the log files can prove it reads the right ones.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowFailException

CONNECTION_IDS = ("rf_qa_good", "rf_qa_wrong_key", "rf_qa_unreachable", "rf_qa_no_batch")
MARKER = "hook-check-marker"

log = logging.getLogger(__name__)


def _build(conn_id: str) -> None:
    @dag(
        dag_id=f"hook_check__{conn_id}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        default_args={"retries": 0},
        tags=["qa"],
    )
    def hook_check() -> None:
        @task
        def check_connection() -> str:
            from include.roboflow_batch.hooks.roboflow import RoboflowHook

            log.info("%s: checking connection %s", MARKER, conn_id)
            ok, message = RoboflowHook(conn_id).test_connection()
            if not ok:
                raise AirflowFailException(message)
            log.info("%s: %s", MARKER, message)
            return message

        @task
        def list_jobs() -> int:
            from include.roboflow_batch.hooks.roboflow import RoboflowHook

            log.info("%s: listing jobs with connection %s", MARKER, conn_id)
            jobs = list(RoboflowHook(conn_id).get_client().iter_jobs())
            log.info("%s: %d jobs", MARKER, len(jobs))
            return len(jobs)

        check_connection()
        list_jobs()

    hook_check()


for _conn_id in CONNECTION_IDS:
    _build(_conn_id)
