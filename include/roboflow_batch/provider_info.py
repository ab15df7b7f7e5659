"""Provider metadata, so that Airflow's UI offers a "Roboflow" connection type with its own form.

Registered through the ``apache_airflow_provider`` entry point of an installed distribution:
``provider_info = "include.roboflow_batch.provider_info:get_provider_info"``.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "roboflow-batch-airflow",
        "name": "Roboflow Batch Processing",
        "description": "Roboflow Data Staging and Batch Processing: ingest, run workflow jobs, export.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "connection-type": "roboflow",
                "hook-class-name": "include.roboflow_batch.hooks.roboflow.RoboflowHook",
                "hook-name": "Roboflow",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API key", "host": "API base URL"},
                    "placeholders": {
                        "host": "https://api.roboflow.com",
                        "password": "Roboflow private API key",
                    },
                },
                "conn-fields": {
                    "workspace": {
                        "label": "Workspace",
                        "description": "Workspace URL slug; looked up with the API key when empty.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "publishable_key": {
                        "label": "Publishable key",
                        "description": "Sent by Roboflow in the Authorization header of webhooks.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Request time-out (s)",
                        "description": "Per-request time-out in seconds (default 60).",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Repeats of a failed request that is safe to repeat (default 5).",
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                    },
                },
            }
        ],
    }
