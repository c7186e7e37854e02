"""Orders (检查登记): create, edit, cancel, check in (报到), look up, list, and their
status history.

Every write goes through ``touch_order`` (new ``change_seq``, history step) and is
audited; the caller commits and then notifies the order's campus. Locks are taken in one
order everywhere — order row, then slots (by id), then the change counter — so
concurrent writers on PostgreSQL never deadlock.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, func, select

from hub.models.base import utcnow
from hub.models.registration import (
    Order,
    OrderEvent,
    OrderStatus,
    Patient,
    PatientCategory,
    Procedure,
)
from hub.services import audit
from hub.services.accession import next_accession
from hub.services.campuses import check_campus
from hub.services.catalogue import get_procedure
from hub.services.changes import touch_order
from hub.services.clock import as_utc, check_day, day_bounds, local_day
from hub.services.errors import Conflict, Invalid, NotFound
from hub.services.patients import get_patient
from hub.services.scheduling import release_booking
from shared.dicom.uid import UidFactory

EDITABLE = frozenset({OrderStatus.REGISTERED, OrderStatus.SCHEDULED, OrderStatus.ARRIVED})
"""Statuses in which an order may still be edited or cancelled (not once the exam began)."""

ARRIVABLE = frozenset({OrderStatus.REGISTERED, OrderStatus.SCHEDULED})
"""Statuses from which the registrar may check the patient in (报到)."""

_NOT_ARRIVABLE: dict[str, tuple[str, str]] = {
    OrderStatus.CANCELLED: (
        "已取消，不能报到；如仍需检查请重新登记",
        "is cancelled: register it again",
    ),
    OrderStatus.IN_PROGRESS: ("正在检查中，无需报到", "is in progress: no check-in needed"),
    OrderStatus.COMPLETED: ("已检查完毕，不能报到", "is completed"),
    OrderStatus.DISCONTINUED: (
        "已中止，不能报到，请联系技师",
        "was discontinued: ask the technician",
    ),
}
"""Why an order in each of the other statuses cannot be checked in (中文, English)."""


class OrderCreate(BaseModel):
    patient_id: str = Field(description="病历号 of a registered patient")
    campus: str
    procedure_code: str
    category: PatientCategory
    body_part: str | None = Field(default=None, max_length=32, description="default: catalogue")
    requesting_department: str = Field(default="", max_length=64)
    requesting_doctor: str = Field(default="", max_length=64)
    clinical_info: str = Field(default="", max_length=4000)


class OrderUpdate(BaseModel):
    """The fields given are changed; ``reason`` is required."""

    reason: str = ""
    procedure_code: str | None = None
    category: PatientCategory | None = None
    body_part: str | None = Field(default=None, max_length=32)
    requesting_department: str | None = Field(default=None, max_length=64)
    requesting_doctor: str | None = Field(default=None, max_length=64)
    clinical_info: str | None = Field(default=None, max_length=4000)


def get_order(*, session: Session, accession: str) -> Order:
    """The order ``accession``; ``NotFound`` otherwise."""
    order = session.exec(select(Order).where(Order.accession == accession)).first()
    if order is None:
        raise NotFound(
            f"检查号 {accession} 不存在，请核对 / no order with accession number {accession}"
        )
    return order


def lock_order(session: Session, order: Order) -> Order:
    """Hold ``order``'s row until commit and re-read it.

    A no-op ``UPDATE`` takes the row lock on PostgreSQL and the database write lock on
    SQLite (whose reads before a write run outside any transaction), so two requests on
    one order run one after the other and each sees the other's result."""
    table = Order.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table).where(table.c.id == order.id).values(change_seq=table.c.change_seq)
    )
    session.refresh(order)
    return order


def patient_of(session: Session, order: Order) -> Patient:
    patient = session.get(Patient, order.patient_pk)
    assert patient is not None, "exam_order.patient_pk is a foreign key"
    return patient


def create_order(
    *,
    session: Session,
    actor: audit.Actor,
    uids: UidFactory,
    zone: tzinfo,
    data: OrderCreate,
) -> Order:
    """Register an exam (status ``registered``, audited ``create``) with a new accession
    number of the campus and local day and a new Study Instance UID. ``NotFound`` for an
    unknown patient or procedure, ``Invalid`` for an unknown campus or a withdrawn
    procedure."""
    campus = check_campus(data.campus)
    patient = get_patient(session=session, patient_id=data.patient_id.strip())
    procedure = _active_procedure(session, data.procedure_code)
    now = utcnow()
    order = Order(
        accession=next_accession(session=session, campus=campus, day=local_day(now, zone)),
        campus=campus,
        patient_pk=patient.id,  # type: ignore[arg-type]
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        modality=procedure.modality,
        body_part=(data.body_part or procedure.body_part).strip().upper(),
        category=data.category.value,
        requesting_department=data.requesting_department.strip(),
        requesting_doctor=data.requesting_doctor.strip(),
        clinical_info=data.clinical_info.strip(),
        status="",
        study_uid=uids.new(),
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    touch_order(session, order, actor=actor.name, new_status=OrderStatus.REGISTERED, reason="登记")
    audit.record(
        session,
        actor,
        action="create",
        resource="order",
        resource_id=order.accession,
        patient_id=patient.patient_id,
        detail={"campus": campus, "procedure": procedure.code, "category": order.category},
    )
    return order


def update_order(
    *, session: Session, actor: audit.Actor, accession: str, data: OrderUpdate
) -> Order:
    """Change the given fields (audited with old → new values and the reason).

    ``Invalid`` without a reason; ``Conflict`` once the exam has begun or when a new
    procedure of another modality would not fit the booked room (cancel the booking
    first)."""
    reason = _reason(data.reason, "修改")
    order = lock_order(session, get_order(session=session, accession=accession))
    _require_status(order, EDITABLE, "修改")
    wanted: dict[str, Any] = {}
    if data.procedure_code is not None and data.procedure_code != order.procedure_code:
        procedure = _active_procedure(session, data.procedure_code)
        if procedure.modality != order.modality and order.room:
            raise Conflict(
                f"新项目为{procedure.modality}检查，与已预约的{order.room}不符，请先取消预约 / "
                f"the new procedure is {procedure.modality}: cancel the booking in "
                f"{order.room} first"
            )
        wanted |= {
            "procedure_code": procedure.code,
            "procedure_name": procedure.name,
            "modality": procedure.modality,
            "body_part": procedure.body_part,
        }
    if data.category is not None:
        wanted["category"] = data.category.value
    for name in ("body_part", "requesting_department", "requesting_doctor", "clinical_info"):
        value = getattr(data, name)
        if value is not None:
            wanted[name] = value.strip().upper() if name == "body_part" else value.strip()
    changes = {k: [getattr(order, k), v] for k, v in wanted.items() if getattr(order, k) != v}
    if not changes:
        return order
    for key, (_old, new) in changes.items():
        setattr(order, key, new)
    touch_order(session, order, actor=actor.name)
    audit.record(
        session,
        actor,
        action="update",
        resource="order",
        resource_id=order.accession,
        patient_id=patient_of(session, order).patient_id,
        detail={"changed": changes, "reason": reason},
    )
    return order


def cancel_order(*, session: Session, actor: audit.Actor, accession: str, reason: str) -> Order:
    """Cancel the order (reason required) and release its appointment, if any.
    ``Conflict`` when it is already cancelled or the exam has begun."""
    reason = _reason(reason, "取消")
    order = lock_order(session, get_order(session=session, accession=accession))
    _require_status(order, EDITABLE, "取消")
    released = release_booking(session=session, order=order, reason=f"检查取消：{reason}")
    order.cancel_reason = reason
    order.room = order.station_ae = ""
    order.scheduled_at = None
    touch_order(session, order, actor=actor.name, new_status=OrderStatus.CANCELLED, reason=reason)
    audit.record(
        session,
        actor,
        action="cancel",
        resource="order",
        resource_id=order.accession,
        patient_id=patient_of(session, order).patient_id,
        detail={"reason": reason, "released_slot": released},
    )
    return order


def arrive_order(*, session: Session, actor: audit.Actor, accession: str) -> Order:
    """Check the patient in for the order (报到): ``registered``/``scheduled`` → ``arrived``,
    with a history step, an ``update`` audit record and a new ``change_seq`` (so the
    campus's order feed carries it); the booking is kept. An order already ``arrived`` is
    returned unchanged (nothing written). ``NotFound`` for an unknown accession;
    ``Conflict`` when the order is cancelled, in progress, completed or discontinued."""
    order = lock_order(session, get_order(session=session, accession=accession))
    if order.status == OrderStatus.ARRIVED:
        return order
    if order.status not in ARRIVABLE:
        chinese, english = _NOT_ARRIVABLE.get(
            order.status, ("当前状态不能报到", f"is {order.status}: it cannot be checked in")
        )
        raise Conflict(f"检查 {order.accession} {chinese} / order {order.accession} {english}")
    before = order.status
    touch_order(
        session, order, actor=actor.name, new_status=OrderStatus.ARRIVED.value, reason="报到"
    )
    audit.record(
        session,
        actor,
        action="update",
        resource="order",
        resource_id=order.accession,
        patient_id=patient_of(session, order).patient_id,
        detail={"status": [before, OrderStatus.ARRIVED.value], "reason": "报到"},
    )
    return order


def list_orders(
    *,
    session: Session,
    zone: tzinfo,
    campuses: list[str],
    day: date | None = None,
    status: OrderStatus | None = None,
    patient_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[tuple[Order, Patient]], int]:
    """Orders of ``campuses`` with their patients, by scheduled time then accession, and
    the total count. ``day`` matches the local day an order is booked for, or, for an
    order without appointment, the day it was registered."""
    stmt = select(Order, Patient).join(Patient, col(Patient.id) == col(Order.patient_pk))
    stmt = stmt.where(col(Order.campus).in_(campuses))
    if day is not None:
        start, end = day_bounds(check_day(day), zone)
        stmt = stmt.where(
            or_(
                and_(col(Order.scheduled_at) >= start, col(Order.scheduled_at) < end),
                and_(
                    col(Order.scheduled_at).is_(None),
                    col(Order.created_at) >= start,
                    col(Order.created_at) < end,
                ),
            )
        )
    if status is not None:
        stmt = stmt.where(Order.status == status.value)
    if patient_id:
        stmt = stmt.where(Patient.patient_id == patient_id.strip())
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(
        stmt.order_by(
            col(Order.scheduled_at).is_(None),
            col(Order.scheduled_at),
            col(Order.accession),
        )
        .offset(offset)
        .limit(limit)
    ).all()
    return [(order, patient) for order, patient in rows], int(total)


def order_history(*, session: Session, order: Order) -> list[OrderEvent]:
    """The order's status steps, oldest first."""
    return list(
        session.exec(
            select(OrderEvent)
            .where(OrderEvent.order_pk == order.id)
            .order_by(col(OrderEvent.at), col(OrderEvent.id))
        ).all()
    )


def scheduled_local(order: Order, zone: tzinfo) -> datetime | None:
    """The appointment time in campus time, or None."""
    if order.scheduled_at is None:
        return None
    return as_utc(order.scheduled_at).astimezone(zone)


def _active_procedure(session: Session, code: str) -> Procedure:
    procedure = get_procedure(session=session, code=code.strip())
    if not procedure.active:
        raise Invalid(
            f"检查项目 {procedure.code}（{procedure.name}）已停用，请选择其他项目 / "
            f"procedure {procedure.code} is withdrawn: choose another"
        )
    return procedure


def _reason(reason: str, verb: str) -> str:
    text = reason.strip()
    if not text:
        raise Invalid(f"请填写{verb}原因 / give a reason")
    if len(text) > 500:
        raise Invalid(f"{verb}原因最多500字 / the reason is limited to 500 characters")
    return text


def _require_status(order: Order, allowed: frozenset[OrderStatus], verb: str) -> None:
    if order.status in allowed:
        return
    if order.status == OrderStatus.CANCELLED:
        raise Conflict(
            f"检查 {order.accession} 已取消，不能{verb} / order {order.accession} is cancelled"
        )
    raise Conflict(
        f"检查 {order.accession} 已开始或已完成，不能{verb}，请联系技师 / order "
        f"{order.accession} has begun or finished: ask the technician"
    )
