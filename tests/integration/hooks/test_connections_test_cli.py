"""``airflow connections test <conn_id>`` with ``[core] test_connection = Enabled``.

The "roboflow" connection type comes from the project's provider entry point, so the CLI (and the
UI's "Test" button, which runs the same ``test_connection``) reaches ``RoboflowHook``.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from include.devstack.airflow_stack import airflow_bin
from include.devstack.services import REPO_ROOT
from tests.integration.hooks.conftest import HookChecks

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

EXPECTED = {
    "rf_qa_good": (0, "Connection success!"),
    "rf_qa_wrong_key": (1, "Roboflow rejected the API key of connection 'rf_qa_wrong_key' (HTTP 401)"),
    "rf_qa_unreachable": (1, "Cannot reach the Roboflow API at"),
    "rf_qa_no_batch": (1, "The API key of connection 'rf_qa_no_batch' is valid, but its workspace has no"),
}


def test_the_cli_says_which_problem_each_connection_has(hook_checks: HookChecks) -> None:
    env = {**os.environ, **hook_checks.env, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    # All four at once: each CLI start-up costs seconds.
    processes = {
        conn_id: subprocess.Popen(
            [airflow_bin(), "connections", "test", conn_id],
            env=env,
            cwd=str(REPO_ROOT),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for conn_id in EXPECTED
    }
    outputs = {}
    for conn_id, process in processes.items():
        output, _ = process.communicate(timeout=180)
        outputs[conn_id] = (process.returncode, " ".join(output.split()))

    for conn_id, (code, text) in EXPECTED.items():
        returncode, output = outputs[conn_id]
        assert returncode == code, (conn_id, output)
        assert text in output, (conn_id, output)
        assert hook_checks.runs[conn_id].api_key not in output, conn_id
