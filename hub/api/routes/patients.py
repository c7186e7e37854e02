"""Patients: register (登记员), change, look up and search (clinical staff).

Every patient shown to a person is audited as a ``read``; a duplicate warning (409)
shows the candidates with the identity card masked to its last four characters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel
from sqlmodel import Session

from hub.api.deps import ContextDep, Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.context import HubContext
from hub.models.base import utcnow
from hub.models.registration import Patient
from hub.security.roles import CLINICAL_READERS, Role
from hub.services import audit, patients
from hub.services.clock import age_text, as_utc, local_day

router = APIRouter(prefix="/patients", tags=["patients"])

Registrar = Annotated[Principal, Depends(RequireRoles(Role.REGISTRAR))]
Reader = Annotated[Principal, Depends(RequireRoles(*CLINICAL_READERS))]


class PatientPublic(BaseModel):
    patient_id: str
    name: str
    pinyin: str
    pinyin_initials: str
    sex: str
    birth_date: date | None
    age: str
    phone: str
    id_card: str
    """Masked: ``**************1234``; empty when none is on file."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, patient: Patient, today: date) -> PatientPublic:
        return cls(
            patient_id=patient.patient_id,
            name=patient.name,
            pinyin=patient.pinyin,
            pinyin_initials=patient.pinyin_initials,
            sex=patient.sex,
            birth_date=patient.birth_date,
            age=age_text(patient.birth_date, today),
            phone=patient.phone,
            id_card=patients.masked_id_card(patient),
            created_at=as_utc(patient.created_at),
            updated_at=as_utc(patient.updated_at),
        )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_patient(
    body: patients.PatientCreate, principal: Registrar, session: SessionDep, ctx: ContextDep
) -> PatientPublic:
    """Register a patient. 409 when the patient number is taken, or with ``candidates``
    when similar patients exist (resubmit with ``confirm_duplicate: true``); 400 for a
    bad identity-card number, phone or name."""
    try:
        patient = patients.create_patient(
            session=session, secret=ctx.secret, actor=principal.actor, data=body
        )
    except patients.PossibleDuplicates as exc:
        _audit_candidates(session, principal, exc)
        raise
    session.commit()
    return PatientPublic.of(patient, _today(ctx))


@router.get("")
def search_patients(
    principal: Reader,
    session: SessionDep,
    ctx: ContextDep,
    q: Annotated[str | None, Query(description="姓名/拼音/首字母/病历号/电话/身份证号")] = None,
    patient_id: str | None = None,
    name: Annotated[str | None, Query(description="name prefix")] = None,
    pinyin: Annotated[str | None, Query(description="pinyin prefix, e.g. zhangs")] = None,
    initials: Annotated[str | None, Query(description="initials prefix, e.g. zs")] = None,
    phone: str | None = None,
    id_card: str | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[PatientPublic]:
    """Patients matching every given criterion (400 when none is given). Each patient
    returned is audited as read."""
    rows, total = patients.search_patients(
        session=session,
        secret=ctx.secret,
        q=q,
        patient_id=patient_id,
        name=name,
        pinyin=pinyin,
        initials=initials,
        phone=phone,
        id_card=id_card,
        offset=offset,
        limit=limit,
    )
    today = _today(ctx)
    page = Page[PatientPublic](data=[PatientPublic.of(p, today) for p in rows], count=total)
    audit.record_reads(
        session,
        principal.actor,
        resource="patient",
        patient_ids=[p.patient_id for p in page.data],
        detail="search",
    )
    session.commit()
    return page


@router.get("/{patient_id}")
def get_patient(
    patient_id: str, principal: Reader, session: SessionDep, ctx: ContextDep
) -> PatientPublic:
    """One patient (404 when unknown), audited as read."""
    patient = patients.get_patient(session=session, patient_id=patient_id)
    view = PatientPublic.of(patient, _today(ctx))
    audit.record(
        session,
        principal.actor,
        action="read",
        resource="patient",
        resource_id=patient.patient_id,
        patient_id=patient.patient_id,
    )
    session.commit()
    return view


@router.patch("/{patient_id}")
def update_patient(
    patient_id: str,
    body: patients.PatientUpdate,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
) -> PatientPublic:
    """Change the given fields (audited with what changed). Open orders follow a change of
    name, sex or birth date on the worklists. 409 with ``candidates`` as on create."""
    try:
        patient, campuses = patients.update_patient(
            session=session,
            secret=ctx.secret,
            actor=principal.actor,
            patient_id=patient_id,
            data=body,
        )
    except patients.PossibleDuplicates as exc:
        _audit_candidates(session, principal, exc)
        raise
    session.commit()
    for campus in sorted(campuses):
        ctx.notifier.changed(campus)
    return PatientPublic.of(patient, _today(ctx))


def _audit_candidates(
    session: Session, principal: Principal, exc: patients.PossibleDuplicates
) -> None:
    """The candidates of a duplicate warning are patients shown: audit them (the
    refused write itself is rolled back)."""
    session.rollback()
    audit.record_reads(
        session,
        principal.actor,
        resource="patient",
        patient_ids=exc.patient_ids,
        detail="duplicate warning",
    )
    session.commit()


def _today(ctx: HubContext) -> date:
    return local_day(utcnow(), ctx.settings.zone)
