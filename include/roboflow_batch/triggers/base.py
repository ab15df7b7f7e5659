"""What the Roboflow triggers share: their fields are their arguments, and all of them are serialized."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from airflow.triggers.base import BaseTrigger


@dataclass(eq=False, repr=False)
class RoboflowTrigger(BaseTrigger):
    """Base of the Roboflow triggers, each a dataclass of the arguments it is built with.

    ``serialize`` sends every field, so an argument cannot be left out of it (it would be lost
    without notice when the trigger resumes in another triggerer).
    """

    def __post_init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated

    def serialize(self) -> tuple[str, dict[str, Any]]:
        arguments = {field.name: getattr(self, field.name) for field in fields(self)}
        return f"{type(self).__module__}.{type(self).__qualname__}", arguments
