"""Builders for the signage board's unit tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.mqtt.payloads import CallEvent, QueueState, TicketStatus, TicketView
from signage.board.config import BoardConfig
from signage.board.state import CallReceived

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def config(**changes: object) -> BoardConfig:
    """A board for campus ``dongge`` showing ct1 and ct2, with ``changes`` applied."""
    values: dict[str, object] = {"campus": "dongge", "rooms": ("ct1", "ct2")}
    values.update(changes)
    return BoardConfig(**values)  # type: ignore[arg-type]


def view(ticket: str, name: str = "张*", status: TicketStatus = TicketStatus.WAITING) -> TicketView:
    return TicketView(ticket=ticket, masked_name=name, exam_label="CT 平扫", status=status)


def snapshot(
    seq: int,
    *,
    room: str = "ct1",
    serving: str | None = None,
    waiting: tuple[str, ...] = (),
    campus: str = "dongge",
    paused: bool = False,
) -> QueueState:
    return QueueState(
        campus=campus,
        room=room,
        room_label=room.upper(),
        seq=seq,
        paused=paused,
        now_serving=view(serving, status=TicketStatus.CALLED) if serving else None,
        waiting=tuple(view(t) for t in waiting),
        updated_at=T0 + timedelta(seconds=seq),
    )


def call(
    ticket: str,
    *,
    minute: int = 0,
    room: str = "ct1",
    name: str = "张*三",
    attempt: int = 1,
    campus: str = "dongge",
    event_id: uuid.UUID | None = None,
) -> CallReceived:
    event = CallEvent(
        campus=campus,
        room=room,
        room_label=room.upper(),
        ticket=ticket,
        masked_name=name,
        spoken_text=f"请 {ticket} 号到 {room.upper()} 室检查",
        attempt=attempt,
        called_at=T0 + timedelta(minutes=minute),
    )
    return CallReceived(event_id=event_id or uuid.uuid4(), call=event)
