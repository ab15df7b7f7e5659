"""What the operators share: the Roboflow connection, and the selection window of listing operators."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from include.roboflow_batch.hooks.roboflow import RoboflowHook
from include.roboflow_batch.references.window import SelectionWindow, resolve_window

if TYPE_CHECKING:
    from airflow.sdk import Context


class RoboflowOperator(BaseOperator):
    """An operator that calls Roboflow through the connection ``roboflow_conn_id``.

    :param roboflow_conn_id: the Roboflow connection.
    """

    def __init__(self, *, roboflow_conn_id: str = "roboflow_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roboflow_conn_id = roboflow_conn_id

    def _hook(self) -> RoboflowHook:
        return RoboflowHook(roboflow_conn_id=self.roboflow_conn_id)


class SelectionWindowMixin:
    """The templated ``select`` / ``interval_start`` / ``interval_end`` fields of an operator that picks
    objects by their last-modified time, and the window they resolve to after rendering."""

    select: str
    interval_start: datetime | str | None
    interval_end: datetime | str | None

    def _keep_window_fields(
        self, select: str, interval_start: datetime | str | None, interval_end: datetime | str | None
    ) -> None:
        # Kept verbatim: they are templated, so they are checked in resolve_selection(), after rendering.
        self.select = select
        self.interval_start = interval_start
        self.interval_end = interval_end

    def resolve_selection(self, context: Context) -> SelectionWindow:
        """The window of this run; ``ValueError`` names the field that is wrong."""
        return resolve_window(self.select, context, self.interval_start, self.interval_end)
