"""The sync agent's small facts in the edge index (``sync_state``): the order-feed
cursor and the time of the last successful hub contact; and the indexes the agent's
queries need on an index created before the agent existed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, Index, delete, select
from sqlalchemy.dialects.sqlite import insert

from edge_gateway.store.models import Instance, OutboxEvent, SyncState

ORDERS_CURSOR = "orders.cursor"
LAST_CONTACT = "hub.last_contact"
HUB_URL = "hub.url"
"""The hub the agent last started with (for ``pacs-edge sync status``)."""

_STATE = SyncState.__table__  # type: ignore[attr-defined]


def ensure_schema(engine: Engine) -> None:
    """Create the sync agent's table and indexes where missing (``open_index`` creates
    new tables; indexes added to existing tables need this)."""
    SyncState.metadata.create_all(engine, tables=[_STATE])
    tables = (Instance.__table__, OutboxEvent.__table__)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for table in tables:
            for index in table.indexes:
                assert isinstance(index, Index)
                index.create(conn, checkfirst=True)


def read_state(conn: Connection, key: str) -> str | None:
    return conn.scalar(select(_STATE.c.value).where(_STATE.c.key == key))


def delete_state(conn: Connection, key: str) -> None:
    """Remove ``key`` in the caller's transaction (nothing when it is not there)."""
    conn.execute(delete(_STATE).where(_STATE.c.key == key))


def write_state(conn: Connection, key: str, value: str) -> None:
    """Set ``key`` to ``value`` in the caller's transaction."""
    now = datetime.now(UTC)
    stmt = insert(_STATE).values(key=key, value=value, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[_STATE.c.key], set_={"value": value, "updated_at": now}
        )
    )


def read_cursor(conn: Connection) -> int:
    """The order-feed cursor (0 before the first page)."""
    value = read_state(conn, ORDERS_CURSOR)
    return int(value) if value else 0


def record_contact(engine: Engine, moment: datetime | None = None) -> None:
    """Remember a successful exchange with the hub."""
    with engine.begin() as conn:
        write_state(conn, LAST_CONTACT, (moment or datetime.now(UTC)).isoformat())


def last_contact(conn: Connection) -> datetime | None:
    value = read_state(conn, LAST_CONTACT)
    return datetime.fromisoformat(value) if value else None
