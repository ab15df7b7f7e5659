"""Executing ``RequestSpec``s over httpx: one thin sync and one thin async transport.

Both share the request building, response interpretation and error translation below; only the
I/O differs. Errors are created inside ``except`` blocks but raised outside them, so they carry no
``__context__`` pointing at httpx or pydantic exceptions (whose text holds full URLs and inputs).
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from typing import Any, TypeVar

import certifi
import httpx
import pydantic
from tenacity import AsyncRetrying, Retrying

from include.roboflow_batch.api.errors import (
    ResponseDecodeError,
    RoboflowAPIError,
    TransportError,
)
from include.roboflow_batch.api.redaction import install_log_redaction, redact, register_secret
from include.roboflow_batch.api.request_spec import RequestSpec
from include.roboflow_batch.api.retries import RetryPolicy, retry_arguments
from include.roboflow_batch.api.server_errors import BODY_EXCERPT, MAX_CONNECT_TIMEOUT, error_for_reply

T = TypeVar("T")
log = logging.getLogger(__name__)

USER_AGENT = "roboflow-batch-airflow/0.1 (httpx)"

# Failures where the request certainly never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verified TLS context for all clients: loading the CA bundle costs ~0.1 s per client."""
    return ssl.create_default_context(cafile=certifi.where())


def normalise_base_url(base_url: str) -> str:
    """``https://host[:port][/prefix]`` without a trailing slash; a bare host gets ``https://``."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("base_url must be a non-empty URL such as https://api.roboflow.com")
    base_url = base_url.strip()
    if "://" not in base_url:
        base_url = f"https://{base_url}"
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {redact(base_url)!r}")
    if url.query:
        raise ValueError("base_url must not carry a query string; the API key is passed separately")
    return base_url.rstrip("/")


def make_timeout(seconds: float) -> httpx.Timeout:
    """``seconds`` for each read and write; connecting gets at most ``MAX_CONNECT_TIMEOUT``.

    A reachable server accepts a connection in well under a second, so a long wait to connect
    means a wrong or firewalled host; it should fail (and be retried) quickly, not hold a worker.
    """
    if seconds <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {seconds!r}")
    return httpx.Timeout(seconds, connect=min(seconds, MAX_CONNECT_TIMEOUT))


def error_from_response(
    operation: str, response: httpx.Response, secrets: tuple[str, ...] = (), hint: str | None = None
) -> RoboflowAPIError:
    return error_for_reply(
        operation,
        response.status_code,
        response.text,
        reason=response.reason_phrase,
        retry_after=response.headers.get("Retry-After"),
        secrets=secrets,
        hint=hint,
    )


def error_from_exception(
    operation: str, error: httpx.HTTPError, secrets: tuple[str, ...] = (), hint: str | None = None
) -> TransportError:
    detail = redact(str(error), secrets) or type(error).__name__
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "connection failed"
    message = f"{kind} ({type(error).__name__}: {detail})"
    if hint:
        message = f"{message} ({hint})"
    return TransportError(
        message,
        operation=operation,
        request_sent=not isinstance(error, _NOT_SENT),
    )


def _describe_validation(error: pydantic.ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{location}: {item['msg']}")
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def decode_response(spec: RequestSpec[T], response: httpx.Response, secrets: tuple[str, ...]) -> T:
    """The decoded result of a 2xx response, or ``ResponseDecodeError`` describing what came back."""
    if not spec.expects_json:
        return spec.decode(None)
    problem: str | None = None
    result: Any = None
    try:
        result = spec.decode(response.json())
    except pydantic.ValidationError as error:
        problem = f"unexpected response shape ({_describe_validation(error)})"
    except ValueError as error:  # JSON syntax errors and decoder checks
        problem = f"response is not the expected JSON ({error})"
    if problem is not None:
        excerpt = response.text[:BODY_EXCERPT]
        raise ResponseDecodeError(
            redact(f"{problem}; received: {excerpt!r}", secrets),
            status_code=response.status_code,
            operation=spec.operation,
        )
    return result


class _TransportBase:
    def __init__(self, base_url: str, api_key: str, timeout: float, policy: RetryPolicy) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self.base_url = normalise_base_url(base_url)
        self._api_key = api_key
        self.timeout = float(timeout)
        make_timeout(self.timeout)
        self.policy = policy
        # Extra advice per status, e.g. which Airflow connection holds the rejected key.
        self.status_hints: dict[int, str] = {}
        # The same when no response came, e.g. which Airflow connection holds the unreachable URL.
        self.transport_hint: str | None = None
        register_secret(api_key)
        install_log_redaction()

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def request_arguments(self, spec: RequestSpec[Any]) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "method": spec.method,
            "url": self.base_url + spec.path,
            "params": {"api_key": self._api_key, **spec.params},
            "timeout": make_timeout(self.timeout * spec.timeout_factor),
        }
        if spec.json is not None:
            arguments["json"] = spec.json
        if spec.files is not None:
            arguments["files"] = dict(spec.files)
        return arguments

    def finish(self, spec: RequestSpec[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            hint = self.status_hints.get(response.status_code)
            raise error_from_response(spec.operation, response, self.secrets, hint)
        return decode_response(spec, response, self.secrets)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class SyncTransport(_TransportBase):
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        policy: RetryPolicy,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout, policy)
        self.http = http_client or httpx.Client(
            headers={"User-Agent": USER_AGENT}, follow_redirects=False, verify=shared_ssl_context()
        )

    def execute(self, spec: RequestSpec[T]) -> T:
        retrying = Retrying(**retry_arguments(spec.retry, self.policy))
        return retrying(self._attempt, spec)

    def _attempt(self, spec: RequestSpec[T]) -> T:
        failure: RoboflowAPIError | None = None
        started = time.monotonic()
        try:
            response = self.http.request(**self.request_arguments(spec))
        except httpx.HTTPError as error:
            failure = error_from_exception(spec.operation, error, self.secrets, self.transport_hint)
        if failure is not None:
            raise failure
        log.debug("%s: HTTP %s in %.3f s", spec.operation, response.status_code, time.monotonic() - started)
        return self.finish(spec, response)

    def close(self) -> None:
        self.http.close()


class AsyncTransport(_TransportBase):
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        policy: RetryPolicy,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout, policy)
        self.http = http_client or httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT}, follow_redirects=False, verify=shared_ssl_context()
        )

    async def execute(self, spec: RequestSpec[T]) -> T:
        retrying = AsyncRetrying(**retry_arguments(spec.retry, self.policy))
        return await retrying(self._attempt, spec)

    async def _attempt(self, spec: RequestSpec[T]) -> T:
        failure: RoboflowAPIError | None = None
        started = time.monotonic()
        try:
            response = await self.http.request(**self.request_arguments(spec))
        except httpx.HTTPError as error:
            failure = error_from_exception(spec.operation, error, self.secrets, self.transport_hint)
        if failure is not None:
            raise failure
        log.debug("%s: HTTP %s in %.3f s", spec.operation, response.status_code, time.monotonic() - started)
        return self.finish(spec, response)

    async def aclose(self) -> None:
        await self.http.aclose()
