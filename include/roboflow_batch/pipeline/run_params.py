"""The params a pipeline run may be triggered with, in one place: their names, definitions and doc.

``plan`` reads the window params; a param that overrides an astro.yaml setting for one run reaches
its task through ``param_or``.
"""

from __future__ import annotations

from typing import Any

WINDOW_START = "window_start"
WINDOW_END = "window_end"
SELECT_ALL = "select_all"
ON_CHANGED_DEFINITION = "on_changed_definition"
#: List, count, check and estimate the window; stage, start and write nothing (docs/costs.md).
DRY_RUN = "dry_run"
REPAIR = "repair"
#: The params that choose a manual run's window (``plan``).
WINDOW_PARAMS = (WINDOW_START, WINDOW_END, SELECT_ALL)

RUN_PARAMS_DOC = (
    "A manual run without window params processes what is new: from the end of the latest "
    f"successfully processed window up to the trigger time. Params: `{WINDOW_START}` and `{WINDOW_END}` "
    f"(ISO 8601) process exactly that window; `{SELECT_ALL}: true` takes every object under the source, "
    f"whatever its age; `{ON_CHANGED_DEFINITION}` (`new_job` or `fail`) overrides "
    f"`job.on_changed_definition` for this run; `{DRY_RUN}: true` lists and counts the window, runs the "
    "pre-flight checks and the estimate, and shows the plan (task `spend_gate`, and the Roboflow view) "
    f"without staging, starting or writing anything; `{REPAIR}: true` with `{WINDOW_START}`/`{WINDOW_END}` "
    "(or on a run with a data interval) re-processes only the objects of that already exported window "
    "that failed or have no result, in a child batch and job, and merges them into its manifest."
)


def run_params() -> dict[str, Any]:
    """The DAG's ``params``: every one optional, so a scheduled run needs none."""
    from airflow.sdk import Param

    return {
        WINDOW_START: Param(None, type=["null", "string"], description="ISO 8601 start of the window"),
        WINDOW_END: Param(None, type=["null", "string"], description="ISO 8601 end (exclusive)"),
        SELECT_ALL: Param(False, type="boolean", description="Every object, whatever its age"),
        ON_CHANGED_DEFINITION: Param(
            None,
            type=["null", "string"],
            enum=[None, "new_job", "fail"],
            description="A job whose results would differ from what the pipeline asks: new attempt, or fail",
        ),
        REPAIR: Param(
            False,
            type="boolean",
            description="Re-process only the window's objects that failed or have no result",
        ),
        DRY_RUN: Param(
            False,
            type="boolean",
            description="List, count, check and estimate the window; stage, start and write nothing",
        ),
    }


def param_or(name: str, default: str) -> str:
    """A templated string argument: the run's param ``name`` when set, else astro.yaml's ``default``."""
    return f"{{{{ params.{name} or {default!r} }}}}"
