"""Bookings (预约): an order into a slot, rescheduling, cancelling a booking.

Booking sets the order's room, station AE and scheduled time and moves it to
``scheduled`` through ``touch_order``; cancelling the booking moves it back to
``registered``. An order has at most one BOOKED appointment: every operation holds the
order's lock first, then touches slots in id order, then the change counter.
"""

from __future__ import annotations

from datetime import tzinfo

from sqlmodel import Session, col, select

from hub.models.base import utcnow
from hub.models.registration import Order, OrderStatus
from hub.models.scheduling import Appointment, AppointmentStatus, Room, Slot
from hub.services import audit
from hub.services.changes import touch_order
from hub.services.clock import as_utc
from hub.services.errors import Conflict, Invalid
from hub.services.orders import get_order, lock_order, patient_of
from hub.services.scheduling import (
    booked_appointment,
    get_slot,
    give_back,
    release_booking,
    take_place,
)

BOOKABLE = frozenset({OrderStatus.REGISTERED, OrderStatus.SCHEDULED})


def book(
    *, session: Session, actor: audit.Actor, zone: tzinfo, accession: str, slot_id: int
) -> Appointment:
    """Book order ``accession`` into slot ``slot_id`` (audited). ``Conflict`` when the
    order is cancelled, begun or booked already (reschedule instead), or the slot is full;
    ``Invalid`` when the slot is at another campus, of another modality, or over."""
    order = lock_order(session, get_order(session=session, accession=accession))
    _require_bookable(order)
    if booked_appointment(session, order) is not None:
        raise Conflict(
            f"检查 {order.accession} 已有预约，如需更改请改约 / order {order.accession} is "
            "booked already: reschedule it instead"
        )
    slot, room = _fitting_slot(session, order, slot_id)
    take_place(session, slot)
    appointment = _new_appointment(session, actor, order, slot, room, zone)
    audit.record(
        session,
        actor,
        action="create",
        resource="appointment",
        resource_id=order.accession,
        patient_id=patient_of(session, order).patient_id,
        detail={"slot": slot.id, "room": room.code, "start": as_utc(slot.start).isoformat()},
    )
    return appointment


def reschedule(
    *,
    session: Session,
    actor: audit.Actor,
    zone: tzinfo,
    accession: str,
    slot_id: int,
    reason: str = "",
) -> Appointment:
    """Move the order's booking to slot ``slot_id``: the old appointment becomes
    RESCHEDULED and gives its place back, the new one is BOOKED (audited). ``Conflict``
    when nothing is booked, the slot is the same one, or the new slot is full (then
    nothing changes)."""
    order = lock_order(session, get_order(session=session, accession=accession))
    _require_bookable(order)
    current = booked_appointment(session, order)
    if current is None:
        raise Conflict(
            f"检查 {order.accession} 尚未预约，请直接预约 / order {order.accession} is not "
            "booked: book it instead"
        )
    if current.slot_pk == slot_id:
        raise Conflict("新时段与原预约相同 / the new slot is the booked one")
    slot, room = _fitting_slot(session, order, slot_id)
    # Slots in id order, so that two opposite reschedules cannot deadlock.
    if slot_id < current.slot_pk:
        take_place(session, slot)
        give_back(session, current.slot_pk)
    else:
        give_back(session, current.slot_pk)
        take_place(session, slot)  # a Conflict here rolls the give-back back too
    current.status = AppointmentStatus.RESCHEDULED.value
    current.reason = reason.strip()
    current.updated_at = utcnow()
    session.add(current)
    appointment = _new_appointment(session, actor, order, slot, room, zone)
    audit.record(
        session,
        actor,
        action="update",
        resource="appointment",
        resource_id=order.accession,
        patient_id=patient_of(session, order).patient_id,
        detail={
            "from_slot": current.slot_pk,
            "to_slot": slot.id,
            "room": room.code,
            "start": as_utc(slot.start).isoformat(),
            "reason": reason.strip(),
        },
    )
    return appointment


def cancel_booking(*, session: Session, actor: audit.Actor, accession: str, reason: str) -> Order:
    """Cancel the order's booking (reason required): its place is given back and the
    order returns to ``registered`` (audited). ``Conflict`` when nothing is booked."""
    text = reason.strip()
    if not text:
        raise Invalid("请填写取消预约的原因 / give a reason for cancelling the booking")
    if len(text) > 500:
        raise Invalid("原因最多500字 / the reason is limited to 500 characters")
    order = lock_order(session, get_order(session=session, accession=accession))
    _require_bookable(order)
    released = release_booking(session=session, order=order, reason=text)
    if released is None:
        raise Conflict(f"检查 {order.accession} 没有预约 / order {order.accession} has no booking")
    order.room = order.station_ae = ""
    order.scheduled_at = None
    touch_order(
        session,
        order,
        actor=actor.name,
        new_status=OrderStatus.REGISTERED,
        reason=f"取消预约：{text}",
    )
    audit.record(
        session,
        actor,
        action="cancel",
        resource="appointment",
        resource_id=order.accession,
        patient_id=patient_of(session, order).patient_id,
        detail={"slot": released, "reason": text},
    )
    return order


def appointments_of(*, session: Session, order: Order) -> list[tuple[Appointment, Slot, Room]]:
    """Every appointment the order has had, oldest first, with slot and room."""
    rows = session.exec(
        select(Appointment, Slot, Room)
        .join(Slot, col(Slot.id) == col(Appointment.slot_pk))
        .join(Room, col(Room.id) == col(Slot.room_pk))
        .where(Appointment.order_pk == order.id)
        .order_by(col(Appointment.id))
    ).all()
    return [(a, s, r) for a, s, r in rows]


def _require_bookable(order: Order) -> None:
    if order.status in BOOKABLE:
        return
    if order.status == OrderStatus.CANCELLED:
        raise Conflict(
            f"检查 {order.accession} 已取消，不能预约 / order {order.accession} is cancelled"
        )
    raise Conflict(
        f"检查 {order.accession} 已报到或已开始，不能更改预约 / order {order.accession} has "
        "checked in or begun: its booking can no longer change"
    )


def _fitting_slot(session: Session, order: Order, slot_id: int) -> tuple[Slot, Room]:
    slot, room = get_slot(session, slot_id)
    if slot.campus != order.campus:
        raise Invalid(
            "该时段属于另一院区，请选择本院区的时段 / the slot belongs to another campus "
            "than the order"
        )
    if room.modality != order.modality:
        raise Invalid(
            f"{room.name}为{room.modality}检查室，与{order.modality}检查不符，请重新选择 / "
            f"room {room.code} is {room.modality}, the order is {order.modality}"
        )
    if not room.active:
        raise Invalid(f"{room.name}已停用，请选择其他检查室 / room {room.code} is out of use")
    if as_utc(slot.end) <= utcnow():
        raise Invalid("该时段已过，请选择以后的时段 / this slot is over: choose a later one")
    return slot, room


def _new_appointment(
    session: Session,
    actor: audit.Actor,
    order: Order,
    slot: Slot,
    room: Room,
    zone: tzinfo,
) -> Appointment:
    now = utcnow()
    appointment = Appointment(
        order_pk=order.id,  # type: ignore[arg-type]
        slot_pk=slot.id,  # type: ignore[arg-type]
        status=AppointmentStatus.BOOKED.value,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(appointment)
    order.room = room.code
    order.station_ae = room.station_ae
    order.scheduled_at = as_utc(slot.start)
    when = as_utc(slot.start).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    touch_order(
        session,
        order,
        actor=actor.name,
        new_status=OrderStatus.SCHEDULED,
        reason=f"预约 {room.name} {when}",
    )
    return appointment
