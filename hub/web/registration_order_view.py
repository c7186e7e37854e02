"""登记员工作站 — the order page: details, status history, appointments and the free
slots of a chosen day to book, with the forms to reschedule, cancel the booking and
cancel the order. Shown by ``registration_orders`` and again, with an error in one
section, by the forms that post from it (``registration_booking``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from urllib.parse import quote

from fastapi import Request, Response, status
from sqlmodel import Session

from hub.api.deps import Principal
from hub.api.routes.orders import OrderEventPublic, OrderPublic
from hub.api.routes.scheduling import AppointmentPublic, SlotPublic
from hub.context import HubContext
from hub.models.registration import CATEGORY_LABELS, ORDER_STATUS_LABELS, Order, OrderStatus
from hub.services import audit, booking, orders, scheduling
from hub.services.clock import local_day
from hub.services.slip import SEX_LABELS, WEEKDAYS
from hub.web.registration_common import render, today
from hub.web.registration_patients import patient_url

BOOKING_DAYS = 7
APPOINTMENT_LABELS = {"booked": "有效", "cancelled": "已取消", "rescheduled": "已改约"}
LABELS = {
    "status_labels": {s.value: label for s, label in ORDER_STATUS_LABELS.items()},
    "category_labels": {c.value: label for c, label in CATEGORY_LABELS.items()},
    "sex_labels": SEX_LABELS,
    "appointment_labels": APPOINTMENT_LABELS,
}
"""Chinese labels every order page and list uses, by the values they label."""


def order_url(accession: str) -> str:
    return f"/registration/orders/{quote(accession, safe='')}"


def visible_order(session: Session, principal: Principal, accession: str) -> Order:
    """The order, if the registrar works at its campus (404 / 403 pages otherwise)."""
    order = orders.get_order(session=session, accession=accession)
    principal.require_campus(order.campus)
    return order


def order_page(
    request: Request,
    principal: Principal,
    session: Session,
    ctx: HubContext,
    accession: str,
    *,
    day: date | None = None,
    errors: Sequence[str] = (),
    error_at: str = "",
    kept: dict[str, str] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """The order page (audited as a read of its patient). ``errors`` are shown in the
    section ``error_at`` (arrive, book, reschedule, unbook, cancel), whose inputs keep
    ``kept``."""
    order = visible_order(session, principal, accession)
    patient = orders.patient_of(session, order)
    view = OrderPublic.of(order, patient)
    history = [OrderEventPublic.of(e) for e in orders.order_history(session=session, order=order)]
    appointments = [
        AppointmentPublic.of(a, order, s, r)
        for a, s, r in booking.appointments_of(session=session, order=order)
    ]
    current = next((a for a in appointments if a.status == "booked"), None)
    now_day = today(ctx)
    zone = ctx.settings.zone
    chosen = day or (local_day(current.slot.start, zone) if current else now_day)
    bookable = OrderStatus(order.status) in booking.BOOKABLE
    slots = []
    if bookable:
        rows = scheduling.list_slots(
            session=session, zone=zone, campus=order.campus, day=chosen, modality=order.modality
        )
        slots = [SlotPublic.of(s, r) for s, r in rows]
    audit.record(
        session,
        principal.actor,
        action="read",
        resource="order",
        resource_id=order.accession,
        patient_id=patient.patient_id,
        detail="order",
    )
    session.commit()
    context = {
        **LABELS,
        "order": view,
        "history": history,
        "appointments": appointments,
        "current": current,
        "bookable": bookable,
        "editable": OrderStatus(view.status) in orders.EDITABLE,
        "arrivable": OrderStatus(view.status) in orders.ARRIVABLE,
        "emergency": view.category == "emergency",
        "slots": slots,
        "day": chosen,
        "day_chosen": day is not None,
        "day_label": day_label(chosen, now_day),
        "days": [(d, day_label(d, now_day)) for d in _next_days(now_day)],
        "errors": list(errors),
        "error_at": error_at,
        "kept": kept or {},
        "patient_url": patient_url(view.patient_id),
        "url": order_url(view.accession),
    }
    return render(request, principal, "reg_order.html", context, status_code=status_code)


def day_label(day: date, now_day: date) -> str:
    """``今天 11月25日 周三`` / ``明天 …`` / ``11月28日 周六``."""
    names = {0: "今天 ", 1: "明天 ", 2: "后天 ", -1: "昨天 "}
    prefix = names.get((day - now_day).days, "")
    return f"{prefix}{day.month}月{day.day}日 周{WEEKDAYS[day.weekday()]}"


def _next_days(first: date) -> list[date]:
    return [first + timedelta(days=n) for n in range(BOOKING_DAYS)]
