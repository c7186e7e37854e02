"""Typed value objects of the queue engine: configuration, tickets, rooms, transitions.

All are frozen; actions return new objects. Datetimes are timezone-aware. Statuses use
the broker vocabulary of :class:`shared.mqtt.payloads.TicketStatus` where they overlap
(see :func:`view_status`); ``cancelled`` exists only at the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import IntEnum, StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from shared.mqtt.payloads import TicketStatus

Clock = Callable[[], datetime]
"""An injected clock returning an aware datetime; callers pass ``now=clock()`` to actions."""


class Level(IntEnum):
    """Priority level of a ticket; a lower value is called first."""

    EMERGENCY = 0
    SPECIAL = 1
    ON_TIME = 2
    WALK_IN = 3


class TicketState(StrEnum):
    """Where a ticket stands (values shared with TicketStatus, plus ``cancelled``)."""

    WAITING = "waiting"
    CALLED = "called"
    IN_EXAM = "in_exam"
    MISSED = "missed"
    DONE = "done"
    CANCELLED = "cancelled"


ACTIVE_STATES = frozenset(
    {TicketState.WAITING, TicketState.CALLED, TicketState.IN_EXAM, TicketState.MISSED}
)
"""States of a ticket that still belongs to a queue."""


class PrepState(StrEnum):
    """Preparation (drinking water, contrast) of a waiting ticket."""

    NONE = "none"
    OUT = "out"
    """Away preparing: not callable."""
    BACK = "back"
    """Back from preparation: callable again, at its original place."""


class LateRule(StrEnum):
    """Where a patient arriving after their appointment (plus grace) is placed."""

    EVERY_N = "every_n"
    """One late patient after every N other patients called."""
    END_OF_SLOT = "end_of_slot"
    """Among on-time patients, after those checked in before the current slot ends."""
    END_OF_HALF_DAY = "end_of_half_day"
    """After everyone checked in before the current half-day ends."""


class RecallRule(StrEnum):
    """Where a missed (过号) patient who returns is placed."""

    AFTER_N = "after_n"
    END_OF_QUEUE = "end_of_queue"


class Action(StrEnum):
    """What a transition record says happened."""

    CHECK_IN = "check_in"
    CALL = "call"
    RECALL = "recall"
    START = "start"
    MISS = "miss"
    RETURN = "return"
    PREP_OUT = "prep_out"
    PREP_BACK = "prep_back"
    TRANSFER = "transfer"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    CANCEL = "cancel"


_VIEW = {
    TicketState.WAITING: TicketStatus.WAITING,
    TicketState.CALLED: TicketStatus.CALLED,
    TicketState.IN_EXAM: TicketStatus.IN_EXAM,
    TicketState.MISSED: TicketStatus.MISSED,
    TicketState.DONE: TicketStatus.DONE,
}


def view_status(state: TicketState) -> TicketStatus | None:
    """The broker status shown for ``state``; None for a cancelled ticket (not shown)."""
    return _VIEW.get(state)


@dataclass(frozen=True)
class SpecialGroup:
    """A special group (优先人群): matched by ``code`` in a patient's groups or by age."""

    code: str
    label: str
    min_age: int | None = None


@dataclass(frozen=True)
class RoomConfig:
    """An exam room: its id (topic segment), label as called (``CT1``), modality served,
    and the AE title of the scanner in it (the Scheduled Station AE the hub books exams
    on; empty: exams are not booked on this room's scanner by name)."""

    room: str
    label: str
    modality: str
    station_ae: str = ""


def _default_prefixes() -> Mapping[str, str]:
    return MappingProxyType({"CT": "C", "MR": "M", "DX": "D", "US": "U"})


def _default_groups() -> tuple[SpecialGroup, ...]:
    return (
        SpecialGroup("elderly", "老年人", min_age=70),
        SpecialGroup("disabled", "残疾人"),
        SpecialGroup("military", "军人"),
    )


@dataclass(frozen=True)
class QueueConfig:
    """Rules of one campus's queues. Raises ValueError from the constructor when invalid."""

    campus: str
    rooms: tuple[RoomConfig, ...]
    prefixes: Mapping[str, str] = field(default_factory=_default_prefixes)
    timezone: str = "Asia/Shanghai"
    reset_time: time = time(0, 0)
    number_width: int = 3
    special_groups: tuple[SpecialGroup, ...] = field(default_factory=_default_groups)
    late_grace: timedelta = timedelta(minutes=15)
    late_rule: LateRule = LateRule.EVERY_N
    late_every_n: int = 3
    slot_length: timedelta = timedelta(minutes=30)
    half_day_ends: tuple[time, ...] = (time(12, 0), time(18, 0))
    early_window: timedelta = timedelta(minutes=60)
    recall_rule: RecallRule = RecallRule.AFTER_N
    recall_after_n: int = 2
    default_service: timedelta = timedelta(minutes=10)
    service_window: int = 10

    def __post_init__(self) -> None:
        ids = [r.room for r in self.rooms]
        if len(set(ids)) != len(ids):
            raise ValueError("room ids must be unique")
        for room in self.rooms:
            if room.modality not in self.prefixes:
                raise ValueError(f"room {room.room}: no ticket prefix for {room.modality}")
        stations = [r.station_ae for r in self.rooms if r.station_ae]
        if len(set(stations)) != len(stations):
            raise ValueError("a station AE title belongs to one room only")
        for modality, prefix in self.prefixes.items():
            if not (prefix.isascii() and prefix.isalpha() and prefix.isupper()):
                raise ValueError(f"prefix of {modality} must be upper-case letters")
        if min(self.late_every_n, self.recall_after_n, self.number_width, self.service_window) < 1:
            raise ValueError("late_every_n, recall_after_n, number_width, service_window >= 1")
        if self.slot_length <= timedelta(0) or self.default_service <= timedelta(0):
            raise ValueError("slot_length and default_service must be positive")
        ZoneInfo(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        """The campus's time zone."""
        return ZoneInfo(self.timezone)

    def room(self, room: str) -> RoomConfig | None:
        """The room with id ``room``, or None."""
        return next((r for r in self.rooms if r.room == room), None)


@dataclass(frozen=True)
class CheckInRequest:
    """A patient's check-in for the exams of one modality today."""

    patient_id: str
    full_name: str
    modality: str
    accessions: tuple[str, ...] = ()
    appointment_at: datetime | None = None
    birth_date: date | None = None
    groups: frozenset[str] = frozenset()
    emergency: bool = False
    room: str | None = None
    """Force a room (registrar's choice); None lets the engine choose."""
    station_ae: str = ""
    """The scanner the exams are booked on (their Scheduled Station AE): its room is
    chosen while it is open, so the patient is called where the scanner's worklist has
    the exam."""


@dataclass(frozen=True)
class Transition:
    """One state change, as an outbox event will carry it."""

    at: datetime
    campus: str
    room: str
    ticket: str | None
    action: Action
    from_state: TicketState | None
    to_state: TicketState | None
    detail: str = ""


@dataclass(frozen=True)
class Ticket:
    """A patient's place in a room's queue today. ``full_name`` never leaves the edge.

    Order keys: ``level``, then ``queue_at`` (check-in time, or the late rule's anchor),
    then ``seq``; ``pin`` (if set) places it so that it is called once the room's call
    counter reaches ``pin`` (late every N, missed recall).
    """

    number: str
    prefix: str
    seq: int
    day: date
    campus: str
    room: str
    modality: str
    patient_id: str
    full_name: str
    level: Level
    special_group: str | None
    checked_in_at: datetime
    appointment_at: datetime | None
    queue_at: datetime
    late: bool = False
    pin: int | None = None
    status: TicketState = TicketState.WAITING
    missed_count: int = 0
    prep: PrepState = PrepState.NONE
    accessions: tuple[str, ...] = ()
    called_at: datetime | None = None
    call_attempts: int = 0
    history: tuple[Transition, ...] = ()

    @property
    def callable(self) -> bool:
        """True when the ticket may be called next (waiting and not away preparing)."""
        return self.status is TicketState.WAITING and self.prep is not PrepState.OUT


@dataclass(frozen=True)
class RoomState:
    """A room's live state. ``calls`` counts call-next actions (pins refer to it)."""

    room: str
    label: str
    modality: str
    paused: bool = False
    calls: int = 0
    late_anchor: int | None = None
    serving: str | None = None
    durations: tuple[float, ...] = ()
    """Seconds from call to completion of the last exams (newest last)."""


@dataclass(frozen=True)
class NumberCounter:
    """Last ticket number issued for one prefix on one business day."""

    prefix: str
    day: date
    last: int


@dataclass(frozen=True)
class CampusQueue:
    """The whole queue state of one campus; actions return a new one."""

    config: QueueConfig
    rooms: Mapping[str, RoomState]
    tickets: Mapping[str, Ticket]
    counters: Mapping[str, NumberCounter] = field(default_factory=dict)


def new_queue(config: QueueConfig) -> CampusQueue:
    """An empty campus queue with every configured room open."""
    rooms = {
        r.room: RoomState(room=r.room, label=r.label, modality=r.modality) for r in config.rooms
    }
    return CampusQueue(config=config, rooms=rooms, tickets={})
