"""Reading the archive index for people, and reconciling a study with its order by hand.

Every function is campus-scoped by the caller's ``campuses``; the routes audit what is
shown (one read per patient) and the match (an update).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from hub.models.archive import ArchiveInstance, ArchiveSeries, ArchiveStudy, InstanceState
from hub.models.base import utcnow
from hub.models.registration import Order, Patient


class StudyNotFound(LookupError):
    """No such study in the caller's campuses; the message says what to do."""


class OrderNotFound(LookupError):
    """No order with that accession number in the caller's campuses."""


class PatientMismatch(ValueError):
    """The study's patient ID is not the order's patient's: matching them needs an
    explicit confirmation (it is the correction of wrong patient data at the modality)."""


@dataclass(frozen=True)
class StudySummary:
    study: ArchiveStudy
    order_accession: str | None
    order_status: str | None
    modalities: list[str]
    num_series: int
    num_announced: int
    """Instances an edge reported that the hub does not hold yet."""


def list_unmatched(
    *, session: Session, campuses: Sequence[str], offset: int, limit: int
) -> tuple[list[StudySummary], int]:
    """Studies with held instances and no order, of ``campuses``, newest first, and
    how many there are in all."""
    stmt = select(ArchiveStudy).where(
        col(ArchiveStudy.campus).in_(list(campuses)),
        col(ArchiveStudy.order_pk).is_(None),
        col(ArchiveStudy.num_instances) > 0,
    )
    return _page(session, stmt, offset, limit)


def find_studies(
    *,
    session: Session,
    campuses: Sequence[str],
    accession: str | None,
    patient_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[StudySummary], int]:
    """Studies of ``campuses`` with that accession number (of the images, or of the
    order they are matched to) and/or patient ID, newest first, and the total."""
    stmt = select(ArchiveStudy).where(col(ArchiveStudy.campus).in_(list(campuses)))
    if accession:
        matched = select(Order.id).where(Order.accession == accession)
        stmt = stmt.where(
            or_(col(ArchiveStudy.accession) == accession, col(ArchiveStudy.order_pk).in_(matched))
        )
    if patient_id:
        stmt = stmt.where(ArchiveStudy.patient_id == patient_id)
    return _page(session, stmt, offset, limit)


def match_study(
    *,
    session: Session,
    study_uid: str,
    accession: str,
    campuses: Sequence[str],
    confirm_patient_mismatch: bool = False,
) -> tuple[StudySummary, int | None, str]:
    """Link the study to the order with ``accession`` (both in ``campuses``); the study
    moves to the order's campus. Returns (the study, the order it had, its old campus);
    the caller audits and commits. Raises StudyNotFound / OrderNotFound, and
    PatientMismatch when the study's patient ID differs from the order's patient's
    unless ``confirm_patient_mismatch``."""
    study = session.exec(
        select(ArchiveStudy).where(
            ArchiveStudy.study_uid == study_uid, col(ArchiveStudy.campus).in_(list(campuses))
        )
    ).first()
    if study is None:
        raise StudyNotFound(
            f"影像检查 {study_uid} 不存在或不在您的院区 / no study {study_uid} in your campuses"
        )
    order = session.exec(
        select(Order).where(Order.accession == accession, col(Order.campus).in_(list(campuses)))
    ).first()
    if order is None:
        raise OrderNotFound(
            f"检查号 {accession} 不存在或不在您的院区，请核对 / "
            f"no order {accession} in your campuses: check the accession number"
        )
    patient = session.get(Patient, order.patient_pk)
    order_patient = patient.patient_id if patient is not None else ""
    if study.patient_id != order_patient and not confirm_patient_mismatch:
        raise PatientMismatch(
            f"影像的病历号 {study.patient_id or '（空）'} 与检查 {accession} 的患者 "
            f"{order_patient} 不一致；确认是同一人后请勾选确认再匹配 / the study's patient ID "
            f"{study.patient_id or '(empty)'} is not that of order {accession} "
            f"({order_patient}): confirm it is the same person to match anyway"
        )
    before, old_campus = study.order_pk, study.campus
    study.order_pk = order.id
    study.campus = order.campus
    study.updated_at = utcnow()
    session.add(study)
    session.flush()
    return _summaries(session, [study])[0], before, old_campus


def _page(
    session: Session, stmt: SelectOfScalar[ArchiveStudy], offset: int, limit: int
) -> tuple[list[StudySummary], int]:
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(
        stmt.order_by(col(ArchiveStudy.updated_at).desc(), col(ArchiveStudy.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return _summaries(session, list(rows)), int(total)


def _summaries(session: Session, studies: list[ArchiveStudy]) -> list[StudySummary]:
    ids = [s.id for s in studies if s.id is not None]
    if not ids:
        return []
    series: dict[int, list[str]] = {}
    for study_pk, modality in session.exec(
        select(ArchiveSeries.study_pk, ArchiveSeries.modality).where(
            col(ArchiveSeries.study_pk).in_(ids)
        )
    ):
        series.setdefault(study_pk, []).append(modality)
    announced = dict(
        session.exec(
            select(ArchiveInstance.study_pk, func.count())
            .where(
                col(ArchiveInstance.study_pk).in_(ids),
                ArchiveInstance.state == InstanceState.ANNOUNCED.value,
            )
            .group_by(col(ArchiveInstance.study_pk))
        ).all()
    )
    order_pks = [s.order_pk for s in studies if s.order_pk is not None]
    orders = {
        pk: (acc, status)
        for pk, acc, status in session.exec(
            select(Order.id, Order.accession, Order.status).where(col(Order.id).in_(order_pks))
        )
    }
    out: list[StudySummary] = []
    for s in studies:
        assert s.id is not None
        acc, status = orders.get(s.order_pk or -1, (None, None))
        mods = series.get(s.id, [])
        out.append(
            StudySummary(
                study=s,
                order_accession=acc,
                order_status=status,
                modalities=sorted({m for m in mods if m}),
                num_series=len(mods),
                num_announced=int(announced.get(s.id, 0)),
            )
        )
    return out
