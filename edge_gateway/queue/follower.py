"""Moves the campus queue along with what happens elsewhere in the gateway.

* MPPS from the modalities: N-CREATE IN PROGRESS → the called ticket holding that
  accession is in exam; N-SET COMPLETED → its ticket is complete; N-SET DISCONTINUED →
  its ticket is cancelled and the room freed (the step has left the worklist). The DICOM
  services may run in several worker processes, so the follower does not get calls from
  them: it reads the ``mpps.*`` rows they write to the outbox (in id order, from a cursor kept in
  ``sync_state``), which works the same with one process or many.
* Check-ins made at the hub (a registrar's 报到): the order-feed sync writes them to
  ``queue_arrival``; each is checked in once and marked handled with its outcome. One the
  rules refuse for now (too early for the appointment) is tried again every minute, until
  it works or its exam is no longer on today's worklist.

:meth:`QueueFollower.step` does one round and is what tests drive; :meth:`start` runs it
every ``interval`` seconds on a thread until :meth:`stop`.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, update

from edge_gateway.queue.desk import QueueDesk
from edge_gateway.queue.errors import NothingScheduled, QueueError
from edge_gateway.queue.model import TicketState
from edge_gateway.queue.tables import QueueArrival
from edge_gateway.store.models import OutboxEvent
from edge_gateway.sync.state import read_state, write_state

log = logging.getLogger(__name__)

_OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]
_ARRIVAL = QueueArrival.__table__  # type: ignore[attr-defined]
MPPS_CURSOR = "queue.mpps_cursor"
MPPS_KINDS = ("mpps.in_progress", "mpps.completed", "mpps.discontinued")
RETRY_SECONDS = 60
"""How soon a hub check-in the queue refused (too early, room missing) is tried again."""
_BATCH = 200


class QueueFollower:
    """See the module docstring."""

    def __init__(self, engine: Engine, desk: QueueDesk, *, interval: float = 0.5) -> None:
        self._engine = engine
        self._desk = desk
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin from the outbox's current end when no cursor is stored yet (old MPPS
        must not replay into today's queue), then follow on a thread."""
        with self._engine.begin() as conn:
            if read_state(conn, MPPS_CURSOR) is None:
                last = conn.scalar(select(func.max(_OUTBOX.c.id))) or 0
                write_state(conn, MPPS_CURSOR, str(last))
        self._thread = threading.Thread(target=self._loop, name="queue-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception:  # the follower must outlive a bad row or a locked database
                log.exception("queue follower round failed; trying again")
                busy = 0
            if not busy:
                self._stop.wait(self._interval)

    def step(self) -> int:
        """One round: start a new business day when the reset time has passed (boards then
        show the empty rooms at once, not at the first action of the day), apply new MPPS
        events, then pending hub check-ins. Returns how many rows it handled."""
        self._desk.run(lambda s: s.refresh_day())
        return self._follow_mpps() + self._follow_arrivals()

    def _follow_mpps(self) -> int:
        with self._engine.connect() as conn:
            cursor = int(read_state(conn, MPPS_CURSOR) or 0)
            newest = conn.scalar(select(func.max(_OUTBOX.c.id))) or 0
            rows = conn.execute(
                select(_OUTBOX.c.id, _OUTBOX.c.kind, _OUTBOX.c.payload)
                .where(_OUTBOX.c.id > cursor, _OUTBOX.c.kind.in_(MPPS_KINDS))
                .order_by(_OUTBOX.c.id)
                .limit(_BATCH)
            ).all()
        if newest < cursor:  # delivered events were purged and ids started lower again
            rows, last = [], newest
        else:
            last = rows[-1].id if rows else cursor
        for row in rows:
            accession = str(json.loads(row.payload).get("accession") or "")
            if accession:
                self._apply_mpps(row.kind, accession)
        if last != cursor:
            with self._engine.begin() as conn:
                write_state(conn, MPPS_CURSOR, str(last))
        return len(rows)

    def _apply_mpps(self, kind: str, accession: str) -> None:
        if kind == "mpps.completed":
            applied = self._desk.run(lambda s: s.complete_by_accession(accession))
            if applied.transitions:
                log.info("queue: exam %s completed by the modality (MPPS)", accession)
            return
        if kind == "mpps.discontinued":
            applied = self._desk.run(lambda s: s.discontinue_by_accession(accession))
            if applied.transitions:
                log.info(
                    "queue: exam %s discontinued by the modality (MPPS): ticket %s cancelled",
                    accession,
                    applied.transitions[0].ticket,
                )
            return
        for ticket in self._desk.queue.tickets.values():
            if accession in ticket.accessions and ticket.status is TicketState.CALLED:
                number = ticket.number
                try:
                    self._desk.run(lambda s, n=number: s.start_exam(n))  # type: ignore[misc]
                except QueueError as error:
                    log.info("queue: MPPS for %s not applied: %s", accession, error)
                return

    def _follow_arrivals(self) -> int:
        now = datetime.now(UTC)
        with self._engine.connect() as conn:
            pending = conn.execute(
                select(_ARRIVAL.c.accession, _ARRIVAL.c.patient_id)
                .where(
                    _ARRIVAL.c.handled_at.is_(None),
                    (_ARRIVAL.c.next_try_at.is_(None)) | (_ARRIVAL.c.next_try_at <= now),
                )
                .order_by(_ARRIVAL.c.requested_at)
                .limit(_BATCH)
            ).all()
        for accession, _patient_id in pending:
            held = [
                t.number for t in self._desk.queue.tickets.values() if accession in t.accessions
            ]
            if held:  # checked in here already (the hub is echoing this edge's own report)
                self._mark(accession, f"held by {', '.join(sorted(held))}")
                continue
            try:
                checked = self._desk.check_in(accession=accession)
                outcome = ", ".join(
                    f"{c.ticket.number}{'' if c.new else ' (held)'}" for c in checked
                )
                log.info("queue: hub check-in of %s → ticket %s", accession, outcome)
            except NothingScheduled as error:
                outcome = f"refused: {error}"
                log.warning("queue: hub check-in of %s refused: %s", accession, error)
            except QueueError as error:  # e.g. too early: try again until it works or the
                # exam is no longer on today's worklist
                self._postpone(accession, f"waiting: {error}")
                continue
            self._mark(accession, outcome)
        return len(pending)

    def _postpone(self, accession: str, outcome: str) -> None:
        with self._engine.begin() as conn:
            attempts = conn.scalar(
                select(_ARRIVAL.c.attempts).where(_ARRIVAL.c.accession == accession)
            )
            if not attempts:
                log.info("queue: hub check-in of %s not possible yet: %s", accession, outcome)
            conn.execute(
                update(_ARRIVAL)
                .where(_ARRIVAL.c.accession == accession)
                .values(
                    attempts=(attempts or 0) + 1,
                    next_try_at=datetime.now(UTC) + timedelta(seconds=RETRY_SECONDS),
                    outcome=outcome[:500],
                )
            )

    def _mark(self, accession: str, outcome: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(_ARRIVAL)
                .where(_ARRIVAL.c.accession == accession)
                .values(handled_at=datetime.now(UTC), outcome=outcome[:500])
            )
