"""Roboflow Data Staging and Batch Processing API client (no Airflow imports).

The public names load their module on first use: a process that needs one part of the package
(the export's worker processes only download signed URLs) does not pay for the whole client, its
pydantic models included.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from include.roboflow_batch.api.client import DEFAULT_BASE_URL, AsyncRoboflowClient, RoboflowClient
    from include.roboflow_batch.api.errors import (
        BadRequestError,
        ConflictError,
        CreditsExhaustedError,
        ExpiredBatchIdError,
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
    "CreditsExhaustedError",
    "ExpiredBatchIdError",
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
# The modules holding them, lightest first.
_MODULES = ("errors", "retries", "jobs", "client")


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module in _MODULES:
            found = importlib.import_module(f"{__name__}.{module}")
            if hasattr(found, name):
                return getattr(found, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
