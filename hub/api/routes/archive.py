"""The hub's archive for people: studies by accession or patient, studies awaiting
reconciliation (no matching order), and matching one to its order by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from hub.api.deps import Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.security.roles import ARCHIVE_READERS, Role
from hub.services import audit
from hub.services.archive_query import (
    OrderNotFound,
    PatientMismatch,
    StudyNotFound,
    StudySummary,
    find_studies,
    list_unmatched,
    match_study,
)

router = APIRouter(prefix="/archive", tags=["archive"])

Reconciler = Annotated[Principal, Depends(RequireRoles(Role.IT_ADMIN, Role.REGISTRAR))]
Reader = Annotated[Principal, Depends(RequireRoles(*ARCHIVE_READERS))]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


class ArchiveStudyPublic(BaseModel):
    study_uid: str
    campus: str
    accession: str
    """As the images carry it."""
    order_accession: str | None
    """The order the study is matched to (None: awaiting reconciliation)."""
    order_status: str | None
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    study_description: str
    modalities: list[str]
    num_series: int
    num_instances: int
    """Instances the hub holds."""
    num_announced: int
    """Instances an edge reported that have not reached the hub yet."""
    size_bytes: int
    updated_at: datetime

    @classmethod
    def of(cls, s: StudySummary) -> ArchiveStudyPublic:
        st = s.study
        return cls(
            study_uid=st.study_uid,
            campus=st.campus,
            accession=st.accession,
            order_accession=s.order_accession,
            order_status=s.order_status,
            patient_id=st.patient_id,
            patient_name=st.patient_name,
            birth_date=st.birth_date,
            sex=st.sex,
            study_date=st.study_date,
            study_time=st.study_time,
            study_description=st.study_description,
            modalities=s.modalities,
            num_series=s.num_series,
            num_instances=st.num_instances,
            num_announced=s.num_announced,
            size_bytes=st.size_bytes,
            updated_at=st.updated_at,
        )


class MatchRequest(BaseModel):
    accession: str = Field(min_length=1, max_length=16)
    confirm_patient_mismatch: bool = False
    """Match although the study's patient ID differs from the order's patient's (the
    correction of wrong patient data entered at the modality)."""


def _campuses(principal: Principal, campus: str | None) -> list[str]:
    if campus is None:
        return principal.user.campus_list
    principal.require_campus(campus)
    return [campus]


def _shown(session: SessionDep, principal: Principal, rows: list[StudySummary], what: str) -> None:
    audit.record_reads(
        session,
        principal.actor,
        resource="archive_study",
        patient_ids=[s.study.patient_id for s in rows if s.study.patient_id],
        detail=what,
    )
    session.commit()


@router.get("/unmatched")
def unmatched(
    principal: Reconciler,
    session: SessionDep,
    campus: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ArchiveStudyPublic]:
    """Studies held with no matching order, of ``campus`` (default: all of the
    person's campuses), most recently changed first."""
    rows, total = list_unmatched(
        session=session, campuses=_campuses(principal, campus), offset=offset, limit=limit
    )
    data = [ArchiveStudyPublic.of(r) for r in rows]  # before the commit expires the rows
    _shown(session, principal, rows, "unmatched studies")
    return Page(data=data, count=total)


@router.get("/studies")
def studies(
    principal: Reader,
    session: SessionDep,
    accession: str | None = None,
    patient_id: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ArchiveStudyPublic]:
    """Studies of the person's campuses with that accession number and/or patient ID."""
    if not accession and not patient_id:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "请输入检查号或病历号 / give an accession number or a patient ID",
        )
    rows, total = find_studies(
        session=session,
        campuses=principal.user.campus_list,
        accession=accession,
        patient_id=patient_id,
        offset=offset,
        limit=limit,
    )
    data = [ArchiveStudyPublic.of(r) for r in rows]
    _shown(session, principal, rows, f"accession={accession or ''} patient_id={patient_id or ''}")
    return Page(data=data, count=total)


@router.post("/studies/{study_uid}/match")
def match(
    study_uid: str, body: MatchRequest, principal: Reconciler, session: SessionDep
) -> ArchiveStudyPublic:
    """Match a study to the order with ``accession`` by hand (both in the person's
    campuses); the study takes the order's campus. 404 when either is unknown."""
    try:
        summary, before, old_campus = match_study(
            session=session,
            study_uid=study_uid,
            accession=body.accession,
            campuses=principal.user.campus_list,
            confirm_patient_mismatch=body.confirm_patient_mismatch,
        )
    except (StudyNotFound, OrderNotFound) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except PatientMismatch as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    answer = ArchiveStudyPublic.of(summary)
    audit.record(
        session,
        principal.actor,
        action="update",
        resource="archive_study",
        resource_id=study_uid,
        patient_id=summary.study.patient_id or None,
        detail={
            "match": body.accession,
            "patient_mismatch_confirmed": body.confirm_patient_mismatch,
            "previous_order_pk": before,
            "campus": [old_campus, summary.study.campus],
        },
    )
    session.commit()
    return answer
