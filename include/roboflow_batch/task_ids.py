"""The task ids of a pipeline DAG, shared by the DAG factory, the planner and the Roboflow view.

A task added to the pipeline gets its constant here and its place in ``PIPELINE_TASKS``; the view
shows the steps in that order.
"""

from __future__ import annotations

from typing import Final

PLAN: Final = "plan"
PREFLIGHT: Final = "preflight"
LIST_NEW_OBJECTS: Final = "list_new_objects"
LIST_LOCAL_FILES: Final = "list_local_files"
PLAN_CHUNKS: Final = "plan_chunks"
SPEND_GATE: Final = "spend_gate"
INGEST: Final = "ingest"
WAIT_FOR_BATCH: Final = "wait_for_batch"
START_JOB: Final = "start_job"
WAIT_FOR_JOB: Final = "wait_for_job"
ACCOUNT_SPEND: Final = "account_spend"
EXPORT: Final = "export"
RECONCILE: Final = "reconcile"

#: Every task a pipeline DAG may have, in the order of the flow (a DAG has one of the two listings).
PIPELINE_TASKS: Final = (
    PLAN,
    PREFLIGHT,
    LIST_NEW_OBJECTS,
    LIST_LOCAL_FILES,
    PLAN_CHUNKS,
    SPEND_GATE,
    INGEST,
    WAIT_FOR_BATCH,
    START_JOB,
    WAIT_FOR_JOB,
    ACCOUNT_SPEND,
    EXPORT,
    RECONCILE,
)
