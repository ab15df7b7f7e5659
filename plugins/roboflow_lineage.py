"""Lineage hygiene for the pipelines' tasks: each task's OpenLineage events name only what that
task read and wrote (see ``include/roboflow_batch/lineage.py``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.roboflow_batch.lineage import HookLineageReset


class RoboflowLineagePlugin(AirflowPlugin):
    name = "roboflow_lineage"
    listeners = [HookLineageReset()]
