"""Booking orders into slots (预约), rescheduling, cancelling a booking, and the printed
appointment slip — all for 登记员 (技师 may list an order's appointments)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from hub.api.deps import ContextDep, Principal, RequireRoles, SessionDep
from hub.api.routes.orders import OrderPublic, order_view
from hub.api.routes.slots import SlotPublic as SlotPublic  # re-exported for the web pages
from hub.models.base import utcnow
from hub.models.registration import Order
from hub.models.scheduling import Appointment, Room, Slot
from hub.security.roles import Role
from hub.services import audit, booking, orders, scheduling
from hub.services.clock import as_utc
from hub.services.slip import appointment_slip, render_slip

router = APIRouter(prefix="/orders", tags=["scheduling"])

MAX_ID = 2**31 - 1
"""Row ids are 32-bit integers on PostgreSQL: larger ones cannot name a row."""

Registrar = Annotated[Principal, Depends(RequireRoles(Role.REGISTRAR))]
SlotViewer = Annotated[Principal, Depends(RequireRoles(Role.REGISTRAR, Role.TECHNICIAN))]


class AppointmentPublic(BaseModel):
    id: int
    accession: str
    status: str
    reason: str
    slot: SlotPublic
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, appointment: Appointment, order: Order, slot: Slot, room: Room
    ) -> AppointmentPublic:
        assert appointment.id is not None
        return cls(
            id=appointment.id,
            accession=order.accession,
            status=appointment.status,
            reason=appointment.reason,
            slot=SlotPublic.of(slot, room),
            created_by=appointment.created_by,
            created_at=as_utc(appointment.created_at),
            updated_at=as_utc(appointment.updated_at),
        )


class BookRequest(BaseModel):
    slot_id: int = Field(ge=1, le=MAX_ID)


class RescheduleRequest(BaseModel):
    slot_id: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(default="", max_length=500)


class CancelBookingRequest(BaseModel):
    reason: str = ""


@router.post("/{accession}/appointment", status_code=status.HTTP_201_CREATED)
def book(
    accession: str,
    body: BookRequest,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
) -> AppointmentPublic:
    """Book the order into a slot: the order becomes ``scheduled`` with room, station AE
    and time. 409 when the slot is full or the order cancelled or booked already."""
    order = _visible(session, principal, accession)
    appointment = booking.book(
        session=session,
        actor=principal.actor,
        zone=ctx.settings.zone,
        accession=accession,
        slot_id=body.slot_id,
    )
    view = _appointment_view(session, appointment, order)
    session.commit()
    ctx.notifier.changed(order.campus)
    return view


@router.put("/{accession}/appointment")
def reschedule(
    accession: str,
    body: RescheduleRequest,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
) -> AppointmentPublic:
    """Move the booking to another slot (the old appointment becomes ``rescheduled``)."""
    order = _visible(session, principal, accession)
    appointment = booking.reschedule(
        session=session,
        actor=principal.actor,
        zone=ctx.settings.zone,
        accession=accession,
        slot_id=body.slot_id,
        reason=body.reason,
    )
    view = _appointment_view(session, appointment, order)
    session.commit()
    ctx.notifier.changed(order.campus)
    return view


@router.post("/{accession}/appointment/cancel")
def cancel_booking(
    accession: str,
    body: CancelBookingRequest,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
) -> OrderPublic:
    """Cancel the booking (``reason`` required); the order stays, ``registered`` again."""
    _visible(session, principal, accession)
    order = booking.cancel_booking(
        session=session, actor=principal.actor, accession=accession, reason=body.reason
    )
    session.commit()
    ctx.notifier.changed(order.campus)
    return order_view(session, order)


@router.get("/{accession}/appointments")
def list_appointments(
    accession: str, principal: SlotViewer, session: SessionDep
) -> list[AppointmentPublic]:
    """Every appointment the order has had (booked, rescheduled, cancelled), oldest first."""
    order = _visible(session, principal, accession)
    rows = booking.appointments_of(session=session, order=order)
    views = [AppointmentPublic.of(a, order, s, r) for a, s, r in rows]
    audit.record(
        session,
        principal.actor,
        action="read",
        resource="appointment",
        resource_id=order.accession,
        patient_id=orders.patient_of(session, order).patient_id,
    )
    session.commit()
    return views


@router.get(
    "/{accession}/slip.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "A5 PDF"}},
)
def slip(accession: str, principal: Registrar, session: SessionDep, ctx: ContextDep) -> Response:
    """The appointment slip to print and hand to the patient (audited ``print``)."""
    _visible(session, principal, accession)
    content = appointment_slip(
        session=session,
        actor=principal.actor,
        accession=accession,
        hospital=ctx.settings.hospital_name,
        zone=ctx.settings.zone,
        now=utcnow(),
    )
    pdf = render_slip(content, font_file=ctx.settings.slip_font)
    session.commit()
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{accession}.pdf"'},
    )


def _visible(session: Session, principal: Principal, accession: str) -> Order:
    order = orders.get_order(session=session, accession=accession)
    principal.require_campus(order.campus)
    return order


def _appointment_view(
    session: Session, appointment: Appointment, order: Order
) -> AppointmentPublic:
    session.flush()
    slot, room = scheduling.get_slot(session, appointment.slot_pk)
    return AppointmentPublic.of(appointment, order, slot, room)
