"""Tables of the campus queue in the edge's SQLite index (see :mod:`edge_gateway.queue.store`).

* ``queue_snapshot`` — one row per campus and business day: the serialised rooms and number
  counters of the :class:`~edge_gateway.queue.model.CampusQueue` as JSON, with a ``version``
  that rises with every save (a stale writer is detected, not obeyed).
* ``queue_ticket`` — one row per ticket of the day (serialised with its history), written
  only when an action changes that ticket: an action costs the same at 8:00 and at 17:00.
* ``queue_transition`` — every transition, append-only, as the outbox event reported it.
* ``queue_room_seq`` — per campus and room, the ``seq`` of the room's last published picture;
  the signage board ignores a lower seq, so it must only ever rise, across restarts and days.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from edge_gateway.store.models import EdgeModel


class QueueSnapshot(EdgeModel, table=True):
    """The serialised queue of ``campus`` on business day ``day`` (config not included)."""

    __tablename__ = "queue_snapshot"
    __table_args__ = (UniqueConstraint("campus", "day", name="uq_queue_snapshot_campus_day"),)

    id: int | None = Field(default=None, primary_key=True)
    campus: str
    day: date
    version: int = 0
    state: str
    updated_at: datetime


class QueueTransitionRow(EdgeModel, table=True):
    """One transition of the queue; ``event_id`` is the outbox event that carries it."""

    __tablename__ = "queue_transition"
    __table_args__ = (Index("ix_queue_transition_campus_day", "campus", "day", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    campus: str
    day: date
    room: str
    ticket: str | None = None
    action: str
    from_state: str | None = None
    to_state: str | None = None
    detail: str = ""
    at: datetime
    event_id: str


class QueueRoomSeq(EdgeModel, table=True):
    """The last ``seq`` given to a room's picture; never decreases."""

    __tablename__ = "queue_room_seq"

    campus: str = Field(primary_key=True)
    room: str = Field(primary_key=True)
    seq: int = 0
    updated_at: datetime


class QueueArrival(EdgeModel, table=True):
    """A check-in made elsewhere (the hub registrar's 报到) that the campus queue must turn
    into a ticket; written by the order-feed sync, handled once by the queue follower."""

    __tablename__ = "queue_arrival"

    accession: str = Field(primary_key=True)
    patient_id: str
    requested_at: datetime
    handled_at: datetime | None = None
    outcome: str = ""
    attempts: int = 0
    next_try_at: datetime | None = None
    """When a refused check-in (e.g. too early) is tried again; None: at once."""


class QueueTicketRow(EdgeModel, table=True):
    """One ticket of ``campus`` on business day ``day``, serialised (with its history);
    rewritten only when an action changes that ticket."""

    __tablename__ = "queue_ticket"
    __table_args__ = (
        UniqueConstraint("campus", "day", "number", name="uq_queue_ticket_campus_day_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campus: str
    day: date
    number: str
    state: str
    updated_at: datetime
