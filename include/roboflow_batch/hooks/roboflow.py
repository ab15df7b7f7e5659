"""Airflow hook for Roboflow Data Staging and Batch Processing.

Connection (conn_type ``roboflow``):

- password: the private API key (masked in task logs);
- host: API base URL, default ``https://api.roboflow.com``; with or without scheme (a bare host
  means https); ``port`` is honoured when the host has none;
- extra: ``workspace`` (saves a lookup; otherwise looked up once and cached), ``publishable_key``
  (authenticates webhooks), ``timeout`` (seconds per read or write, default 60; connecting waits at
  most 10 s) and ``max_retries`` (default 5).

Example: ``AIRFLOW_CONN_ROBOFLOW_DEFAULT='{"conn_type": "roboflow", "password": "<key>",
"extra": {"workspace": "my-workspace"}}'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

from include.roboflow_batch.api.client import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncRoboflowClient,
    RoboflowClient,
)
from include.roboflow_batch.api.errors import (
    FeatureNotEnabledError,
    RoboflowAPIError,
    TransportError,
    UnauthorizedError,
)
from include.roboflow_batch.api.retries import RetryPolicy
from include.roboflow_batch.api.transport import normalise_base_url
from include.roboflow_batch.hooks.connection_test import connection_under_test

ClientT = TypeVar("ClientT", RoboflowClient, AsyncRoboflowClient)

# test_connection must answer within seconds, whatever the connection's own settings say.
TEST_CONNECTION_TIMEOUT = 10.0


@dataclass(frozen=True)
class RoboflowConnectionSettings:
    """What a Roboflow connection resolves to."""

    conn_id: str
    base_url: str
    api_key: str
    workspace: str | None
    publishable_key: str | None
    timeout: float
    max_retries: int

    @property
    def key_source(self) -> str:
        return f"Airflow connection {self.conn_id!r}"

    def __repr__(self) -> str:
        return (
            f"RoboflowConnectionSettings(conn_id={self.conn_id!r}, base_url={self.base_url!r}, "
            f"workspace={self.workspace!r}, timeout={self.timeout}, max_retries={self.max_retries})"
        )


def _base_url(conn_id: str, host: str | None, port: int | None, schema: str | None) -> str:
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = schema if schema in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    if port and urlsplit(host).port is None:
        parts = urlsplit(host)
        host = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
    try:
        return normalise_base_url(host)
    except ValueError as error:
        raise AirflowException(f"Connection {conn_id!r}: host is not a usable API URL: {error}") from None


def _number(conn_id: str, name: str, value: Any, kind: type[int] | type[float]) -> Any:
    """A non-negative int, or a positive float, from an extra that may arrive as text."""
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        label = "an integer" if kind is int else "a number"
        raise AirflowException(
            f"Connection {conn_id!r}: extra {name!r} must be {label}, got {value!r}"
        ) from None
    if kind is int and number < 0:
        raise AirflowException(f"Connection {conn_id!r}: extra {name!r} must be 0 or more, got {value!r}")
    if kind is float and number <= 0:
        raise AirflowException(f"Connection {conn_id!r}: extra {name!r} must be positive, got {value!r}")
    return number


def settings_from_connection(conn: Any, extras: dict[str, Any]) -> RoboflowConnectionSettings:
    """Validate a connection's fields; every error names the connection and the field."""
    conn_id = conn.conn_id
    api_key = conn.password
    if not api_key:
        raise AirflowException(
            f"Connection {conn_id!r} has no API key: put the Roboflow private API key in its password field"
        )
    workspace = extras.get("workspace") or None
    if workspace is not None and not isinstance(workspace, str):
        raise AirflowException(f"Connection {conn_id!r}: extra 'workspace' must be a string")
    timeout = extras.get("timeout")
    max_retries = extras.get("max_retries")
    return RoboflowConnectionSettings(
        conn_id=conn_id,
        base_url=_base_url(conn_id, conn.host, conn.port, conn.schema),
        api_key=api_key,
        workspace=workspace,
        publishable_key=extras.get("publishable_key") or None,
        timeout=DEFAULT_TIMEOUT if timeout in (None, "") else _number(conn_id, "timeout", timeout, float),
        max_retries=(
            DEFAULT_MAX_RETRIES
            if max_retries in (None, "")
            else _number(conn_id, "max_retries", max_retries, int)
        ),
    )


class RoboflowHook(BaseHook):
    """Interact with Roboflow Data Staging and Batch Processing.

    :param roboflow_conn_id: the Airflow connection holding the API key (see module docstring).
    :param retry_policy: override the connection's retry settings (back-off, ``Retry-After`` cap).
    """

    conn_name_attr = "roboflow_conn_id"
    default_conn_name = "roboflow_default"
    conn_type = "roboflow"
    hook_name = "Roboflow"

    def __init__(
        self, roboflow_conn_id: str = default_conn_name, retry_policy: RetryPolicy | None = None
    ) -> None:
        super().__init__()
        self.roboflow_conn_id = roboflow_conn_id
        self.retry_policy = retry_policy
        self._settings: RoboflowConnectionSettings | None = None

    # Connection ------------------------------------------------------------------------------------

    @property
    def settings(self) -> RoboflowConnectionSettings:
        """The resolved connection (fetched once; do not use from async code, see ``aget_client``)."""
        if self._settings is None:
            # Fetching the connection already registers its password with the secrets masker;
            # registering it again would only send the key to the supervisor once more.
            conn = self.get_connection(self.roboflow_conn_id)
            settings = settings_from_connection(conn, conn.extra_dejson)
            self._settings = settings
        return self._settings

    async def aget_settings(self) -> RoboflowConnectionSettings:
        """The resolved connection, fetched without blocking the event loop (for triggers)."""
        if self._settings is None:
            conn = await BaseHook.aget_connection(self.roboflow_conn_id)
            settings = settings_from_connection(conn, await conn.aextra_dejson())
            self._settings = settings
        return self._settings

    def _policy(self, settings: RoboflowConnectionSettings) -> RetryPolicy:
        return self.retry_policy or RetryPolicy(max_retries=settings.max_retries)

    def _client(self, settings: RoboflowConnectionSettings, kind: type[ClientT]) -> ClientT:
        """A client of ``kind`` (sync or async: same arguments) for these settings."""
        return kind(
            settings.base_url,
            settings.api_key,
            workspace=settings.workspace,
            timeout=settings.timeout,
            retry_policy=self._policy(settings),
            key_source=settings.key_source,
        )

    def get_conn(self) -> RoboflowClient:
        return self.get_client()

    def get_client(self) -> RoboflowClient:
        """The synchronous client, created once per hook."""
        return self._cached_client

    @cached_property
    def _cached_client(self) -> RoboflowClient:
        return self._client(self.settings, RoboflowClient)

    async def aget_client(self) -> AsyncRoboflowClient:
        """A new async client bound to the running event loop; close it (``async with``) when done."""
        return self._client(await self.aget_settings(), AsyncRoboflowClient)

    @property
    def workspace(self) -> str:
        """The workspace slug: from the connection's extras, else looked up once with the API key."""
        try:
            return self.get_client().get_workspace()
        except RoboflowAPIError as error:
            raise AirflowException(
                f"Connection {self.roboflow_conn_id!r}: could not determine the workspace: {error}"
            ) from None

    @property
    def publishable_key(self) -> str | None:
        return self.settings.publishable_key

    # Links -----------------------------------------------------------------------------------------

    def job_url(self, job_id: str) -> str:
        """Where a person can look at the job.

        For Roboflow's own API hosts (``api.<domain>``) this is the web app page
        ``https://app.<domain>/{workspace}/batch-processing/{job_id}``. For any other host (the
        local emulator, a proxy) the same path is appended to the configured base URL.
        """
        base_url = self.settings.base_url
        path = f"/{quote(self.workspace, safe='')}/batch-processing/{quote(job_id, safe='')}"
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        if host.startswith("api.roboflow."):
            return f"{parts.scheme}://app.{host.removeprefix('api.')}{path}"
        return f"{base_url}{path}"

    # Connection test -------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check key, workspace and Batch Processing access with two cheap calls and no long retries."""
        # From the UI's Test button the connection carries a temporary id: name the one being edited.
        edited = connection_under_test.get()
        try:
            settings = self.settings
        except AirflowException as error:
            text = str(error)
            return False, text.replace(repr(self.roboflow_conn_id), repr(edited)) if edited else text
        client = RoboflowClient(
            settings.base_url,
            settings.api_key,
            timeout=min(settings.timeout, TEST_CONNECTION_TIMEOUT),
            max_retries=0,
            # No key_source: each message below names the connection itself.
        )
        conn = f"connection {edited or settings.conn_id!r}"
        with client:
            try:
                workspace = client.lookup_workspace()
                next(iter(client.iter_jobs(page_size=1)), None)
            except UnauthorizedError as error:
                return False, f"Roboflow rejected the API key of {conn} (HTTP 401): {error.message}"
            except FeatureNotEnabledError as error:
                return False, (
                    f"The API key of {conn} is valid, but its workspace has no Batch Processing access "
                    f"(HTTP 402): {error.message}"
                )
            except TransportError as error:
                return (
                    False,
                    f"Cannot reach the Roboflow API at {settings.base_url} for {conn}: {error.message}",
                )
            except RoboflowAPIError as error:
                return False, f"Roboflow API check for {conn} failed: {error}"
        if settings.workspace and settings.workspace != workspace:
            return False, (
                f"The API key of {conn} belongs to workspace {workspace!r}, but the connection's extra "
                f"'workspace' says {settings.workspace!r}"
            )
        return (
            True,
            f"Connected to Roboflow workspace {workspace!r} at {settings.base_url}; "
            "Batch Processing is available",
        )
