"""Roboflow Data Staging and Batch Processing API client (no Airflow imports)."""

from include.roboflow_batch.api.client import (
    DEFAULT_BASE_URL,
    AsyncRoboflowClient,
    RoboflowClient,
)
from include.roboflow_batch.api.errors import (
    BadRequestError,
    ConflictError,
    FeatureNotEnabledError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseDecodeError,
    RoboflowAPIError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from include.roboflow_batch.api.jobs import RestartOverrides, WorkflowJobSpec
from include.roboflow_batch.api.retries import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncRoboflowClient",
    "BadRequestError",
    "ConflictError",
    "FeatureNotEnabledError",
    "NotFoundError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "RestartOverrides",
    "RetryPolicy",
    "RoboflowAPIError",
    "RoboflowClient",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "WorkflowJobSpec",
]
