"""What the console page of one room shows, as plain data (the template only lays it out).

The technician sees full names: they must verify the patient's identity before the exam.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge_gateway.queue.actions import room_order
from edge_gateway.queue.estimate import estimated_waits
from edge_gateway.queue.model import (
    ACTIVE_STATES,
    CampusQueue,
    Level,
    PrepState,
    Ticket,
    TicketState,
)

LEVEL_LABELS = {
    Level.EMERGENCY: "急诊",
    Level.SPECIAL: "优先",
    Level.ON_TIME: "预约",
    Level.WALK_IN: "",
}
STATE_LABELS = {
    TicketState.WAITING: "候检",
    TicketState.CALLED: "已叫号",
    TicketState.IN_EXAM: "检查中",
    TicketState.MISSED: "过号",
    TicketState.DONE: "已完成",
    TicketState.CANCELLED: "已取消",
}


@dataclass(frozen=True)
class Row:
    number: str
    name: str
    patient_id: str
    accessions: str
    level: str
    state: str
    late: bool
    prep_out: bool
    wait_minutes: int | None
    attempts: int


@dataclass(frozen=True)
class RoomPage:
    room: str
    label: str
    modality: str
    paused: bool
    seq: int
    current: Row | None
    waiting: tuple[Row, ...]
    missed: tuple[Row, ...]
    preparing: tuple[Row, ...]
    done_today: int
    other_rooms: tuple[tuple[str, str], ...]
    """(room id, label) of the rooms a ticket here may be transferred to."""


def _row(ticket: Ticket, wait: int | None = None) -> Row:
    return Row(
        number=ticket.number,
        name=ticket.full_name,
        patient_id=ticket.patient_id,
        accessions=", ".join(ticket.accessions),
        level=LEVEL_LABELS.get(ticket.level, ""),
        state=STATE_LABELS.get(ticket.status, ticket.status.value),
        late=ticket.late,
        prep_out=ticket.prep is PrepState.OUT,
        wait_minutes=wait,
        attempts=ticket.call_attempts,
    )


def room_page(queue: CampusQueue, room: str, *, seq: int, now: datetime) -> RoomPage:
    """The page of ``room``; KeyError when the campus has no such room."""
    state = queue.rooms[room]
    current = queue.tickets.get(state.serving) if state.serving else None
    order = room_order(queue, room)
    waits = estimated_waits(queue, room, now=now)
    mine = [t for t in queue.tickets.values() if t.room == room]
    missed = sorted((t for t in mine if t.status is TicketState.MISSED), key=lambda t: t.number)
    preparing = sorted(
        (t for t in mine if t.prep is PrepState.OUT and t.status in ACTIVE_STATES),
        key=lambda t: t.number,
    )
    others = tuple(
        (r.room, r.label)
        for r in queue.config.rooms
        if r.room != room and r.modality == state.modality
    )

    def minutes(number: str) -> int | None:
        seconds = waits.get(number)
        return None if seconds is None else max(0, round(seconds.total_seconds() / 60))

    return RoomPage(
        room=room,
        label=state.label,
        modality=state.modality,
        paused=state.paused,
        seq=seq,
        current=_row(current) if current else None,
        waiting=tuple(_row(t, minutes(t.number)) for t in order),
        missed=tuple(_row(t) for t in missed),
        preparing=tuple(_row(t) for t in preparing),
        done_today=sum(1 for t in mine if t.status is TicketState.DONE),
        other_rooms=others,
    )
