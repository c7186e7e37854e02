"""Estimated wait per ticket from the service times a room actually showed.

Service time = call → completion of the room's last ``service_window`` exams, averaged;
``default_service`` before any. A ticket at place i (0-based) waits i averages plus what
is left of the current exam (average minus time since its call, at least 0).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from edge_gateway.queue.actions import get_room, room_order
from edge_gateway.queue.model import CampusQueue, QueueConfig, RoomState


def average_service(room: RoomState, config: QueueConfig) -> timedelta:
    """Mean of the room's recorded exam durations, or the configured default."""
    if not room.durations:
        return config.default_service
    return timedelta(seconds=sum(room.durations) / len(room.durations))


def estimated_waits(queue: CampusQueue, room: str, *, now: datetime) -> dict[str, timedelta]:
    """Ticket number → estimated wait for every callable ticket of ``room``, in call order.
    Raises QueueError for an unknown room."""
    state = get_room(queue, room)
    average = average_service(state, queue.config)
    remaining = timedelta(0)
    if state.serving is not None:
        called_at = queue.tickets[state.serving].called_at
        elapsed = now - called_at if called_at is not None else timedelta(0)
        remaining = max(average - elapsed, timedelta(0))
    return {t.number: remaining + i * average for i, t in enumerate(room_order(queue, room))}
