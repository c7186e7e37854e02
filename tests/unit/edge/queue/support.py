"""Shared builders for the queue engine tests: a campus config, a clock, check-in helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge_gateway.queue.actions import Outcome, check_in
from edge_gateway.queue.model import CampusQueue, CheckInRequest, QueueConfig, RoomConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    """An aware campus-local time on 2026-11-<day>."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class Clock:
    """A clock the test advances by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: float = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def config(**overrides: Any) -> QueueConfig:
    rooms = (
        RoomConfig("ct1", "CT1", "CT"),
        RoomConfig("ct2", "CT2", "CT"),
        RoomConfig("mr1", "MR1", "MR"),
    )
    values: dict[str, Any] = {"campus": "dongge", "rooms": rooms}
    values.update(overrides)
    return QueueConfig(**values)


def request(patient: str, modality: str = "CT", **fields: Any) -> CheckInRequest:
    return CheckInRequest(
        patient_id=patient, full_name=f"患者{patient}", modality=modality, **fields
    )


def enqueue(
    queue: CampusQueue, clock: Clock, patient: str, room: str | None = "ct1", **fields: Any
) -> tuple[CampusQueue, str]:
    """Check ``patient`` in to ``room`` one minute later; return the queue and ticket number."""
    outcome: Outcome = check_in(queue, request(patient, room=room, **fields), now=clock.tick())
    number = outcome.transitions[0].ticket
    assert number is not None
    return outcome.queue, number
