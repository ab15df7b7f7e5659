"""Receiver for Roboflow webhook notifications, mounted on the Airflow API server at ``/roboflow``.

Roboflow signs nothing: each delivery carries the workspace's *publishable* key in
``Authorization``, so that is what is checked, before the body is read (Airflow does not
authenticate plugin apps). Each distinct ``event_id`` becomes one Asset event of the
``roboflow_notifications`` Asset in the metadata DB, shared by every API-server worker and kept
across restarts; DAGs can be scheduled on it and the deferred waits wake on it.

The key comes from ``ROBOFLOW_WEBHOOK_PUBLISHABLE_KEY`` or else the ``publishable_key`` extra of
the ``roboflow_default`` connection.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from include.roboflow_batch.notifications.events import KEY_ENV, Notification
from include.roboflow_batch.notifications.receiver import create_receiver_app


def publishable_key() -> str | None:
    configured = os.environ.get(KEY_ENV)
    if configured:
        return configured
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection("roboflow_default").extra_dejson.get("publishable_key") or None
    except Exception:  # no connection: every delivery is refused with 503
        return None


def record(notification: Notification) -> bool:
    from airflow.utils.session import create_session

    from include.roboflow_batch.notifications import store

    with create_session() as session:
        return store.record(notification, session)


def watch_state(key: str) -> dict[str, Any]:
    from airflow.utils.session import create_session

    from include.roboflow_batch.notifications import store

    with create_session() as session:
        return store.watch_state(key, session).to_dict()


class RoboflowWebhooksPlugin(AirflowPlugin):
    name = "roboflow_webhooks"
    fastapi_apps = [
        {
            "app": create_receiver_app(publishable_key, record, watch_state),
            "url_prefix": "/roboflow",
            "name": "Roboflow webhooks",
        }
    ]
