"""Run one interval of an astro.yaml pipeline through ``dag.test()`` in this process.

Used by tests that kill a run's process (SIGKILL) to prove a later run recovers:
``python -m tests.integration.pipeline.pipeline_dag_run <pipeline id> <logical date> [<conf JSON>]``.
The astro.yaml, the Airflow home and the connections come from the environment. Exit code 0 when
the DAG run succeeded.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime


def main(pipeline_id: str, logical_date: str, conf: str = "{}") -> int:
    from tests.integration.pipeline.conftest import pipeline_dag

    run = pipeline_dag(pipeline_id).test(
        logical_date=datetime.fromisoformat(logical_date), run_conf=json.loads(conf) or None
    )
    print(f"DAG RUN STATE: {run.state}", flush=True)
    return 0 if str(run.state) in ("success", "DagRunState.SUCCESS") else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
