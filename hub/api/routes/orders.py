"""Orders (检查登记): registrars create, edit, cancel and check in (报到); clinical staff
list and read.

Every order shown is audited as a read of its patient; every change wakes the campus's
order feed after commit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel
from sqlmodel import Session

from hub.api.deps import ContextDep, Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.models.registration import (
    CATEGORY_LABELS,
    ORDER_STATUS_LABELS,
    Order,
    OrderEvent,
    OrderStatus,
    Patient,
    PatientCategory,
)
from hub.security.roles import CLINICAL_READERS, Role
from hub.services import audit, orders
from hub.services.campuses import campus_name, check_campus
from hub.services.clock import as_utc
from shared.dicom.uid import UidFactory

router = APIRouter(prefix="/orders", tags=["orders"])

Registrar = Annotated[Principal, Depends(RequireRoles(Role.REGISTRAR))]
Reader = Annotated[Principal, Depends(RequireRoles(*CLINICAL_READERS))]


class OrderPublic(BaseModel):
    accession: str
    campus: str
    campus_name: str
    patient_id: str
    patient_name: str
    patient_sex: str
    patient_birth_date: date | None
    procedure_code: str
    procedure_name: str
    modality: str
    body_part: str
    category: str
    category_label: str
    requesting_department: str
    requesting_doctor: str
    clinical_info: str
    status: str
    status_label: str
    study_uid: str
    room: str
    station_ae: str
    scheduled_at: datetime | None
    cancel_reason: str
    change_seq: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order, patient: Patient) -> OrderPublic:
        return cls(
            accession=order.accession,
            campus=order.campus,
            campus_name=campus_name(order.campus),
            patient_id=patient.patient_id,
            patient_name=patient.name,
            patient_sex=patient.sex,
            patient_birth_date=patient.birth_date,
            procedure_code=order.procedure_code,
            procedure_name=order.procedure_name,
            modality=order.modality,
            body_part=order.body_part,
            category=order.category,
            category_label=_category_label(order.category),
            requesting_department=order.requesting_department,
            requesting_doctor=order.requesting_doctor,
            clinical_info=order.clinical_info,
            status=order.status,
            status_label=_status_label(order.status),
            study_uid=order.study_uid,
            room=order.room,
            station_ae=order.station_ae,
            scheduled_at=as_utc(order.scheduled_at) if order.scheduled_at else None,
            cancel_reason=order.cancel_reason,
            change_seq=order.change_seq,
            created_by=order.created_by,
            created_at=as_utc(order.created_at),
            updated_at=as_utc(order.updated_at),
        )


class OrderEventPublic(BaseModel):
    from_status: str
    from_label: str
    to_status: str
    to_label: str
    reason: str
    actor: str
    at: datetime

    @classmethod
    def of(cls, event: OrderEvent) -> OrderEventPublic:
        return cls(
            from_status=event.from_status,
            from_label=_status_label(event.from_status),
            to_status=event.to_status,
            to_label=_status_label(event.to_status),
            reason=event.reason,
            actor=event.actor,
            at=as_utc(event.at),
        )


class CancelRequest(BaseModel):
    reason: str = ""


def order_view(session: Session, order: Order) -> OrderPublic:
    return OrderPublic.of(order, orders.patient_of(session, order))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_order(
    body: orders.OrderCreate, principal: Registrar, session: SessionDep, ctx: ContextDep
) -> OrderPublic:
    """Register an exam at a campus: a new accession number (``DG2611250001``) and Study
    Instance UID. 404 for an unknown patient or procedure; 403 for another campus."""
    principal.require_campus(check_campus(body.campus))
    order = orders.create_order(
        session=session,
        actor=principal.actor,
        uids=UidFactory(ctx.settings.uid_root),
        zone=ctx.settings.zone,
        data=body,
    )
    session.commit()
    ctx.notifier.changed(order.campus)
    return order_view(session, order)


@router.get("")
def list_orders(
    principal: Reader,
    session: SessionDep,
    ctx: ContextDep,
    campus: str | None = None,
    day: Annotated[date | None, Query(alias="date", description="campus-local day")] = None,
    status: OrderStatus | None = None,
    patient_id: str | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[OrderPublic]:
    """Orders of ``campus`` (default: every campus of the person), booked for — or, when
    not booked, registered on — ``date``, by appointment time. Audited as reads."""
    if campus is not None:
        principal.require_campus(check_campus(campus))
    rows, total = orders.list_orders(
        session=session,
        zone=ctx.settings.zone,
        campuses=[campus] if campus else principal.user.campus_list,
        day=day,
        status=status,
        patient_id=patient_id,
        offset=offset,
        limit=limit,
    )
    page = Page[OrderPublic](data=[OrderPublic.of(o, p) for o, p in rows], count=total)
    audit.record_reads(
        session,
        principal.actor,
        resource="order",
        patient_ids=[o.patient_id for o in page.data],
        detail="list",
    )
    session.commit()
    return page


@router.get("/{accession}")
def get_order(accession: str, principal: Reader, session: SessionDep) -> OrderPublic:
    """One order (404 when unknown, 403 for another campus), audited as read."""
    order = _visible(session, principal, accession)
    view = order_view(session, order)
    _audit_read(session, principal, order, view.patient_id, "order")
    return view


@router.get("/{accession}/history")
def order_history(accession: str, principal: Reader, session: SessionDep) -> list[OrderEventPublic]:
    """The order's status steps, oldest first, with who and why."""
    order = _visible(session, principal, accession)
    events = [OrderEventPublic.of(e) for e in orders.order_history(session=session, order=order)]
    _audit_read(session, principal, order, orders.patient_of(session, order).patient_id, "history")
    return events


@router.patch("/{accession}")
def update_order(
    accession: str,
    body: orders.OrderUpdate,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
) -> OrderPublic:
    """Change an order (``reason`` required, 400 without). 409 once the exam has begun,
    or when it is cancelled."""
    _visible(session, principal, accession)
    order = orders.update_order(
        session=session, actor=principal.actor, accession=accession, data=body
    )
    session.commit()
    ctx.notifier.changed(order.campus)
    return order_view(session, order)


@router.post("/{accession}/cancel")
def cancel_order(
    accession: str,
    body: CancelRequest,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
) -> OrderPublic:
    """Cancel an order (``reason`` required) and release its appointment. 409 when it is
    cancelled already or the exam has begun."""
    _visible(session, principal, accession)
    order = orders.cancel_order(
        session=session, actor=principal.actor, accession=accession, reason=body.reason
    )
    session.commit()
    ctx.notifier.changed(order.campus)
    return order_view(session, order)


@router.post("/{accession}/arrive")
def arrive_order(
    accession: str, principal: Registrar, session: SessionDep, ctx: ContextDep
) -> OrderPublic:
    """Check the patient in (报到): a registered or scheduled order becomes ``arrived`` and
    reaches the campus's order feed. Repeating it on an arrived order changes nothing.
    409 when the order is cancelled, in progress, completed or discontinued."""
    _visible(session, principal, accession)
    order = orders.arrive_order(session=session, actor=principal.actor, accession=accession)
    session.commit()
    ctx.notifier.changed(order.campus)
    return order_view(session, order)


def _visible(session: Session, principal: Principal, accession: str) -> Order:
    """The order, if the person works at its campus (404 / 403 otherwise)."""
    order = orders.get_order(session=session, accession=accession)
    principal.require_campus(order.campus)
    return order


def _audit_read(
    session: Session, principal: Principal, order: Order, patient_id: str, what: str
) -> None:
    audit.record(
        session,
        principal.actor,
        action="read",
        resource="order",
        resource_id=order.accession,
        patient_id=patient_id,
        detail=what,
    )
    session.commit()


def _category_label(value: str) -> str:
    try:
        return CATEGORY_LABELS[PatientCategory(value)]
    except ValueError:
        return value


def _status_label(value: str) -> str:
    try:
        return ORDER_STATUS_LABELS[OrderStatus(value)]
    except ValueError:
        return value
