"""Rooms and slots (检查室与预约时段): creating rooms, generating slots from a day
template, listing free slots, and the capacity primitives bookings use.

A slot's ``booked`` count only moves through ``take_place`` / ``give_back``: one atomic
``UPDATE … WHERE booked < capacity RETURNING`` each, so capacity holds under concurrency
on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.models.base import utcnow
from hub.models.registration import Order
from hub.models.scheduling import Appointment, AppointmentStatus, Room, Slot
from hub.services import audit
from hub.services.campuses import check_campus
from hub.services.catalogue import check_modality
from hub.services.clock import as_utc, check_day, day_bounds, local_instant
from hub.services.errors import Conflict, Invalid, NotFound

MAX_DAYS = 92
MAX_SLOTS = 5000
_ROOM_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash


class RoomCreate(BaseModel):
    campus: str
    code: str = Field(description="e.g. CT1; unique per campus")
    name: str = Field(min_length=1, max_length=64, description="e.g. CT1室")
    modality: str
    station_ae: str = Field(default="", description="AE title of the modality in the room")

    @field_validator("code", "name", "modality", "station_ae", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class SlotTemplate(BaseModel):
    """Slots of one room for every chosen weekday in [from_date, to_date]: from ``start``
    every ``interval_minutes`` as long as a whole slot ends by ``end`` (campus time)."""

    campus: str
    room: str = Field(description="room code, e.g. CT1")
    from_date: date
    to_date: date
    start: time = Field(description="first slot, e.g. 08:00")
    end: time = Field(description="no slot ends after this, e.g. 12:00")
    interval_minutes: int = Field(ge=5, le=480)
    capacity: int = Field(default=1, ge=1, le=100)
    weekdays: list[int] = Field(
        default=[1, 2, 3, 4, 5, 6, 7], description="ISO weekdays: 1 = Monday … 7 = Sunday"
    )


def create_room(*, session: Session, actor: audit.Actor, data: RoomCreate) -> Room:
    """Add a room (audited). ``Invalid`` for a bad code, modality or AE title; ``Conflict``
    when the campus has a room of that code."""
    campus = check_campus(data.campus)
    if not _ROOM_CODE.match(data.code):
        raise Invalid(
            "检查室代码只能包含字母、数字、横线和下划线（最多16位） / the room code may hold "
            "letters, digits, '-' and '_' (at most 16)"
        )
    modality = check_modality(data.modality)
    if data.station_ae and not _AE_TITLE.match(data.station_ae):
        raise Invalid(
            "设备AE标题最多16个英文字符，不能含反斜杠 / the station AE title is 1-16 ASCII "
            "characters without backslash"
        )
    exists = session.exec(
        select(Room.id).where(Room.campus == campus, Room.code == data.code)
    ).first()
    if exists:
        raise Conflict(f"该院区已有检查室 {data.code} / campus {campus} has a room {data.code}")
    room = Room(
        campus=campus,
        code=data.code,
        name=data.name,
        modality=modality,
        station_ae=data.station_ae,
    )
    session.add(room)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"该院区已有检查室 {data.code} / room {data.code} exists") from exc
    audit.record(
        session,
        actor,
        action="create",
        resource="room",
        resource_id=f"{campus}/{data.code}",
        detail={"modality": modality, "station_ae": data.station_ae},
    )
    return room


def list_rooms(*, session: Session, campuses: list[str], modality: str | None = None) -> list[Room]:
    """Active rooms of ``campuses`` by campus and code."""
    stmt = select(Room).where(col(Room.campus).in_(campuses), col(Room.active).is_(True))
    if modality:
        stmt = stmt.where(Room.modality == modality.strip().upper())
    return list(session.exec(stmt.order_by(col(Room.campus), col(Room.code))).all())


def get_room(*, session: Session, campus: str, code: str) -> Room:
    room = session.exec(select(Room).where(Room.campus == campus, Room.code == code)).first()
    if room is None:
        raise NotFound(
            f"该院区没有检查室 {code}，请先由信息科添加 / campus {campus} has no room {code}"
        )
    return room


def generate_slots(
    *, session: Session, actor: audit.Actor, zone: tzinfo, data: SlotTemplate
) -> tuple[int, int]:
    """Create the template's slots (audited); slots that exist already (same room and
    start) are left as they are. Returns (created, skipped). ``Invalid`` for an empty or
    too long range, or a template that yields no slot."""
    room = get_room(session=session, campus=check_campus(data.campus), code=data.room)
    starts = _template_starts(data, zone)
    length = timedelta(minutes=data.interval_minutes)
    existing = {
        _naive_utc(s)
        for s in session.exec(
            select(Slot.start).where(
                Slot.room_pk == room.id,
                col(Slot.start) >= starts[0],
                col(Slot.start) <= starts[-1],
            )
        ).all()
    }
    created = 0
    for start in starts:
        if _naive_utc(start) in existing:
            continue
        session.add(
            Slot(
                campus=room.campus,
                room_pk=room.id,  # type: ignore[arg-type]
                modality=room.modality,
                start=start,
                end=start + length,
                capacity=data.capacity,
            )
        )
        created += 1
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "其他人正在为该检查室生成时段，请稍后重试 / slots of this room are being "
            "generated by someone else: try again"
        ) from exc
    audit.record(
        session,
        actor,
        action="create",
        resource="slot",
        resource_id=f"{room.campus}/{room.code}",
        detail={
            "from": data.from_date.isoformat(),
            "to": data.to_date.isoformat(),
            "created": created,
            "skipped": len(starts) - created,
        },
    )
    return created, len(starts) - created


def list_slots(
    *,
    session: Session,
    zone: tzinfo,
    campus: str,
    day: date,
    modality: str | None = None,
    room: str | None = None,
    free_only: bool = True,
) -> list[tuple[Slot, Room]]:
    """Slots of active rooms of ``campus`` on the local ``day``, by start and room.
    ``free_only`` keeps those with a place left that have not ended yet."""
    start, end = day_bounds(check_day(day), zone)
    stmt = (
        select(Slot, Room)
        .join(Room, col(Room.id) == col(Slot.room_pk))
        .where(
            Slot.campus == campus,
            col(Room.active).is_(True),
            col(Slot.start) >= start,
            col(Slot.start) < end,
        )
    )
    if modality:
        stmt = stmt.where(Slot.modality == modality.strip().upper())
    if room:
        stmt = stmt.where(Room.code == room.strip())
    if free_only:
        stmt = stmt.where(col(Slot.booked) < col(Slot.capacity), col(Slot.end) > utcnow())
    rows = session.exec(stmt.order_by(col(Slot.start), col(Room.code))).all()
    return [(slot, room_row) for slot, room_row in rows]


def get_slot(session: Session, slot_id: int) -> tuple[Slot, Room]:
    slot = session.get(Slot, slot_id)
    if slot is None:
        raise NotFound(f"预约时段 {slot_id} 不存在，请重新查询 / no slot {slot_id}")
    room = session.get(Room, slot.room_pk)
    assert room is not None, "slot.room_pk is a foreign key"
    return slot, room


def take_place(session: Session, slot: Slot) -> None:
    """Take one place in ``slot`` atomically; ``Conflict`` when it is full."""
    table = Slot.__table__  # type: ignore[attr-defined]
    taken = (
        session.connection()
        .execute(
            update(table)
            .where(table.c.id == slot.id, table.c.booked < table.c.capacity)
            .values(booked=table.c.booked + 1)
            .returning(table.c.booked)
        )
        .scalar_one_or_none()
    )
    if taken is None:
        raise Conflict("该时段已约满，请选择其他时段 / this slot is fully booked: choose another")
    session.refresh(slot)


def give_back(session: Session, slot_pk: int) -> None:
    """Return one place to the slot (never below zero)."""
    table = Slot.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table)
        .where(table.c.id == slot_pk, table.c.booked > 0)
        .values(booked=table.c.booked - 1)
    )


def booked_appointment(session: Session, order: Order) -> Appointment | None:
    """The order's current (BOOKED) appointment, if any."""
    return session.exec(
        select(Appointment).where(
            Appointment.order_pk == order.id,
            Appointment.status == AppointmentStatus.BOOKED.value,
        )
    ).first()


def release_booking(
    *,
    session: Session,
    order: Order,
    reason: str,
    status: AppointmentStatus = AppointmentStatus.CANCELLED,
) -> int | None:
    """End the order's BOOKED appointment with ``status`` and give its place back.
    Returns the released slot's id, or None when nothing was booked. The caller holds the
    order's lock and updates the order itself."""
    appointment = booked_appointment(session, order)
    if appointment is None:
        return None
    give_back(session, appointment.slot_pk)
    appointment.status = status.value
    appointment.reason = reason
    appointment.updated_at = utcnow()
    session.add(appointment)
    return appointment.slot_pk


def _template_starts(data: SlotTemplate, zone: tzinfo) -> list[datetime]:
    check_day(data.from_date)
    check_day(data.to_date)
    if data.to_date < data.from_date:
        raise Invalid("结束日期早于开始日期 / to_date is before from_date")
    if (data.to_date - data.from_date).days >= MAX_DAYS:
        raise Invalid(
            f"一次最多生成{MAX_DAYS}天的时段 / at most {MAX_DAYS} days of slots at a time"
        )
    if any(d not in range(1, 8) for d in data.weekdays):
        raise Invalid("星期应为1（周一）到7（周日） / weekdays are 1 (Monday) to 7 (Sunday)")
    first = datetime.combine(date.min, data.start)
    last_end = datetime.combine(date.min, data.end)
    step = timedelta(minutes=data.interval_minutes)
    clocks: list[time] = []
    while first + step <= last_end:
        clocks.append(first.time())
        first += step
    starts = [
        local_instant(day, clock, zone)
        for offset in range((data.to_date - data.from_date).days + 1)
        if (day := data.from_date + timedelta(days=offset)).isoweekday() in data.weekdays
        for clock in clocks
    ]
    if not starts:
        raise Invalid(
            "按此模板生成不了任何时段：请检查开始、结束时间与间隔 / the template yields no "
            "slot: check start, end and interval"
        )
    if len(starts) > MAX_SLOTS:
        raise Invalid(f"一次最多生成{MAX_SLOTS}个时段 / at most {MAX_SLOTS} slots at a time")
    return starts


def _naive_utc(moment: datetime) -> datetime:
    """Compare instants from the database (naive UTC on SQLite) with aware ones."""
    return as_utc(moment).replace(tzinfo=None)
