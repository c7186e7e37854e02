"""Patients, procedures and orders written straight into a test hub's database through
the hub's models and ``touch_order`` (so they get change numbers like real writes),
then announced on the hub's change notifier — independent of the registration API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from pydicom.uid import generate_uid
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from hub.context import HubContext
from hub.db import session_scope
from hub.models.base import utcnow
from hub.models.registration import (
    ChangeCounter,
    Order,
    OrderEvent,
    OrderStatus,
    Patient,
    PatientCategory,
    Procedure,
)
from hub.services.changes import touch_order
from hub.services.names import pinyin_key


@dataclass(frozen=True)
class OrderRef:
    """What a test needs of an order it made."""

    pk: int
    accession: str
    campus: str
    patient_id: str
    study_uid: str
    change_seq: int


def add_procedure(
    ctx: HubContext,
    code: str,
    *,
    name: str = "胸部CT平扫",
    modality: str = "CT",
    preparation: str = "",
) -> None:
    """A procedure catalogue row."""
    with session_scope(ctx.engine) as session:
        session.add(Procedure(code=code, name=name, modality=modality, preparation=preparation))


def make_order(
    ctx: HubContext,
    *,
    campus: str = "dongge",
    patient_id: str | None = None,
    name: str = "张三",
    birth_date: date | None = date(1980, 5, 17),
    sex: str = "M",
    procedure_code: str = "CT001",
    procedure_name: str = "胸部CT平扫",
    modality: str = "CT",
    status: OrderStatus = OrderStatus.SCHEDULED,
    scheduled_at: datetime | None = None,
    accession: str | None = None,
    study_uid: str | None = None,
) -> OrderRef:
    """One order (and its patient, made when ``patient_id`` is new); the campus's
    long-polls are woken."""
    patient_id = patient_id or f"P{uuid.uuid4().hex[:8].upper()}"
    accession = accession or f"T{uuid.uuid4().hex[:10].upper()}"
    now = utcnow()
    with session_scope(ctx.engine) as session:
        patient = session.exec(select(Patient).where(Patient.patient_id == patient_id)).first()
        if patient is None:
            flat, initials = pinyin_key(name)
            patient = Patient(
                patient_id=patient_id,
                name=name,
                pinyin=flat,
                pinyin_initials=initials,
                sex=sex,
                birth_date=birth_date,
                created_at=now,
                updated_at=now,
            )
            session.add(patient)
            session.flush()
        assert patient.id is not None
        order = Order(
            accession=accession,
            campus=campus,
            patient_pk=patient.id,
            procedure_code=procedure_code,
            procedure_name=procedure_name,
            modality=modality,
            category=PatientCategory.OUTPATIENT.value,
            requesting_department="呼吸内科",
            requesting_doctor="李医生",
            status=status.value,
            study_uid=study_uid or generate_uid(),
            room="CT1",
            station_ae="CT1_DG",
            scheduled_at=scheduled_at,
            created_by="tests",
            created_at=now,
            updated_at=now,
        )
        session.add(order)
        session.flush()
        touch_order(session, order, actor="tests")
        session.flush()
        assert order.id is not None
        ref = OrderRef(
            order.id, order.accession, campus, patient_id, order.study_uid, order.change_seq
        )
    ctx.notifier.changed(campus)
    return ref


def set_status(ctx: HubContext, accession: str, status: OrderStatus, reason: str = "") -> int:
    """Move an order (e.g. cancel it) as a registrar would; returns its new change_seq."""
    with session_scope(ctx.engine) as session:
        order = session.exec(select(Order).where(Order.accession == accession)).one()
        touch_order(session, order, actor="tests", new_status=status.value, reason=reason)
        if status == OrderStatus.CANCELLED:
            order.cancel_reason = reason
        session.flush()
        campus, seq = order.campus, order.change_seq
    ctx.notifier.changed(campus)
    return seq


def order_status(ctx: HubContext, accession: str) -> str:
    with session_scope(ctx.engine) as session:
        return session.exec(select(Order.status).where(Order.accession == accession)).one()


def forget_orders_after(session: Session, seq: int) -> None:
    """What restoring a backup taken just after order change ``seq`` does to the orders:
    the later ones (and their history) are gone and the change counter is back at ``seq``.
    In the caller's transaction; the caller restores whatever else the test needs."""
    later = select(Order.id).where(col(Order.change_seq) > seq)
    session.exec(delete(OrderEvent).where(col(OrderEvent.order_pk).in_(later)))  # type: ignore[call-overload]
    session.exec(delete(Order).where(col(Order.change_seq) > seq))  # type: ignore[call-overload]
    session.exec(update(ChangeCounter).values(last=seq))  # type: ignore[call-overload]
