"""Strict checks of trigger events: they cross the metadata database and maybe a version boundary."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException

#: Extra time a task may stay deferred after its trigger's own deadline, in case the trigger never reports.
DEFERRAL_GRACE = timedelta(minutes=5)

#: Expected type(s) of each required key, by event status.
EventSchema = Mapping[str, Mapping[str, type | tuple[type, ...]]]


_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "whole number",
    float: "number",
    list: "list",
    dict: "dict",
    Mapping: "dict",
}


def _type_names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(f"a {_TYPE_NAMES.get(k, k.__name__)}" for k in kinds)


def check_event(event: Any, *, source: str, schema: EventSchema) -> dict[str, Any]:
    """``event`` as a dict once its status is known and its required keys have the expected types.

    :param source: what sent the event, for the messages (e.g. ``"Roboflow job trigger"``).
    :raises AirflowException: naming the missing or malformed keys.
    """
    if event is None:
        raise AirflowException(f"the {source} sent no event")
    if not isinstance(event, Mapping):
        raise AirflowException(f"the {source} sent a {type(event).__name__}, not a dict as expected")
    status = event.get("status")
    if not isinstance(status, str) or status not in schema:
        raise AirflowException(
            f"the {source} sent an unknown status {status!r}; expected one of {sorted(schema)}"
        )
    required = schema[status]
    missing = sorted(key for key in required if key not in event)
    if missing:
        raise AirflowException(f"the {source}'s {status!r} event lacks {', '.join(missing)}")
    # bool is an int to isinstance, never to a reader of a count.
    wrong = sorted(
        f"{key} (must be {_type_names(kind)})"
        for key, kind in required.items()
        if not isinstance(event[key], kind) or (kind is int and isinstance(event[key], bool))
    )
    if wrong:
        raise AirflowException(f"the {source}'s {status!r} event has malformed {', '.join(wrong)}")
    return dict(event)
