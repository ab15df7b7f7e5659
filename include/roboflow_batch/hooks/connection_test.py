"""The id of the connection a user is testing from the Airflow UI.

Airflow tests a connection under a random temporary id; the API-server middleware
(``include.roboflow_batch.webui.connection_test``) records the id the user is editing here, for the
duration of that one request, so that the hook's messages name the right connection.
"""

from __future__ import annotations

from contextvars import ContextVar

connection_under_test: ContextVar[str | None] = ContextVar("roboflow_connection_under_test", default=None)
