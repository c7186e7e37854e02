"""登记员工作站 — orders: create (procedure from the catalogue by modality), the campus's
orders of a day, an order's page (``registration_order_view``), edit with a reason,
cancel with a reason, check the patient in (报到).

The same service functions as ``hub.api.routes.orders`` and audited as that API is:
every order shown is a ``read`` of its patient by the registrar; writes are audited by
the services. After a change is committed, the campus's order feed is woken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response, status
from sqlmodel import Session

from hub.api.deps import ContextDep, Principal, SessionDep
from hub.api.routes.orders import OrderPublic
from hub.api.routes.patients import PatientPublic
from hub.context import HubContext
from hub.models.registration import ORDER_STATUS_LABELS, Order, Procedure
from hub.services import audit, catalogue, orders, patients
from hub.services.campuses import campus_name, check_campus
from hub.services.errors import ServiceError
from hub.web.forms import FormInvalid, OrderForm
from hub.web.registration_common import (
    PageRoute,
    Registrar,
    redirect,
    render,
    service_status,
    today,
)
from hub.web.registration_order_view import (
    LABELS,
    day_label,
    order_page,
    order_url,
    visible_order,
)
from hub.web.registration_patients import patient_url
from shared.dicom.uid import UidFactory

router = APIRouter(prefix="/registration", include_in_schema=False, route_class=PageRoute)

LIST_LIMIT = 500


@router.get("/patients/{patient_id}/new-order")
def new_order_page(
    patient_id: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    campus: str = "",
) -> Response:
    """The order form for a patient; the campus is preselected (``campus`` or the
    registrar's first)."""
    campuses = principal.user.campus_list
    form = OrderForm(campus=campus if campus in campuses else next(iter(campuses), ""))
    return _form_page(request, principal, session, ctx, patient_id, form)


@router.post("/patients/{patient_id}/new-order")
def new_order_submit(
    patient_id: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    form: Annotated[OrderForm, Form()],
) -> Response:
    """Register the order and go to its page; on an error, the form again with the
    sentences and the input kept. 403 page for a campus that is not the registrar's."""
    try:
        data = form.to_create(patient_id)
        principal.require_campus(check_campus(data.campus))
        order = orders.create_order(
            session=session,
            actor=principal.actor,
            uids=UidFactory(ctx.settings.uid_root),
            zone=ctx.settings.zone,
            data=data,
        )
    except ServiceError as exc:
        session.rollback()
        errors = exc.messages if isinstance(exc, FormInvalid) else [exc.message]
        code = service_status(exc)
        return _form_page(request, principal, session, ctx, patient_id, form, errors, code)
    session.commit()
    ctx.notifier.changed(order.campus)
    return redirect(order_url(order.accession), f"已登记检查，检查号 {order.accession}")


@router.get("/orders")
def orders_page(
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    campus: str = "",
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """The orders of a campus (default: the registrar's first) booked for — or, when not
    booked, registered on — a day (default: today), by time; audited as reads."""
    campus = campus or next(iter(principal.user.campus_list), "")
    principal.require_campus(check_campus(campus))
    day = day or today(ctx)
    rows, total = orders.list_orders(
        session=session, zone=ctx.settings.zone, campuses=[campus], day=day, limit=LIST_LIMIT
    )
    views = [OrderPublic.of(o, p) for o, p in rows]
    audit.record_reads(
        session,
        principal.actor,
        resource="order",
        patient_ids=[v.patient_id for v in views],
        detail="list",
    )
    session.commit()
    counts = {label: sum(v.status_label == label for v in views) for label in _status_order()}
    context = {
        **LABELS,
        "campus": campus,
        "campus_label": campus_name(campus),
        "campuses": principal.user.campus_list,
        "day": day,
        "day_label": day_label(day, today(ctx)),
        "prev_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "orders": views,
        "total": total,
        "limit": LIST_LIMIT,
        "counts": {k: v for k, v in counts.items() if v},
    }
    return render(request, principal, "reg_orders.html", context)


@router.get("/orders/{accession}")
def order_page_get(
    accession: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """The order: details, status history, appointments, free slots of ``date``."""
    return order_page(request, principal, session, ctx, accession, day=day)


@router.get("/orders/{accession}/edit")
def edit_order_page(
    accession: str, request: Request, principal: Registrar, session: SessionDep, ctx: ContextDep
) -> Response:
    """The order form filled with the order's values, and a reason to give."""
    order = visible_order(session, principal, accession)
    return _form_page(request, principal, session, ctx, None, OrderForm.of(order), order=order)


@router.post("/orders/{accession}/edit")
def edit_order_submit(
    accession: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    form: Annotated[OrderForm, Form()],
) -> Response:
    """Change the order (reason required) and go back to its page; on an error, the form
    again with the sentence and the input kept."""
    visible_order(session, principal, accession)
    try:
        order = orders.update_order(
            session=session, actor=principal.actor, accession=accession, data=form.to_update()
        )
    except ServiceError as exc:
        session.rollback()
        errors = exc.messages if isinstance(exc, FormInvalid) else [exc.message]
        order = visible_order(session, principal, accession)
        return _form_page(
            request, principal, session, ctx, None, form, errors, service_status(exc), order
        )
    session.commit()
    ctx.notifier.changed(order.campus)
    return redirect(order_url(accession), f"已修改检查 {accession}")


@router.post("/orders/{accession}/cancel")
def cancel_order_submit(
    accession: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Cancel the order (reason required; its booking is released)."""
    visible_order(session, principal, accession)
    try:
        order = orders.cancel_order(
            session=session, actor=principal.actor, accession=accession, reason=reason
        )
    except ServiceError as exc:
        session.rollback()
        return order_page(
            request, principal, session, ctx, accession,
            errors=[exc.message], error_at="cancel", kept={"cancel_reason": reason},
            status_code=service_status(exc),
        )  # fmt: skip
    session.commit()
    ctx.notifier.changed(order.campus)
    return redirect(order_url(accession), f"已取消检查 {accession}")


@router.post("/orders/{accession}/arrive")
def arrive_order_submit(
    accession: str, request: Request, principal: Registrar, session: SessionDep, ctx: ContextDep
) -> Response:
    """Check the patient in (报到) and go back to the order's page; on a refusal (the
    order is cancelled or its exam has begun), the page again with the sentence."""
    visible_order(session, principal, accession)
    try:
        order = orders.arrive_order(session=session, actor=principal.actor, accession=accession)
    except ServiceError as exc:
        session.rollback()
        return order_page(
            request, principal, session, ctx, accession,
            errors=[exc.message], error_at="arrive", status_code=service_status(exc),
        )  # fmt: skip
    session.commit()
    ctx.notifier.changed(order.campus)
    return redirect(order_url(accession), f"已报到 {accession}")


def _status_order() -> list[str]:
    return list(ORDER_STATUS_LABELS.values())


def _catalogue(session: Session, keep: str) -> list[tuple[str, str, list[Procedure]]]:
    """Active procedures grouped by modality (catalogue order), plus the withdrawn
    procedure ``keep`` an order being edited still has."""
    groups: dict[str, list[Procedure]] = {}
    for row in catalogue.list_procedures(session=session, include_inactive=True):
        if row.active or row.code == keep:
            groups.setdefault(row.modality, []).append(row)
    return [
        (modality, catalogue.MODALITIES.get(modality, modality), rows)
        for modality, rows in groups.items()
    ]


def _form_page(
    request: Request,
    principal: Principal,
    session: Session,
    ctx: HubContext,
    patient_id: str | None,
    form: OrderForm,
    errors: Sequence[str] = (),
    status_code: int = status.HTTP_200_OK,
    order: Order | None = None,
) -> Response:
    """The order form, new (for ``patient_id``) or editing ``order``; the patient shown
    is audited as read."""
    if order is not None:
        patient = orders.patient_of(session, order)
        action = order_url(order.accession) + "/edit"
    else:
        patient = patients.get_patient(session=session, patient_id=patient_id or "")
        action = patient_url(patient.patient_id) + "/new-order"
    view = PatientPublic.of(patient, today(ctx))
    audit.record(
        session,
        principal.actor,
        action="read",
        resource="order" if order is not None else "patient",
        resource_id=order.accession if order is not None else view.patient_id,
        patient_id=view.patient_id,
        detail="order form",
    )
    session.commit()
    context = {
        **LABELS,
        "form": form,
        "errors": list(errors),
        "patient": view,
        "order": OrderPublic.of(order, patient) if order is not None else None,
        "action": action,
        "groups": _catalogue(session, keep=form.procedure_code),
        "campuses": principal.user.campus_list,
        "patient_url": patient_url(view.patient_id),
    }
    return render(request, principal, "reg_order_form.html", context, status_code=status_code)
