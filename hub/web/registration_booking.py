"""登记员工作站 — appointments: book an order into a free slot, reschedule, cancel the
booking, and print the appointment slip (PDF, inline).

The same service functions as ``hub.api.routes.scheduling``; the services audit the
changes and the printing. An error is shown on the order page, in the section of the
form that caused it, with the input kept.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from sqlmodel import Session

from hub.api.deps import ContextDep, Principal, SessionDep
from hub.context import HubContext
from hub.models.base import utcnow
from hub.models.registration import Order
from hub.services import booking
from hub.services.clock import as_utc
from hub.services.errors import ServiceError
from hub.services.slip import appointment_slip, render_slip
from hub.web.forms import FormInvalid, ReasonForm, SlotForm
from hub.web.registration_common import PageRoute, Registrar, redirect, service_status
from hub.web.registration_order_view import order_page, order_url, visible_order

router = APIRouter(prefix="/registration", include_in_schema=False, route_class=PageRoute)


@router.post("/orders/{accession}/book")
def book_submit(
    accession: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    form: Annotated[SlotForm, Form()],
) -> Response:
    """Book the order into the chosen slot (it becomes 已预约)."""
    visible_order(session, principal, accession)
    try:
        booking.book(
            session=session,
            actor=principal.actor,
            zone=ctx.settings.zone,
            accession=accession,
            slot_id=form.slot(),
        )
    except ServiceError as exc:
        return _again(request, principal, session, ctx, accession, exc, "book", form)
    session.commit()
    order = visible_order(session, principal, accession)
    ctx.notifier.changed(order.campus)
    return redirect(order_url(accession), f"已预约 {_when(order, ctx.settings.zone)}")


@router.post("/orders/{accession}/reschedule")
def reschedule_submit(
    accession: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    form: Annotated[SlotForm, Form()],
) -> Response:
    """Move the booking to the chosen slot (the old one is released)."""
    visible_order(session, principal, accession)
    try:
        booking.reschedule(
            session=session,
            actor=principal.actor,
            zone=ctx.settings.zone,
            accession=accession,
            slot_id=form.slot(),
            reason=form.reason,
        )
    except ServiceError as exc:
        return _again(request, principal, session, ctx, accession, exc, "book", form)
    session.commit()
    order = visible_order(session, principal, accession)
    ctx.notifier.changed(order.campus)
    return redirect(order_url(accession), f"已改约到 {_when(order, ctx.settings.zone)}")


@router.post("/orders/{accession}/unbook")
def unbook_submit(
    accession: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    form: Annotated[ReasonForm, Form()],
) -> Response:
    """Cancel the booking (reason required); the order stays, 已登记 again."""
    visible_order(session, principal, accession)
    try:
        order = booking.cancel_booking(
            session=session, actor=principal.actor, accession=accession, reason=form.reason
        )
    except ServiceError as exc:
        session.rollback()
        return order_page(
            request, principal, session, ctx, accession,
            errors=[exc.message], error_at="unbook", kept={"unbook_reason": form.reason},
            status_code=service_status(exc),
        )  # fmt: skip
    session.commit()
    ctx.notifier.changed(order.campus)
    return redirect(order_url(accession), f"已取消预约，检查 {accession} 仍保留，可重新预约")


@router.get("/orders/{accession}/slip.pdf")
def slip_pdf(
    accession: str, principal: Registrar, session: SessionDep, ctx: ContextDep
) -> Response:
    """The appointment slip as an A5 PDF shown in the browser (audited ``print``)."""
    visible_order(session, principal, accession)
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


def _again(
    request: Request,
    principal: Principal,
    session: Session,
    ctx: HubContext,
    accession: str,
    exc: ServiceError,
    section: str,
    form: SlotForm,
) -> Response:
    """The order page again with the error in ``section`` and the choice kept."""
    session.rollback()
    errors = exc.messages if isinstance(exc, FormInvalid) else [exc.message]
    return order_page(
        request, principal, session, ctx, accession,
        day=form.listed_day(), errors=errors, error_at=section,
        kept={"slot_id": form.slot_id, "reschedule_reason": form.reason},
        status_code=service_status(exc),
    )  # fmt: skip


def _when(order: Order, zone: tzinfo) -> str:
    """``CT1 2026-11-26 08:00`` (campus time)."""
    if order.scheduled_at is None:
        return order.room
    return f"{order.room} {as_utc(order.scheduled_at).astimezone(zone):%Y-%m-%d %H:%M}"
