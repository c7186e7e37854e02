"""Persistence of a campus's queue in the edge's SQLite index: every transition survives a
restart and is an outbox event.

Schema choice — a snapshot of rooms and counters per campus-day, one serialised row per
ticket, and a transitions log (tables in :mod:`edge_gateway.queue.tables`), not a
normalised schema of columns:

* the queue is always wholly in memory, where the pure actions work on the entire
  :class:`CampusQueue`; each action writes back the small rooms/counters row and only the
  ticket rows it changed (unchanged tickets are the very same objects), so its cost does not
  grow through the day; reading it back is exactly the state the rules saw, with no
  mapping of pins, prep states or per-ticket history onto columns that could drift;
* the questions asked of the database (statistics, audit, "what happened to C012") are
  answered by the append-only ``queue_transition`` log and by the hub from the outbox, not
  by querying live tickets;
* each snapshot row carries a ``version``: a second writer on the same campus (a leftover
  process) fails with :class:`StaleQueueError` instead of silently overwriting.

:class:`QueueService` is the one writer of a campus: it holds a lock, runs the pure action
(:mod:`edge_gateway.queue.actions`) on its in-memory state, and in ONE transaction saves the
new snapshot, appends the transitions, writes one outbox event per transition (kind
``queue.<action>``, no patient names) and raises the ``seq`` of every room whose picture
changed; only after the commit does it swap its in-memory state. A refused action
(:class:`QueueError`) writes nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from edge_gateway.queue import actions
from edge_gateway.queue.actions import Outcome, start_day
from edge_gateway.queue.model import (
    Action,
    CampusQueue,
    CheckInRequest,
    Clock,
    Level,
    NumberCounter,
    PrepState,
    QueueConfig,
    RoomState,
    Ticket,
    TicketState,
    Transition,
    new_queue,
)
from edge_gateway.queue.numbering import business_day
from edge_gateway.queue.tables import (
    QueueRoomSeq,
    QueueSnapshot,
    QueueTicketRow,
    QueueTransitionRow,
)
from edge_gateway.store.outbox import add_event

_SNAPSHOT = QueueSnapshot.__table__  # type: ignore[attr-defined]
_TICKET = QueueTicketRow.__table__  # type: ignore[attr-defined]
_TRANSITION = QueueTransitionRow.__table__  # type: ignore[attr-defined]
_SEQ = QueueRoomSeq.__table__  # type: ignore[attr-defined]


class StaleQueueError(RuntimeError):
    """Another writer saved this campus's queue since this service loaded it; nothing was
    written. Two services must never run for one campus: stop the other one, then ``load()``."""


# --- serialisation of a CampusQueue (config excluded: it comes from the service) --------


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _encode_transition(t: Transition) -> dict[str, Any]:
    return {
        "at": t.at.isoformat(),
        "campus": t.campus,
        "room": t.room,
        "ticket": t.ticket,
        "action": t.action.value,
        "from_state": t.from_state.value if t.from_state else None,
        "to_state": t.to_state.value if t.to_state else None,
        "detail": t.detail,
    }


def _decode_transition(d: dict[str, Any]) -> Transition:
    return Transition(
        at=datetime.fromisoformat(d["at"]),
        campus=d["campus"],
        room=d["room"],
        ticket=d["ticket"],
        action=Action(d["action"]),
        from_state=TicketState(d["from_state"]) if d["from_state"] else None,
        to_state=TicketState(d["to_state"]) if d["to_state"] else None,
        detail=d["detail"],
    )


_PLAIN_TICKET_FIELDS = (
    "number",
    "prefix",
    "seq",
    "campus",
    "room",
    "modality",
    "patient_id",
    "full_name",
    "special_group",
    "pin",
    "missed_count",
    "call_attempts",
)


def _encode_ticket(t: Ticket) -> dict[str, Any]:
    return {
        **{name: getattr(t, name) for name in _PLAIN_TICKET_FIELDS},
        "day": t.day.isoformat(),
        "level": t.level.value,
        "status": t.status.value,
        "prep": t.prep.value,
        "late": t.late,
        "checked_in_at": t.checked_in_at.isoformat(),
        "appointment_at": _when(t.appointment_at),
        "queue_at": t.queue_at.isoformat(),
        "called_at": _when(t.called_at),
        "accessions": list(t.accessions),
        "history": [_encode_transition(h) for h in t.history],
    }


def _decode_ticket(d: dict[str, Any]) -> Ticket:
    return Ticket(
        number=d["number"],
        prefix=d["prefix"],
        seq=d["seq"],
        day=date.fromisoformat(d["day"]),
        campus=d["campus"],
        room=d["room"],
        modality=d["modality"],
        patient_id=d["patient_id"],
        full_name=d["full_name"],
        level=Level(d["level"]),
        special_group=d["special_group"],
        checked_in_at=datetime.fromisoformat(d["checked_in_at"]),
        appointment_at=_parse(d["appointment_at"]),
        queue_at=datetime.fromisoformat(d["queue_at"]),
        late=bool(d["late"]),
        pin=d["pin"],
        status=TicketState(d["status"]),
        missed_count=d["missed_count"],
        prep=PrepState(d["prep"]),
        accessions=tuple(d["accessions"]),
        called_at=_parse(d["called_at"]),
        call_attempts=d["call_attempts"],
        history=tuple(_decode_transition(h) for h in d["history"]),
    )


def encode_ticket(ticket: Ticket) -> str:
    """One ticket (with its history) as JSON, as a ``queue_ticket`` row holds it."""
    return json.dumps(_encode_ticket(ticket), ensure_ascii=False)


def decode_ticket(text: str) -> Ticket:
    return _decode_ticket(json.loads(text))


def encode_queue(queue: CampusQueue) -> str:
    """The queue's rooms and number counters as JSON (tickets are rows of their own; the
    config is not saved)."""
    data = {
        "rooms": [{**asdict(r), "durations": list(r.durations)} for r in queue.rooms.values()],
        "counters": [
            {"prefix": c.prefix, "day": c.day.isoformat(), "last": c.last}
            for c in queue.counters.values()
        ],
    }
    return json.dumps(data, ensure_ascii=False)


def decode_queue(text: str, config: QueueConfig, tickets: Iterable[Ticket] = ()) -> CampusQueue:
    """The queue saved by :func:`encode_queue` with its ``tickets``, under ``config``:
    configured rooms take their label and modality from the config (new rooms start empty);
    saved rooms no longer configured are kept so their tickets can still be served,
    transferred or cancelled. (A snapshot written before tickets had rows of their own
    holds them under ``"tickets"``; those are read too.)"""
    data = json.loads(text)
    saved = {
        r["room"]: RoomState(**{**r, "durations": tuple(r["durations"])}) for r in data["rooms"]
    }
    rooms = dict(new_queue(config).rooms)
    for room, state in rooms.items():
        if room in saved:
            rooms[room] = replace(saved[room], label=state.label, modality=state.modality)
    rooms.update({r: s for r, s in saved.items() if r not in rooms})
    found = {t["number"]: _decode_ticket(t) for t in data.get("tickets", ())}
    found.update({t.number: t for t in tickets})
    counters = {
        c["prefix"]: NumberCounter(c["prefix"], date.fromisoformat(c["day"]), c["last"])
        for c in data["counters"]
    }
    return CampusQueue(config=config, rooms=rooms, tickets=found, counters=counters)


def changed_rooms(old: CampusQueue, new: CampusQueue) -> set[str]:
    """Rooms whose picture differs between ``old`` and ``new``: their own state changed, or
    a ticket that is (or was) theirs changed, appeared or went away."""
    rooms = {r for r, state in new.rooms.items() if old.rooms.get(r) != state}
    for number in old.tickets.keys() | new.tickets.keys():
        before, after = old.tickets.get(number), new.tickets.get(number)
        if before is not after and before != after:
            rooms.update(t.room for t in (before, after) if t is not None)
    return rooms


# --- the service --------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """A committed change: the new queue, its transitions, and the new ``seq`` of every room
    whose picture changed (the rooms to publish)."""

    queue: CampusQueue
    transitions: tuple[Transition, ...]
    seqs: Mapping[str, int]


def event_payload(queue: CampusQueue, t: Transition, seq: int | None) -> dict[str, Any]:
    """The outbox payload of transition ``t``: campus, room, ticket, action, at, states,
    detail, and for a ticket its modality, patient_id, accessions. Never a patient name."""
    payload: dict[str, Any] = {
        "campus": t.campus,
        "room": t.room,
        "ticket": t.ticket,
        "action": t.action.value,
        "at": t.at.isoformat(),
        "from_state": t.from_state.value if t.from_state else None,
        "to_state": t.to_state.value if t.to_state else None,
        "detail": t.detail,
        "seq": seq,
    }
    ticket = queue.tickets.get(t.ticket) if t.ticket else None
    if ticket is not None:
        payload["modality"] = ticket.modality
        payload["patient_id"] = ticket.patient_id
        payload["accessions"] = list(ticket.accessions)
    return payload


class QueueService:
    """The single writer of one campus's queue (thread-safe; one instance per campus).

    Call :meth:`load` once before any action. Every action method takes its time from the
    injected clock, first drops tickets of earlier business days (``start_day``), runs the
    pure action and commits as described in the module docstring; it returns
    :class:`Applied`, raises :class:`QueueError` (nothing written) when the rules refuse,
    and :class:`StaleQueueError` when another writer got in first (nothing written).
    """

    def __init__(self, engine: Engine, config: QueueConfig, clock: Clock) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: CampusQueue | None = None
        self._seqs: dict[str, int] = {}
        self._day: date | None = None
        self._version = 0
        self._rewrite_all = False

    @property
    def queue(self) -> CampusQueue:
        """The current (committed) queue; raises RuntimeError before :meth:`load`."""
        if self._queue is None:
            raise RuntimeError("QueueService.load() must be called first")
        return self._queue

    def seq(self, room: str) -> int:
        """The ``seq`` of ``room``'s last changed picture (0: never changed)."""
        return self._seqs.get(room, 0)

    def load(self) -> CampusQueue:
        """Rebuild the queue from the campus's latest snapshot (empty if none) and start the
        day: tickets of earlier days are dropped, and that is committed like an action."""
        campus = self._config.campus
        with self._lock:
            with self._engine.connect() as conn:
                row = conn.execute(
                    select(_SNAPSHOT.c.day, _SNAPSHOT.c.version, _SNAPSHOT.c.state)
                    .where(_SNAPSHOT.c.campus == campus)
                    .order_by(_SNAPSHOT.c.day.desc())
                    .limit(1)
                ).first()
                seqs = conn.execute(
                    select(_SEQ.c.room, _SEQ.c.seq).where(_SEQ.c.campus == campus)
                ).all()
                tickets = []
                if row is not None:
                    tickets = [
                        decode_ticket(text)
                        for text in conn.execute(
                            select(_TICKET.c.state).where(
                                _TICKET.c.campus == campus, _TICKET.c.day == row.day
                            )
                        ).scalars()
                    ]
            self._seqs = {str(r): int(s) for r, s in seqs}
            if row is None:
                queue, self._day, self._version = new_queue(self._config), None, 0
            else:
                queue = decode_queue(row.state, self._config, tickets)
                self._day, self._version = row.day, int(row.version)
                # a snapshot from before tickets had rows: write them all at the next save
                self._rewrite_all = "tickets" in json.loads(row.state)
            self._queue = queue
            now = self._clock()
            started = start_day(queue, now=now)
            if started is not queue:
                self._commit(queue, Outcome(started, ()), now)
            return self.queue

    # -- actions (see edge_gateway.queue.actions for each rule) --

    def check_in(self, request: CheckInRequest) -> Applied:
        return self._run(lambda q, now: actions.check_in(q, request, now=now))

    def call_next(self, room: str) -> Applied:
        return self._run(lambda q, now: actions.call_next(q, room, now=now))

    def recall(self, number: str) -> Applied:
        return self._run(lambda q, now: actions.recall(q, number, now=now))

    def skip(self, number: str) -> Applied:
        return self._run(lambda q, now: actions.skip(q, number, now=now))

    def return_missed(self, number: str) -> Applied:
        return self._run(lambda q, now: actions.return_missed(q, number, now=now))

    def send_to_prep(self, number: str, *, reason: str = "") -> Applied:
        return self._run(lambda q, now: actions.send_to_prep(q, number, now=now, reason=reason))

    def back_from_prep(self, number: str) -> Applied:
        return self._run(lambda q, now: actions.back_from_prep(q, number, now=now))

    def transfer(self, number: str, to_room: str) -> Applied:
        return self._run(lambda q, now: actions.transfer(q, number, to_room, now=now))

    def pause(self, room: str) -> Applied:
        return self._run(lambda q, now: actions.pause(q, room, now=now))

    def resume(self, room: str) -> Applied:
        return self._run(lambda q, now: actions.resume(q, room, now=now))

    def start_exam(self, number: str) -> Applied:
        return self._run(lambda q, now: actions.start_exam(q, number, now=now))

    def complete(self, number: str) -> Applied:
        return self._run(lambda q, now: actions.complete(q, number, now=now))

    def complete_by_accession(self, accession: str) -> Applied:
        """As :func:`actions.complete_by_accession`; no matching ticket → nothing written,
        an :class:`Applied` without transitions."""
        return self._run(lambda q, now: actions.complete_by_accession(q, accession, now=now))

    def discontinue_by_accession(self, accession: str) -> Applied:
        """As :func:`actions.discontinue_by_accession`; no matching ticket → nothing
        written, an :class:`Applied` without transitions."""
        return self._run(lambda q, now: actions.discontinue_by_accession(q, accession, now=now))

    def refresh_day(self) -> Applied:
        """Start the business day if it has turned (reset time passed): yesterday's
        tickets leave and the rooms' pictures change (new seqs, no transitions). An
        :class:`Applied` without seqs when nothing changed."""
        return self._run(lambda q, now: Outcome(q, ()))

    def cancel(self, number: str, *, reason: str = "") -> Applied:
        return self._run(lambda q, now: actions.cancel(q, number, now=now, reason=reason))

    # -- internals --

    def _run(self, action: Callable[[CampusQueue, datetime], Outcome]) -> Applied:
        with self._lock:
            current = self.queue
            now = self._clock()
            outcome = action(start_day(current, now=now), now)
            if outcome.queue is current:
                return Applied(current, (), {})
            return self._commit(current, outcome, now)

    def _commit(self, current: CampusQueue, outcome: Outcome, now: datetime) -> Applied:
        """Save ``outcome`` in one transaction, then make it the in-memory state. Caller
        holds the lock."""
        config = self._config
        day = business_day(now, reset=config.reset_time, zone=config.zone)
        seqs = {r: self.seq(r) + 1 for r in sorted(changed_rooms(current, outcome.queue))}
        stamp = now.astimezone(UTC)
        with self._engine.begin() as conn:
            version = self._save_snapshot(conn, day, outcome.queue, stamp)
            self._save_tickets(conn, current, outcome.queue, stamp)
            for t in outcome.transitions:
                payload = event_payload(outcome.queue, t, seqs.get(t.room))
                subject = t.ticket or t.room
                event_id = add_event(
                    conn, kind=f"queue.{t.action.value}", subject=subject, payload=payload
                )
                conn.execute(insert(_TRANSITION).values(_transition_row(t, day, event_id)))
                if t.action is Action.CHECK_IN and t.ticket:
                    _report_arrival(conn, outcome.queue.tickets[t.ticket], t)
            for room, seq in seqs.items():
                values = {"campus": config.campus, "room": room, "seq": seq, "updated_at": stamp}
                upsert = sqlite_insert(_SEQ).values(values)
                conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["campus", "room"],
                        set_={"seq": upsert.excluded.seq, "updated_at": stamp},
                    )
                )
        self._queue, self._day, self._version = outcome.queue, day, version
        self._rewrite_all = False
        self._seqs.update(seqs)
        return Applied(outcome.queue, outcome.transitions, seqs)

    def _save_tickets(
        self, conn: Connection, old: CampusQueue, new: CampusQueue, stamp: datetime
    ) -> None:
        """Write the tickets ``new`` changed or added (the same object means unchanged: the
        actions replace what they change) and delete those it dropped."""
        campus = self._config.campus
        changed = [
            t
            for number, t in new.tickets.items()
            if self._rewrite_all or old.tickets.get(number) is not t
        ]
        if changed:
            upsert = sqlite_insert(_TICKET).values(
                [
                    {
                        "campus": campus,
                        "day": t.day,
                        "number": t.number,
                        "state": encode_ticket(t),
                        "updated_at": stamp,
                    }
                    for t in changed
                ]
            )
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["campus", "day", "number"],
                    set_={"state": upsert.excluded.state, "updated_at": stamp},
                )
            )
        for number in old.tickets.keys() - new.tickets.keys():
            gone = old.tickets[number]
            conn.execute(
                delete(_TICKET).where(
                    _TICKET.c.campus == campus,
                    _TICKET.c.day == gone.day,
                    _TICKET.c.number == number,
                )
            )

    def _save_snapshot(
        self, conn: Connection, day: date, queue: CampusQueue, stamp: datetime
    ) -> int:
        """Write the snapshot row of ``day``; return its new version. Raises
        StaleQueueError if the row is not at the version this service last saw."""
        state = encode_queue(queue)
        campus = self._config.campus
        if day == self._day:
            result = conn.execute(
                update(_SNAPSHOT)
                .where(
                    _SNAPSHOT.c.campus == campus,
                    _SNAPSHOT.c.day == day,
                    _SNAPSHOT.c.version == self._version,
                )
                .values(state=state, version=self._version + 1, updated_at=stamp)
            )
            if result.rowcount != 1:
                raise StaleQueueError(f"queue of {campus} on {day} was changed by another writer")
            return self._version + 1
        try:  # a failed INSERT fails alone in SQLite; the raise below rolls back the rest
            conn.execute(
                insert(_SNAPSHOT).values(
                    campus=campus, day=day, version=1, state=state, updated_at=stamp
                )
            )
        except IntegrityError as error:
            raise StaleQueueError(
                f"queue of {campus} on {day} was started by another writer"
            ) from error
        return 1


def _report_arrival(conn: Connection, ticket: Ticket, t: Transition) -> None:
    """One ``exam.checked_in`` event per exam of a new ticket: the hub marks those orders
    arrived (已报到)."""
    for accession in ticket.accessions:
        add_event(
            conn,
            kind="exam.checked_in",
            subject=accession,
            payload={
                "accession": accession,
                "campus": t.campus,
                "room": ticket.room,
                "ticket": ticket.number,
                "patient_id": ticket.patient_id,
                "modality": ticket.modality,
                "at": t.at.isoformat(),
            },
        )


def _transition_row(t: Transition, day: date, event_id: str) -> dict[str, Any]:
    return {
        "campus": t.campus,
        "day": day,
        "room": t.room,
        "ticket": t.ticket,
        "action": t.action.value,
        "from_state": t.from_state.value if t.from_state else None,
        "to_state": t.to_state.value if t.to_state else None,
        "detail": t.detail,
        "at": t.at.astimezone(UTC),
        "event_id": event_id,
    }
