"""Writing events to the outbox, inside the caller's transaction.

The sync agent (a later part) drains READY rows in ``id`` order; ``event_id`` lets the
hub ignore a repeat.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from edge_gateway.store.models import OutboxEvent, OutboxStatus

_OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]


INSERT_SQL = (
    "INSERT INTO outbox (event_id, kind, subject, payload, status, attempts, "
    "next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, 0, ?, '', ?)"
)
"""The outbox INSERT in SQLite's own dialect, for the ingest path's raw connection."""


def sqlite_timestamp(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores DateTime columns in SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def event_row(*, kind: str, subject: str, payload: dict[str, Any]) -> tuple[str, ...]:
    """Parameters of ``INSERT_SQL`` for one new READY event (a fresh event id first)."""
    now = sqlite_timestamp(datetime.now(UTC))
    return (
        str(uuid.uuid4()),
        kind,
        subject,
        json.dumps(payload, ensure_ascii=False, default=str),
        OutboxStatus.READY.value,
        now,
        now,
    )


def add_event(conn: Connection, *, kind: str, subject: str, payload: dict[str, Any]) -> str:
    """Insert one READY event in the open transaction of ``conn``; return its event id."""
    row = event_row(kind=kind, subject=subject, payload=payload)
    conn.exec_driver_sql(INSERT_SQL, row)
    return row[0]


def backlog(conn: Connection) -> dict[str, int]:
    """Count outbox events by status (the figure operators watch)."""
    rows = conn.execute(select(_OUTBOX.c.status, func.count()).group_by(_OUTBOX.c.status))
    counts = {status.value: 0 for status in OutboxStatus}
    for status, count in rows:
        counts[str(status)] = int(count)
    return counts
