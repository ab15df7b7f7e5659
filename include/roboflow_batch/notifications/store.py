"""Notifications persisted in the Airflow metadata DB, so every API-server worker (and a restarted
one) sees the same events: one Asset event of the notifications Asset per distinct ``event_id``.

De-duplication rides on the Asset state store's primary key ``(asset_id, key)``: the first worker to
insert ``event:<event_id>`` records the event; a redelivery, or the same delivery racing on another
worker, hits the key and is answered as a duplicate. Per batch and per job a small counter
(``batch:<id>``, ``job:<id>``) lets a deferred wait ask "anything new?" with one primary-key read.

Runs inside the API server only (it uses the ORM directly).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from airflow.assets.manager import asset_manager
from airflow.models.asset import AssetActive, AssetEvent, AssetModel
from airflow.models.asset_state_store import AssetStateStoreModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from include.roboflow_batch.notifications.events import (
    NOTIFICATIONS_ASSET_NAME,
    NOTIFICATIONS_ASSET_URI,
    Notification,
)

WRITER_KIND = "api"


@dataclass(frozen=True)
class WatchState:
    """What a deferred wait compares between checks: how many notifications, and the last one."""

    count: int
    last_type: str | None
    last_state: str | None
    received_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def notifications_asset(session: Session) -> AssetModel:
    """The notifications Asset row, created (and listed as active) when no DAG has declared it yet."""
    query = select(AssetModel).where(
        AssetModel.name == NOTIFICATIONS_ASSET_NAME, AssetModel.uri == NOTIFICATIONS_ASSET_URI
    )
    asset = session.scalar(query)
    if asset is None:
        try:
            with session.begin_nested():
                session.add(
                    AssetModel(name=NOTIFICATIONS_ASSET_NAME, uri=NOTIFICATIONS_ASSET_URI, group="roboflow")
                )
        except IntegrityError:  # another worker created it first
            pass
        asset = session.scalar(query)
    if asset is None:
        raise RuntimeError(f"cannot create the {NOTIFICATIONS_ASSET_NAME} Asset")
    if session.get(AssetActive, (NOTIFICATIONS_ASSET_NAME, NOTIFICATIONS_ASSET_URI)) is None:
        try:
            with session.begin_nested():
                session.add(AssetActive.for_asset(asset))
        except IntegrityError:
            pass
    return asset


def record(notification: Notification, session: Session) -> bool:
    """Persist ``notification`` once; False when its ``event_id`` was already recorded."""
    asset = notifications_asset(session)
    now = datetime.now(UTC)
    try:
        with session.begin_nested():
            session.add(
                AssetStateStoreModel(
                    asset_id=asset.id,
                    key=f"event:{notification.event_id}",
                    value=json.dumps({"received_at": now.isoformat()}),
                    updated_at=now,
                    last_updated_by_kind=WRITER_KIND,
                )
            )
    except IntegrityError:
        return False
    asset_manager.register_asset_change(
        asset=asset, extra=notification.to_extra(), session=session, source_is_api=True
    )
    for key in notification.watch_keys():
        _bump(asset.id, key, notification, now, session)
    return True


def _bump(asset_id: int, key: str, notification: Notification, now: datetime, session: Session) -> None:
    row = session.get(AssetStateStoreModel, (asset_id, key), with_for_update=True)
    count = json.loads(row.value)["count"] + 1 if row is not None else 1
    value = json.dumps(
        WatchState(count, notification.type, notification.job_state, now.isoformat()).to_dict()
    )
    if row is None:
        session.add(
            AssetStateStoreModel(
                asset_id=asset_id, key=key, value=value, updated_at=now, last_updated_by_kind=WRITER_KIND
            )
        )
    else:
        row.value, row.updated_at = value, now
    session.flush()


def watch_state(key: str, session: Session) -> WatchState:
    """Notifications so far for one ``batch:<id>`` / ``job:<id>`` key (count 0 when none)."""
    asset_id = session.scalar(
        select(AssetModel.id).where(
            AssetModel.name == NOTIFICATIONS_ASSET_NAME, AssetModel.uri == NOTIFICATIONS_ASSET_URI
        )
    )
    row = session.get(AssetStateStoreModel, (asset_id, key)) if asset_id is not None else None
    if row is None:
        return WatchState(0, None, None, None)
    data = json.loads(row.value)
    return WatchState(data["count"], data.get("last_type"), data.get("last_state"), data.get("received_at"))


def recent(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The newest notifications, newest first, as ``{"received_at", **extra}``."""
    query = (
        select(AssetEvent.timestamp, AssetEvent.extra)
        .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        .where(AssetModel.name == NOTIFICATIONS_ASSET_NAME, AssetModel.uri == NOTIFICATIONS_ASSET_URI)
        .order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc())
        .limit(limit)
    )
    return [{"received_at": stamp.isoformat(), **(extra or {})} for stamp, extra in session.execute(query)]
