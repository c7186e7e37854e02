"""The sync backlog: read from the index, printed by ``pacs-edge sync status`` and
written as a Prometheus text file for node_exporter.

node_exporter's textfile collector (``--collector.textfile.directory=DIR``) reads every
``*.prom`` file in ``DIR``; the agent rewrites ``edge_sync.prom`` there (by default
``<data dir>/metrics/``) after every cycle, atomically (temporary file + rename), so the
collector never reads half a file::

    pacs_edge_outbox_events{status="READY"} 12
    pacs_edge_unconfirmed_instances 340
    pacs_edge_oldest_ready_seconds 95.2
    pacs_edge_last_hub_contact_timestamp_seconds 1795600000.5
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, select

from edge_gateway.store.models import Instance, OutboxEvent, OutboxStatus
from edge_gateway.store.outbox import backlog
from edge_gateway.sync.state import last_contact, read_cursor

_INSTANCE = Instance.__table__  # type: ignore[attr-defined]
_OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]

TEXTFILE_NAME = "edge_sync.prom"


@dataclass(frozen=True)
class Backlog:
    """What is still to go up, and when the hub last answered."""

    events: dict[str, int]
    """Outbox events by status (READY, LOCKED, DONE, FAILED)."""
    unconfirmed_instances: int
    oldest_ready_at: datetime | None
    last_contact: datetime | None
    cursor: int

    def oldest_ready_seconds(self, now: datetime | None = None) -> float:
        """Age of the oldest event waiting to be sent; 0 when none waits."""
        if self.oldest_ready_at is None:
            return 0.0
        return max(0.0, ((now or datetime.now(UTC)) - self.oldest_ready_at).total_seconds())


@dataclass(frozen=True)
class WaitingEvent:
    """An event an operator may want to look at: FAILED, or retried already."""

    id: int
    kind: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime


def read_backlog(conn: Connection) -> Backlog:
    oldest = conn.scalar(
        select(_OUTBOX.c.created_at)
        .where(_OUTBOX.c.status == OutboxStatus.READY.value)
        .order_by(_OUTBOX.c.id)
        .limit(1)
    )
    unconfirmed = conn.scalar(
        select(func.count()).select_from(_INSTANCE).where(_INSTANCE.c.hub_confirmed_at.is_(None))
    )
    return Backlog(
        events=backlog(conn),
        unconfirmed_instances=int(unconfirmed or 0),
        oldest_ready_at=_aware(oldest),
        last_contact=last_contact(conn),
        cursor=read_cursor(conn),
    )


def troubled_events(conn: Connection, limit: int = 10) -> list[WaitingEvent]:
    """FAILED events and READY events that have failed before, oldest first."""
    waiting = (_OUTBOX.c.status == OutboxStatus.FAILED.value) | (
        (_OUTBOX.c.status == OutboxStatus.READY.value) & (_OUTBOX.c.attempts > 0)
    )
    rows = conn.execute(select(_OUTBOX).where(waiting).order_by(_OUTBOX.c.id).limit(limit))
    return [
        WaitingEvent(
            id=int(r.id),
            kind=str(r.kind),
            status=str(r.status),
            attempts=int(r.attempts),
            last_error=str(r.last_error),
            created_at=_aware(r.created_at) or datetime.now(UTC),
        )
        for r in rows
    ]


def render(backlog_now: Backlog, now: datetime | None = None) -> str:
    """The Prometheus text exposition of ``backlog_now``."""
    lines = [
        "# HELP pacs_edge_outbox_events Outbox events of the edge by status.",
        "# TYPE pacs_edge_outbox_events gauge",
        *(
            f'pacs_edge_outbox_events{{status="{status}"}} {count}'
            for status, count in sorted(backlog_now.events.items())
        ),
        "# HELP pacs_edge_unconfirmed_instances Archived instances the hub has not confirmed.",
        "# TYPE pacs_edge_unconfirmed_instances gauge",
        f"pacs_edge_unconfirmed_instances {backlog_now.unconfirmed_instances}",
        "# HELP pacs_edge_oldest_ready_seconds Age of the oldest event waiting to be sent.",
        "# TYPE pacs_edge_oldest_ready_seconds gauge",
        f"pacs_edge_oldest_ready_seconds {backlog_now.oldest_ready_seconds(now):.3f}",
        "# HELP pacs_edge_last_hub_contact_timestamp_seconds Unix time the hub last answered.",
        "# TYPE pacs_edge_last_hub_contact_timestamp_seconds gauge",
        "pacs_edge_last_hub_contact_timestamp_seconds "
        + (f"{backlog_now.last_contact.timestamp():.3f}" if backlog_now.last_contact else "0"),
    ]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, content: str) -> None:
    """Replace ``path`` with ``content`` atomically (temporary file in the same folder,
    then rename); readable by the node_exporter user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
