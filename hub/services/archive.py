"""The archive index: studies, series and instances as the hub knows them, and the
matching of studies to orders.

Writers are the edges' events (instances *announced*: :func:`announce`) and STOW-RS
(instances *held*: :func:`record_held`). Both run inside the caller's transaction and
settle races on the unique UIDs with ``INSERT … ON CONFLICT`` (see ``upsert``).

A study is matched to the order of its campus with the same accession number, else to
the order whose Study Instance UID it carries (a modality that took it from the
worklist); otherwise ``order_pk`` stays NULL and the study is listed for
reconciliation by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.models.archive import ArchiveInstance, ArchiveSeries, ArchiveStudy, InstanceState
from hub.models.registration import Order, Patient
from hub.services.upsert import clip_row, insert_ignore, table_of
from shared.dicom.instance import STUDY_FIELDS, InstanceMeta

_STUDY = table_of(ArchiveStudy)
_SERIES = table_of(ArchiveSeries)
_INSTANCE = table_of(ArchiveInstance)


@dataclass(frozen=True)
class StudyRef:
    pk: int
    campus: str


def ensure_studies(
    session: Session,
    metas: Iterable[InstanceMeta],
    *,
    campus: str,
    now: datetime,
    campus_by_study: Mapping[str, str] | None = None,
) -> dict[str, StudyRef]:
    """Study rows for the studies of ``metas``: created when new (campus from
    ``campus_by_study``, else ``campus``), and matched to orders when they have none;
    existing ones keep their data. Returns study UID → (primary key, campus)."""
    rows: dict[str, dict[str, Any]] = {}
    for m in metas:
        if m.study_uid not in rows:
            row = {k: getattr(m, k) for k in STUDY_FIELDS}
            where = (campus_by_study or {}).get(m.study_uid, campus)
            row.update(study_uid=m.study_uid, campus=where, created_at=now, updated_at=now)
            rows[m.study_uid] = clip_row(_STUDY, row)
    if not rows:
        return {}
    insert_ignore(session, _STUDY, list(rows.values()), keys=["study_uid"])
    found = session.exec(
        select(ArchiveStudy.study_uid, ArchiveStudy.id, ArchiveStudy.campus).where(
            col(ArchiveStudy.study_uid).in_(list(rows))
        )
    ).all()
    refs = {uid: StudyRef(int(pk), where) for uid, pk, where in found if pk is not None}
    # new studies, and older ones whose order may have been registered since
    match_unmatched(session, [r.pk for r in refs.values()])
    return refs


def order_campuses(session: Session, accessions: Iterable[str]) -> dict[str, str]:
    """Accession number → campus of the orders that exist among ``accessions``."""
    wanted = [a for a in set(accessions) if a]
    if not wanted:
        return {}
    rows = session.exec(
        select(Order.accession, Order.campus).where(col(Order.accession).in_(wanted))
    ).all()
    return dict(rows)


def ensure_series(
    session: Session, metas: Iterable[InstanceMeta], studies: Mapping[str, StudyRef]
) -> dict[str, int]:
    """Series rows for the series of ``metas``; returns series UID → primary key."""
    rows: dict[str, dict[str, Any]] = {}
    for m in metas:
        if m.series_uid not in rows:
            rows[m.series_uid] = clip_row(
                _SERIES,
                {
                    "series_uid": m.series_uid,
                    "study_pk": studies[m.study_uid].pk,
                    "modality": m.modality,
                    "series_number": m.series_number,
                    "series_description": m.series_description,
                    "body_part": m.body_part,
                },
            )
    if not rows:
        return {}
    insert_ignore(session, _SERIES, list(rows.values()), keys=["series_uid"])
    found = session.exec(
        select(ArchiveSeries.series_uid, ArchiveSeries.id).where(
            col(ArchiveSeries.series_uid).in_(list(rows))
        )
    ).all()
    return {uid: int(pk) for uid, pk in found if pk is not None}


def match_unmatched(session: Session, study_pks: Sequence[int]) -> int:
    """Link those of ``study_pks`` that have no order yet to the order of their campus
    with their accession number (else their Study Instance UID), when the study's patient
    ID is that of the order's patient. A study whose patient differs is left for
    reconciliation by a person (wrong patient data at the modality). Returns how many
    were linked."""
    studies = session.exec(
        select(ArchiveStudy).where(
            col(ArchiveStudy.id).in_(list(study_pks)), col(ArchiveStudy.order_pk).is_(None)
        )
    ).all()
    if not studies:
        return 0
    accessions = {s.accession for s in studies if s.accession}
    uids = {s.study_uid for s in studies}
    orders = session.execute(
        sa_select(
            col(Order.id),
            col(Order.accession),
            col(Order.study_uid),
            col(Order.campus),
            col(Patient.patient_id),
        )
        .join(Patient, col(Patient.id) == col(Order.patient_pk))
        .where(col(Order.accession).in_(accessions) | col(Order.study_uid).in_(uids))
    ).all()
    by_accession = {(where, acc): (pk, pid) for pk, acc, _uid, where, pid in orders}
    by_uid = {(where, uid): (pk, pid) for pk, _acc, uid, where, pid in orders}
    matched = 0
    for study in studies:
        found = by_accession.get((study.campus, study.accession)) or by_uid.get(
            (study.campus, study.study_uid)
        )
        if found is not None and found[1] == study.patient_id:
            session.execute(update(_STUDY).where(_STUDY.c.id == study.id).values(order_pk=found[0]))
            matched += 1
    return matched


def announce(
    session: Session,
    items: Sequence[tuple[InstanceMeta, str, int]],
    *,
    campus: str,
    device_id: str,
    now: datetime,
) -> None:
    """Record instances an edge reports it holds: (meta, its sha256, its size). New
    instances are added as ``announced``; known ones get the announced hash only."""
    if not items:
        return
    metas = [m for m, _, _ in items]
    studies = ensure_studies(session, metas, campus=campus, now=now)
    series_pks = ensure_series(session, metas, studies)
    rows: dict[str, dict[str, Any]] = {}
    for m, sha, size in items:
        rows[m.sop_uid] = clip_row(
            _INSTANCE,
            {
                "sop_uid": m.sop_uid,
                "series_pk": series_pks[m.series_uid],
                "study_pk": studies[m.study_uid].pk,
                "sop_class_uid": m.sop_class_uid,
                "instance_number": m.instance_number,
                "transfer_syntax": m.transfer_syntax,
                "state": InstanceState.ANNOUNCED.value,
                "size_bytes": size,
                "announced_sha256": sha,
                "campus": campus,
                "source": f"device:{device_id}",
                "source_device": device_id,
                "announced_at": now,
            },
        )
    new = set(
        insert_ignore(
            session, _INSTANCE, list(rows.values()), keys=["sop_uid"], returning="sop_uid"
        )
    )
    known = [
        {"sop": sop, "sha": r["announced_sha256"], "at": now}
        for sop, r in rows.items()
        if sop not in new
    ]
    if known:
        set_announced_hashes(session, known)


def set_announced_hashes(session: Session, items: Sequence[Mapping[str, Any]]) -> None:
    """Set ``announced_sha256`` of known instances: items ``{"sop", "sha", "at"}``."""
    stmt = (
        update(_INSTANCE)
        .where(_INSTANCE.c.sop_uid == bindparam("sop"))
        .values(announced_sha256=bindparam("sha"), announced_at=bindparam("at"))
    )
    session.connection().execute(stmt, list(items))


@dataclass(frozen=True)
class Held:
    """A held instance's file, as :func:`record_held` writes it."""

    sha256: str
    size: int
    rel_path: str
    campus: str
    source: str
    source_device: str | None


def current_instances(session: Session, sop_uids: Iterable[str]) -> dict[str, ArchiveInstance]:
    """The index rows of ``sop_uids`` that exist (announced or held)."""
    uids = list(sop_uids)
    if not uids:
        return {}
    rows = session.exec(select(ArchiveInstance).where(col(ArchiveInstance.sop_uid).in_(uids)))
    return {r.sop_uid: r for r in rows}


@dataclass(frozen=True)
class HeldInstance:
    """One instance whose file was just placed, for :func:`record_held`."""

    meta: InstanceMeta
    held: Held
    study_pk: int
    series_pk: int
    previous: ArchiveInstance | None
    """Its index row before (announced or held), None when new."""


def record_held(session: Session, items: Sequence[HeldInstance], *, now: datetime) -> list[Delta]:
    """Write the index rows of held instances (new ones in one statement, known ones
    updated); return the counter changes for :func:`apply_deltas`. Raises
    ``IntegrityError`` when another writer inserted one of them meanwhile (the caller
    retries)."""
    new_rows: list[dict[str, Any]] = []
    deltas: list[Delta] = []
    for item in items:
        values = _held_values(item, now)
        prev = item.previous
        if prev is None:
            new_rows.append({"sop_uid": item.meta.sop_uid, **values})
        else:
            session.connection().execute(
                update(_INSTANCE).where(_INSTANCE.c.id == prev.id).values(**values)
            )
        deltas.append(Delta(item.study_pk, item.series_pk, 1, item.held.size))
        if prev is not None and prev.state == InstanceState.HELD.value:
            # the older bytes no longer count (wherever the older header put them)
            deltas.append(Delta(prev.study_pk, prev.series_pk, -1, -prev.size_bytes))
    if new_rows:
        session.connection().execute(_INSTANCE.insert(), new_rows)
    return deltas


def _held_values(item: HeldInstance, now: datetime) -> dict[str, Any]:
    meta, held = item.meta, item.held
    return clip_row(
        _INSTANCE,
        {
            "series_pk": item.series_pk,
            "study_pk": item.study_pk,
            "sop_class_uid": meta.sop_class_uid,
            "instance_number": meta.instance_number,
            "transfer_syntax": meta.transfer_syntax,
            "state": InstanceState.HELD.value,
            "sha256": held.sha256,
            "size_bytes": held.size,
            "rel_path": held.rel_path,
            "campus": held.campus,
            "source": held.source,
            "source_device": held.source_device,
            "received_at": now,
        },
    )


@dataclass(frozen=True)
class Delta:
    """A change of the held-instance counters of one study and series."""

    study_pk: int
    series_pk: int
    count: int
    size: int


def apply_deltas(session: Session, deltas: Iterable[Delta], *, now: datetime) -> None:
    """Move the study and series counters by the sum of ``deltas`` (one UPDATE per
    study and per series touched)."""
    studies: dict[int, list[int]] = {}
    series: dict[int, int] = {}
    for d in deltas:
        total = studies.setdefault(d.study_pk, [0, 0])
        total[0] += d.count
        total[1] += d.size
        series[d.series_pk] = series.get(d.series_pk, 0) + d.count
    conn = session.connection()
    for pk, (count, size) in sorted(studies.items()):  # one lock order: no deadlock
        conn.execute(
            update(_STUDY)
            .where(_STUDY.c.id == pk)
            .values(
                num_instances=_STUDY.c.num_instances + count,
                size_bytes=_STUDY.c.size_bytes + size,
                updated_at=now,
            )
        )
    for pk, count in sorted(series.items()):
        if count:
            conn.execute(
                update(_SERIES)
                .where(_SERIES.c.id == pk)
                .values(num_instances=_SERIES.c.num_instances + count)
            )
