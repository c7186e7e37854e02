"""WADO-RS retrieve (PS3.18 §10.4): which held instances a study, series or instance
request names, for a person of some campuses.

A study is found only in the caller's campuses (another campus's study is "not
found", as in ``archive_query``). Only instances the hub holds (their file is in the
archive) are retrieved; instances an edge announced but has not sent yet are not, and
the answer says how many are missing (206 Partial Content).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from hub.models.archive import ArchiveInstance, ArchiveSeries, ArchiveStudy, InstanceState
from hub.services.errors import NotFound


@dataclass(frozen=True)
class StoredInstance:
    """One held instance: where its file is (under the archive root) and how it is encoded."""

    sop_uid: str
    transfer_syntax: str
    rel_path: str


@dataclass(frozen=True)
class Retrieval:
    """What one retrieve request names, in series and instance order."""

    study_uid: str
    patient_id: str
    series_uid: str | None
    sop_uid: str | None
    instances: list[StoredInstance]
    not_yet_held: int = 0
    """Instances of the request the hub knows of (an edge announced them) but does not
    hold yet: the answer is partial."""


def find_retrieval(
    *,
    session: Session,
    campuses: Sequence[str],
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> Retrieval:
    """The held instances of a study (or one of its series, or one instance of that
    series) of ``campuses``. Raises :class:`NotFound` (404) naming what is unknown, or
    saying the hub holds none of its images yet."""
    study = session.exec(
        select(ArchiveStudy).where(
            ArchiveStudy.study_uid == study_uid, col(ArchiveStudy.campus).in_(list(campuses))
        )
    ).first()
    if study is None or study.id is None:
        raise NotFound(
            f"影像检查 {study_uid} 不存在或不在您的院区 / no study {study_uid} in your campuses"
        )
    stmt = (
        select(
            ArchiveInstance.sop_uid,
            ArchiveInstance.transfer_syntax,
            ArchiveInstance.rel_path,
            ArchiveInstance.state,
        )
        .join(ArchiveSeries, col(ArchiveSeries.id) == col(ArchiveInstance.series_pk))
        .where(ArchiveInstance.study_pk == study.id)
    )
    if series_uid is not None:
        series = session.exec(
            select(ArchiveSeries.id).where(
                ArchiveSeries.series_uid == series_uid, ArchiveSeries.study_pk == study.id
            )
        ).first()
        if series is None:
            raise NotFound(
                f"检查 {study_uid} 中没有序列 {series_uid} / "
                f"study {study_uid} has no series {series_uid}"
            )
        stmt = stmt.where(ArchiveInstance.series_pk == series)
    if sop_uid is not None:
        stmt = stmt.where(ArchiveInstance.sop_uid == sop_uid)
    rows = session.exec(
        stmt.order_by(
            col(ArchiveSeries.series_number),
            col(ArchiveSeries.id),
            col(ArchiveInstance.instance_number),
            col(ArchiveInstance.id),
        )
    ).all()
    if sop_uid is not None and not rows:
        raise NotFound(
            f"序列 {series_uid} 中没有图像 {sop_uid} / "
            f"series {series_uid} has no instance {sop_uid}"
        )
    held = [
        StoredInstance(sop_uid=sop, transfer_syntax=syntax, rel_path=path)
        for sop, syntax, path, state in rows
        if state == InstanceState.HELD.value and path
    ]
    if not held:
        what = sop_uid or series_uid or study_uid
        raise NotFound(
            f"中心服务器尚未收到 {what} 的图像（院区网关尚未上传），请稍后再试 / "
            f"the hub holds no images of {what} yet (the campus gateway has not sent them): "
            "try again later"
        )
    return Retrieval(
        study_uid=study_uid,
        patient_id=study.patient_id,
        series_uid=series_uid,
        sop_uid=sop_uid,
        instances=held,
        not_yet_held=len(rows) - len(held),
    )
