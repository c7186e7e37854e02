"""Writing events to the outbox, inside the caller's transaction.

The sync agent (``edge_gateway.sync``) drains READY rows in ``id`` order with the
claim/settle functions below; ``event_id`` lets the hub ignore a repeat.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from edge_gateway.store.models import OutboxEvent, OutboxStatus

_OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]


INSERT_SQL = (
    "INSERT INTO outbox (event_id, kind, subject, payload, status, attempts, "
    "next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, 0, ?, '', ?)"
)
"""The outbox INSERT in SQLite's own dialect, for the ingest path's raw connection."""


def sqlite_timestamp(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores DateTime columns in SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


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


# --- draining (the sync agent) -------------------------------------------------------

UPLOAD_KINDS = ("instance.new", "instance.replaced")
"""Event kinds whose subject (a SOP Instance UID) has a file to send before the event."""


@dataclass(frozen=True)
class ClaimedEvent:
    """An outbox row the caller has LOCKED and must settle (done, failed, retry, release)."""

    id: int
    event_id: str
    kind: str
    subject: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime

    @property
    def uploads_file(self) -> bool:
        return self.kind in UPLOAD_KINDS


_CLAIM_SQL = f"""
UPDATE outbox SET status = 'LOCKED', locked_at = :now
WHERE id IN (
  SELECT id FROM (
    SELECT c.id AS id,
           ROW_NUMBER() OVER (ORDER BY c.id) AS n,
           SUM(COALESCE(i.size_bytes, 0)) OVER (ORDER BY c.id) AS running
    FROM (
      SELECT o.id AS id, o.kind AS kind, o.subject AS subject
      FROM outbox AS o INDEXED BY ix_outbox_status_id
      WHERE o.status = 'READY' AND o.next_attempt_at <= :now
        AND NOT EXISTS (
          SELECT 1 FROM outbox AS e
          WHERE e.subject = o.subject AND e.id < o.id
            AND (e.status = 'LOCKED' OR (e.status = 'READY' AND e.next_attempt_at > :now)))
      ORDER BY o.id LIMIT :max_events
    ) AS c
    LEFT JOIN instance AS i
      ON i.sop_uid = c.subject AND c.kind IN ({", ".join(f"'{k}'" for k in UPLOAD_KINDS)})
  ) WHERE n = 1 OR running <= :max_bytes
)
RETURNING id, event_id, kind, subject, payload, attempts, created_at
"""


def claim_batch(
    engine: Engine, *, max_events: int, max_bytes: int, now: datetime | None = None
) -> list[ClaimedEvent]:
    """Atomically LOCK the oldest due READY events and return them in ``id`` order.

    One ``UPDATE … RETURNING`` statement: at most ``max_events`` rows, and no more than
    ``max_bytes`` of archive files for upload events (but always at least one row).
    An event is left out while an older event of the same subject is LOCKED (in
    flight) or waiting for its retry time, so events of one subject are never sent out
    of order; events of one subject that are all due go in the same batch, in order.
    Needs the indexes that ``edge_gateway.sync.state.ensure_schema`` makes.
    """
    moment = sqlite_timestamp(now or datetime.now(UTC))
    with engine.begin() as conn:
        rows = conn.execute(
            text(_CLAIM_SQL),
            {"now": moment, "max_events": max_events, "max_bytes": max_bytes},
        ).all()
    events = [
        ClaimedEvent(
            id=int(r.id),
            event_id=str(r.event_id),
            kind=str(r.kind),
            subject=str(r.subject),
            payload=json.loads(r.payload),
            attempts=int(r.attempts),
            created_at=_parse_timestamp(r.created_at),
        )
        for r in rows
    ]
    return sorted(events, key=lambda e: e.id)


def mark_done(engine: Engine, ids: Sequence[int]) -> None:
    """The hub holds these events (accepted now or before): LOCKED → DONE."""
    if ids:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE outbox SET status = 'DONE', locked_at = NULL, last_error = '' "
                    "WHERE id = :id"
                ),
                [{"id": i} for i in ids],
            )


def mark_failed(engine: Engine, failures: Sequence[tuple[int, str]]) -> None:
    """The hub refused these events for good: → FAILED with the reason, kept for an
    operator (``pacs-edge sync retry`` puts them back)."""
    if failures:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE outbox SET status = 'FAILED', locked_at = NULL, "
                    "attempts = attempts + 1, last_error = :error WHERE id = :id"
                ),
                [{"id": i, "error": reason[:1000]} for i, reason in failures],
            )


def retry_later(engine: Engine, retries: Sequence[tuple[int, datetime, str]]) -> None:
    """Give claimed events back for another try: READY, ``attempts`` + 1, not before the
    given time, with the reason in ``last_error``. Items are (id, next attempt, reason)."""
    if retries:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE outbox SET status = 'READY', locked_at = NULL, "
                    "attempts = attempts + 1, next_attempt_at = :at, last_error = :error "
                    "WHERE id = :id AND status = 'LOCKED'"
                ),
                [
                    {"id": i, "at": sqlite_timestamp(at), "error": reason[:1000]}
                    for i, at, reason in retries
                ],
            )


def release(engine: Engine, ids: Sequence[int]) -> None:
    """Give claimed events back untouched (not tried in this batch): LOCKED → READY."""
    if ids:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE outbox SET status = 'READY', locked_at = NULL "
                    "WHERE id = :id AND status = 'LOCKED'"
                ),
                [{"id": i} for i in ids],
            )


def recover_stale(engine: Engine, *, locked_before: datetime) -> int:
    """Claims older than ``locked_before`` (their agent crashed or hung) → READY;
    return how many."""
    with engine.begin() as conn:
        result = conn.execute(
            text(
                "UPDATE outbox SET status = 'READY', locked_at = NULL "
                "WHERE status = 'LOCKED' AND (locked_at IS NULL OR locked_at < :before)"
            ),
            {"before": sqlite_timestamp(locked_before)},
        )
    return int(result.rowcount or 0)


def retry_failed(engine: Engine) -> int:
    """Put every FAILED event back to READY for another try now; return how many."""
    with engine.begin() as conn:
        result = conn.execute(
            text(
                "UPDATE outbox SET status = 'READY', attempts = 0, next_attempt_at = :now "
                "WHERE status = 'FAILED'"
            ),
            {"now": sqlite_timestamp(datetime.now(UTC))},
        )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Resent:
    """What :func:`resend_delivered` put back: events, and images no longer confirmed."""

    events: int
    images: int


def resend_delivered(engine: Engine, *, since: datetime, margin: timedelta) -> Resent:
    """After the hub was restored from a backup taken at ``since``: put back to READY every
    delivered (DONE) event written from ``since - margin`` on, and the event of every image
    the hub confirmed from ``since`` on, whose confirmation is cleared (the restored hub
    does not hold it). The agent sends them again; the hub takes what it lost and answers
    duplicate for the rest. ``margin`` covers events delivered some time after they were
    written (an outage before the backup). One transaction."""
    confirmed = sqlite_timestamp(since)
    written = sqlite_timestamp(since - margin)
    with engine.begin() as conn:
        events = conn.execute(
            text(
                "UPDATE outbox SET status = 'READY', attempts = 0, "
                "next_attempt_at = created_at, locked_at = NULL, last_error = '' "
                "WHERE status = 'DONE' AND (created_at >= :written OR subject IN "
                "(SELECT sop_uid FROM instance WHERE hub_confirmed_at >= :confirmed))"
            ),
            {"written": written, "confirmed": confirmed},
        )
        images = conn.execute(
            text(
                "UPDATE instance SET hub_confirmed_at = NULL WHERE hub_confirmed_at >= :confirmed"
            ),
            {"confirmed": confirmed},
        )
    return Resent(events=int(events.rowcount or 0), images=int(images.rowcount or 0))


def prune_done(engine: Engine, *, created_before: datetime, limit: int = 10_000) -> int:
    """Delete up to ``limit`` DONE events created before ``created_before``; return how
    many (delivered events are of no further use once old)."""
    with engine.begin() as conn:
        result = conn.execute(
            text(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                "WHERE status = 'DONE' AND created_at < :before ORDER BY id LIMIT :limit)"
            ),
            {"before": sqlite_timestamp(created_before), "limit": limit},
        )
    return int(result.rowcount or 0)


def ready_count(conn: Connection) -> int:
    """Events waiting to be sent (READY)."""
    return int(
        conn.scalar(
            select(func.count())
            .select_from(_OUTBOX)
            .where(_OUTBOX.c.status == OutboxStatus.READY.value)
        )
        or 0
    )


def _parse_timestamp(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
