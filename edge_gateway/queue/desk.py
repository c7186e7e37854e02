"""The campus's one front door to its queue: every check-in and room action goes through
:class:`QueueDesk`, whoever asks (technician console, hub registrar, kiosk, MPPS).

The desk runs an action on the :class:`~edge_gateway.queue.store.QueueService` (which
persists it) and then tells its listeners — the MQTT publisher — in commit order, under
one lock, so boards never see a later picture before an earlier one.

Check-in (:meth:`QueueDesk.check_in`) turns a patient's exams of today, as the campus
worklist holds them, into one ticket per modality.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Engine, select

from edge_gateway.queue.errors import NothingScheduled, QueueError
from edge_gateway.queue.model import ACTIVE_STATES, CampusQueue, CheckInRequest, Ticket
from edge_gateway.queue.numbering import business_day
from edge_gateway.queue.store import Applied, QueueService
from edge_gateway.store.models import ScheduledStep, StepStatus
from shared.dicom.charset import name_groups

log = logging.getLogger(__name__)

_STEP = ScheduledStep.__table__  # type: ignore[attr-defined]

Listener = Callable[[Applied], None]
EMERGENCY_CATEGORY = "emergency"
"""The hub's patient category of an emergency order (急诊): checked in at the emergency level."""


class RoomAction(StrEnum):
    """What a technician may do from the console (and what the desk accepts by name)."""

    CALL_NEXT = "call_next"
    RECALL = "recall"
    SKIP = "skip"
    RETURN_MISSED = "return_missed"
    PREP_OUT = "prep_out"
    PREP_BACK = "prep_back"
    START = "start"
    COMPLETE = "complete"
    TRANSFER = "transfer"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


ROOM_LEVEL = frozenset({RoomAction.CALL_NEXT, RoomAction.PAUSE, RoomAction.RESUME})
"""Actions on a room; the others act on a ticket."""


@dataclass(frozen=True)
class CheckedIn:
    """One ticket of a check-in: ``new`` is False when the patient already held it."""

    ticket: Ticket
    new: bool


def display_name(patient_name: str) -> str:
    """The name a technician reads from a DICOM Person Name: the ideographic group
    without separators (张三) when present, else the alphabetic one (Zhang San)."""
    alpha, ideo, _ = name_groups(patient_name)
    text = ideo or alpha or patient_name
    parts = [part for part in text.split("^") if part]
    return ("" if ideo or not text.isascii() else " ").join(parts)


class QueueDesk:
    """Runs queue actions and notifies listeners (see the module docstring).

    ``engine`` is the edge's index (the worklist is read from it), ``service`` a loaded
    :class:`QueueService`, ``clock`` the same clock the service uses.
    """

    def __init__(
        self, engine: Engine, service: QueueService, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._service = service
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []

    @property
    def queue(self) -> CampusQueue:
        """The committed queue now."""
        return self._service.queue

    def seq(self, room: str) -> int:
        return self._service.seq(room)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(applied)`` after every committed change (on the acting thread;
        it must not block, and its exceptions are logged, never raised to the caller)."""
        self._listeners.append(listener)

    def run(self, action: Callable[[QueueService], Applied]) -> Applied:
        """Run ``action`` on the service and notify listeners of what it committed.
        Raises :class:`QueueError` (nothing written) when the rules refuse."""
        with self._lock:
            applied = action(self._service)
            if applied.transitions or applied.seqs:
                for listener in self._listeners:
                    try:
                        listener(applied)
                    except Exception:  # a broken listener must not undo a committed action
                        log.exception("queue listener failed")
            return applied

    def act(
        self,
        action: RoomAction,
        *,
        room: str | None = None,
        ticket: str | None = None,
        to_room: str | None = None,
        reason: str = "",
    ) -> Applied:
        """Run a console action by name. Room actions need ``room``, the others
        ``ticket`` (transfer also ``to_room``). Raises QueueError."""
        if action in ROOM_LEVEL:
            if not room:
                raise QueueError("请先选择检查室", "choose a room first")
            target = room
            room_ops: dict[RoomAction, Callable[[QueueService], Applied]] = {
                RoomAction.CALL_NEXT: lambda s: s.call_next(target),
                RoomAction.PAUSE: lambda s: s.pause(target),
                RoomAction.RESUME: lambda s: s.resume(target),
            }
            return self.run(room_ops[action])
        if not ticket:
            raise QueueError("请先选择一个号码", "choose a ticket first")
        number = ticket
        if action is RoomAction.TRANSFER:
            if not to_room:
                raise QueueError("请选择转去的检查室", "choose the room to transfer to")
            destination = to_room
            return self.run(lambda s: s.transfer(number, destination))
        ticket_ops: dict[RoomAction, Callable[[QueueService], Applied]] = {
            RoomAction.RECALL: lambda s: s.recall(number),
            RoomAction.SKIP: lambda s: s.skip(number),
            RoomAction.RETURN_MISSED: lambda s: s.return_missed(number),
            RoomAction.PREP_OUT: lambda s: s.send_to_prep(number, reason=reason),
            RoomAction.PREP_BACK: lambda s: s.back_from_prep(number),
            RoomAction.START: lambda s: s.start_exam(number),
            RoomAction.COMPLETE: lambda s: s.complete(number),
            RoomAction.CANCEL: lambda s: s.cancel(number, reason=reason),
        }
        return self.run(ticket_ops[action])

    # -- check-in ----------------------------------------------------------------------

    def check_in(
        self,
        *,
        patient_id: str | None = None,
        accession: str | None = None,
        emergency: bool = False,
        groups: frozenset[str] = frozenset(),
        room: str | None = None,
    ) -> list[CheckedIn]:
        """Check a patient in for today's exams, found by ``patient_id`` or by one of
        their ``accession`` numbers: one ticket per modality (exams of one modality share
        it). A modality the patient already holds a ticket for is returned with
        ``new=False``. Raises QueueError when nothing is scheduled today, or when the
        rules refuse (e.g. too early; no room for the modality)."""
        steps = self._todays_steps(patient_id=patient_id, accession=accession)
        if not steps:
            raise NothingScheduled(
                "今天没有找到您的检查预约，请到登记处咨询",
                "no exam is scheduled today for this patient: please ask the registration desk",
            )
        by_modality: dict[str, list[ScheduledStep]] = defaultdict(list)
        for step in steps:
            by_modality[step.modality].append(step)
        results: list[CheckedIn] = []
        with self._lock:
            for modality, group in sorted(by_modality.items()):
                held = self._held(group[0].patient_id, modality)
                if held is not None:
                    results.append(CheckedIn(held, new=False))
                    continue
                request = self._request(group, emergency=emergency, groups=groups, room=room)
                applied = self.run(lambda s, r=request: s.check_in(r))  # type: ignore[misc]
                number = next(t.ticket for t in applied.transitions if t.ticket)
                results.append(CheckedIn(applied.queue.tickets[number], new=True))
        return results

    def _held(self, patient_id: str, modality: str) -> Ticket | None:
        for ticket in self.queue.tickets.values():
            if (
                ticket.patient_id == patient_id
                and ticket.modality == modality
                and ticket.status in ACTIVE_STATES
            ):
                return ticket
        return None

    def _today(self) -> date:
        config = self.queue.config
        return business_day(self._clock(), reset=config.reset_time, zone=config.zone)

    def _todays_steps(
        self, *, patient_id: str | None, accession: str | None
    ) -> list[ScheduledStep]:
        if not patient_id and not accession:
            raise QueueError("请提供病人编号或检查号", "give a patient ID or an accession number")
        today = self._today().strftime("%Y%m%d")
        with self._engine.connect() as conn:
            if not patient_id:
                patient_id = conn.scalar(
                    select(_STEP.c.patient_id).where(_STEP.c.accession == accession).limit(1)
                )
                if patient_id is None:
                    return []
            rows = conn.execute(
                select(_STEP)
                .where(
                    _STEP.c.patient_id == patient_id,
                    _STEP.c.start_date == today,
                    _STEP.c.status.in_([StepStatus.SCHEDULED, StepStatus.IN_PROGRESS]),
                )
                .order_by(_STEP.c.start_time, _STEP.c.id)
            ).all()
        return [ScheduledStep.model_validate(dict(r._mapping)) for r in rows]

    def _request(
        self,
        steps: list[ScheduledStep],
        *,
        emergency: bool,
        groups: frozenset[str],
        room: str | None,
    ) -> CheckInRequest:
        first = steps[0]
        zone = self.queue.config.zone
        appointment: datetime | None = datetime.strptime(
            first.start_date + first.start_time[:6].ljust(6, "0"), "%Y%m%d%H%M%S"
        ).replace(tzinfo=zone)
        birth = None
        if len(first.birth_date) == 8 and first.birth_date.isdigit():
            try:
                birth = datetime.strptime(first.birth_date, "%Y%m%d").date()
            except ValueError:
                birth = None
        if not first.booked:  # registered without a slot: a walk-in, not a late patient
            appointment = None
        emergency = emergency or any(s.category == EMERGENCY_CATEGORY for s in steps)
        forced = room if room and self.queue.config.room(room) else None
        if forced is not None and self.queue.rooms[forced].modality != first.modality:
            forced = None
        return CheckInRequest(
            patient_id=first.patient_id,
            full_name=display_name(first.patient_name),
            modality=first.modality,
            accessions=tuple(dict.fromkeys(s.accession for s in steps)),
            appointment_at=appointment,
            birth_date=birth,
            groups=groups,
            emergency=emergency,
            room=forced,
            station_ae=first.station_ae,
        )
