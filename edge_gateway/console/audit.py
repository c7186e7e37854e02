"""Reads of patient data at the console, reported to the hub's audit trail.

The room page shows full names (the technician checks identity), so each page view is a
read by a person. The hub keeps the audit trail: every view becomes an ``audit.read``
outbox event (user, role, room, the patient IDs shown) that the sync agent delivers and
the hub turns into one ``read`` record per patient. Patients a user has already been
reported as seeing in that room on that day are not reported again (the page reloads at
every change of the room), so the trail says who saw whom, not how often the page blinked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from edge_gateway.console.users import Person
from edge_gateway.store.outbox import add_event

_MAX_REMEMBERED = 50_000


class ReadAudit:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: set[tuple[date, str, str, str]] = set()

    def viewed(self, who: Person, room: str, patient_ids: Iterable[str], day: date) -> int:
        """Report the patients of ``patient_ids`` that ``who`` had not yet seen in ``room``
        on ``day``; returns how many were reported (0: nothing written)."""
        with self._lock:
            fresh = [
                pid
                for pid in dict.fromkeys(patient_ids)
                if pid and (day, who.username, room, pid) not in self._seen
            ]
            if not fresh:
                return 0
            if len(self._seen) > _MAX_REMEMBERED:  # a new day or a very long one
                self._seen = {key for key in self._seen if key[0] == day}
            at = self._clock().astimezone(UTC)
            with self._engine.begin() as conn:
                add_event(
                    conn,
                    kind="audit.read",
                    subject=who.username,
                    payload={
                        "username": who.username,
                        "role": who.role,
                        "room": room,
                        "patient_ids": fresh,
                        "at": at.isoformat(),
                    },
                )
            self._seen.update((day, who.username, room, pid) for pid in fresh)
            return len(fresh)
