"""What the broker is told about the campus queue: a room's picture (``QueueState``) and a
call-out (``CallEvent``), built from the engine's state. Full names never go in: every
patient shown is masked, and masks that collide in one room get the ticket number
appended (:func:`shared.masking.disambiguate`)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from edge_gateway.queue.actions import room_order
from edge_gateway.queue.model import Action, CampusQueue, Ticket, Transition, view_status
from shared.masking import disambiguate
from shared.mqtt.payloads import CallEvent, QueueState, TicketView

MAX_WAITING: Final = 30
"""Waiting tickets listed per room picture (boards show a few; the console reads its own)."""

CALL_ACTIONS: Final = frozenset({Action.CALL, Action.RECALL})


def _shown(queue: CampusQueue, room: str) -> tuple[Ticket | None, list[Ticket]]:
    state = queue.rooms[room]
    serving = queue.tickets.get(state.serving) if state.serving else None
    return serving, room_order(queue, room)[:MAX_WAITING]


def _labels(serving: Ticket | None, waiting: list[Ticket]) -> dict[str, str]:
    tickets = ([serving] if serving else []) + waiting
    return disambiguate([(t.number, t.full_name) for t in tickets])


def room_labels(queue: CampusQueue, room: str) -> dict[str, str]:
    """Masked labels of the tickets a room's picture shows (serving first, then waiting)."""
    return _labels(*_shown(queue, room))


def _view(ticket: Ticket, labels: dict[str, str]) -> TicketView | None:
    status = view_status(ticket.status)
    if status is None:
        return None
    return TicketView(
        ticket=ticket.number,
        masked_name=labels.get(ticket.number, ""),
        exam_label=ticket.modality,
        status=status,
    )


def room_state(queue: CampusQueue, room: str, *, seq: int, now: datetime) -> QueueState:
    """The retained picture of ``room`` at ``seq``."""
    state = queue.rooms[room]
    serving, waiting = _shown(queue, room)
    labels = _labels(serving, waiting)
    views = [_view(t, labels) for t in waiting]
    return QueueState(
        campus=queue.config.campus,
        room=room,
        room_label=state.label,
        seq=seq,
        paused=state.paused,
        now_serving=_view(serving, labels) if serving else None,
        waiting=tuple(v for v in views if v is not None),
        updated_at=now,
    )


def spoken_text(ticket: str, masked_name: str, room_label: str) -> str:
    """The call as words, e.g. ``请 C012 号 张*三 到 CT1 室检查`` (boards prepare their own
    pinyin from the fields; this is the text shown and logged)."""
    name = f" {masked_name}" if masked_name else ""
    return f"请 {ticket} 号{name} 到 {room_label} 室检查"


def call_event(
    queue: CampusQueue, transition: Transition, picture: QueueState | None = None
) -> CallEvent | None:
    """The call-out of a CALL or RECALL transition (None for any other transition). The
    masked name is the one the room's ``picture`` shows when given (so the call and the
    screen agree, and the room's line is not ordered and masked a second time)."""
    if transition.action not in CALL_ACTIONS or not transition.ticket:
        return None
    ticket = queue.tickets[transition.ticket]
    room = queue.rooms[ticket.room]
    shown = picture.now_serving if picture is not None else None
    if shown is not None and shown.ticket == ticket.number:
        masked = shown.masked_name
    else:
        masked = room_labels(queue, ticket.room).get(ticket.number, "")
    return CallEvent(
        campus=queue.config.campus,
        room=ticket.room,
        room_label=room.label,
        ticket=ticket.number,
        masked_name=masked,
        spoken_text=spoken_text(ticket.number, masked, room.label),
        attempt=max(1, ticket.call_attempts),
        called_at=transition.at,
    )
