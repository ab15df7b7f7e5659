"""Fixtures shared by the job and export integration tests (defined in tests/integration/jobs/staging.py)."""

from tests.integration.jobs.staging import export_dir, image_server, roboflow_conn

__all__ = ["export_dir", "image_server", "roboflow_conn"]
