"""Appointments (预约): rooms, slots with capacity, and bookings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from hub.models.base import HubModel


class Room(HubModel, table=True):
    """An exam room of a campus (e.g. CT1) and the modality station in it."""

    __tablename__ = "room"
    __table_args__ = (UniqueConstraint("campus", "code", name="uq_room_campus_code"),)

    id: int | None = Field(default=None, primary_key=True)
    campus: str = Field(max_length=16)
    code: str = Field(max_length=16)
    name: str = Field(max_length=64)
    modality: str = Field(max_length=4)
    station_ae: str = Field(default="", max_length=16)
    active: bool = True


class Slot(HubModel, table=True):
    """A bookable period of one room with a capacity (patients per slot)."""

    __tablename__ = "slot"
    __table_args__ = (
        UniqueConstraint("room_pk", "start", name="uq_slot_room_start"),
        Index("ix_slot_campus_start", "campus", "start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campus: str = Field(max_length=16)
    room_pk: int = Field(foreign_key="room.id")
    modality: str = Field(max_length=4)
    start: datetime
    end: datetime
    capacity: int = 1
    booked: int = 0


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"  # replaced by a newer booking


class Appointment(HubModel, table=True):
    """A booking of an order into a slot; an order has at most one BOOKED appointment."""

    __tablename__ = "appointment"

    id: int | None = Field(default=None, primary_key=True)
    order_pk: int = Field(foreign_key="exam_order.id", index=True)
    slot_pk: int = Field(foreign_key="slot.id", index=True)
    status: str = Field(default=AppointmentStatus.BOOKED.value, max_length=16)
    reason: str = ""
    created_by: str = Field(default="", max_length=64)
    created_at: datetime
    updated_at: datetime
