"""Writing events to the outbox, inside the caller's transaction.

The sync agent (a later part) drains READY rows in ``id`` order; ``event_id`` lets the
hub ignore a repeat.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from edge_gateway.store.models import OutboxEvent, OutboxStatus

_OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]


def add_event(conn: Connection, *, kind: str, subject: str, payload: dict[str, Any]) -> str:
    """Insert one READY event in the open transaction of ``conn``; return its event id."""
    now = datetime.now(UTC)
    event_id = str(uuid.uuid4())
    conn.execute(
        insert(_OUTBOX).values(
            event_id=event_id,
            kind=kind,
            subject=subject,
            payload=json.dumps(payload, ensure_ascii=False, default=str),
            status=OutboxStatus.READY,
            attempts=0,
            next_attempt_at=now,
            last_error="",
            created_at=now,
        )
    )
    return event_id


def backlog(conn: Connection) -> dict[str, int]:
    """Count outbox events by status (the figure operators watch)."""
    rows = conn.execute(select(_OUTBOX.c.status, func.count()).group_by(_OUTBOX.c.status))
    counts = {status.value: 0 for status in OutboxStatus}
    for status, count in rows:
        counts[str(status)] = int(count)
    return counts
