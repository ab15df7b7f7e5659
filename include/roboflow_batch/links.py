"""Operator extra links: the Roboflow job page, read from the ``job_url`` XCom pushed before any wait."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

JOB_URL_XCOM_KEY = "job_url"
JOB_ID_XCOM_KEY = "job_id"


class RoboflowJobLink(BaseOperatorLink):
    """The "Roboflow job" button on a task that started or watches a Roboflow batch job."""

    name = "Roboflow job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(key=JOB_URL_XCOM_KEY, ti_key=ti_key)
        return url if isinstance(url, str) else ""
