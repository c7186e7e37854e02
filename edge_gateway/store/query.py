"""Query/Retrieve searches over the index, at PATIENT, STUDY, SERIES or IMAGE level.

The DICOM layer passes the matching keys of a C-FIND identifier as
``{keyword: value}`` (text as sent, already decoded) and gets rows back as
``{keyword: value}`` dicts, plus the archive path of each instance for retrievals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, select
from sqlalchemy.sql.elements import ColumnElement as _Col

from edge_gateway.store.matching import pn_match, range_match, text_match, uid_match
from edge_gateway.store.models import Instance, Patient, Series, Study

_P = Patient.__table__  # type: ignore[attr-defined]
_ST = Study.__table__  # type: ignore[attr-defined]
_SE = Series.__table__  # type: ignore[attr-defined]
_I = Instance.__table__  # type: ignore[attr-defined]


class Level(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


_ORDER = [Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE]


class Kind(StrEnum):
    TEXT = "text"
    PN = "pn"
    DATE = "date"
    TIME = "time"
    UID = "uid"
    INT = "int"
    MODALITIES = "modalities"
    COMPUTED = "computed"


@dataclass(frozen=True)
class Attribute:
    level: Level
    kind: Kind
    column: Any = None
    extra: tuple[Any, ...] = ()


ATTRIBUTES: dict[str, Attribute] = {
    "PatientID": Attribute(Level.PATIENT, Kind.TEXT, _P.c.patient_id),
    "PatientName": Attribute(
        Level.PATIENT, Kind.PN, _P.c.patient_name, (_P.c.name_alpha, _P.c.name_ideo)
    ),
    "PatientBirthDate": Attribute(Level.PATIENT, Kind.DATE, _P.c.birth_date),
    "PatientSex": Attribute(Level.PATIENT, Kind.TEXT, _P.c.sex),
    "NumberOfPatientRelatedStudies": Attribute(Level.PATIENT, Kind.COMPUTED),
    "NumberOfPatientRelatedSeries": Attribute(Level.PATIENT, Kind.COMPUTED),
    "NumberOfPatientRelatedInstances": Attribute(Level.PATIENT, Kind.COMPUTED),
    "StudyInstanceUID": Attribute(Level.STUDY, Kind.UID, _ST.c.study_uid),
    "StudyDate": Attribute(Level.STUDY, Kind.DATE, _ST.c.study_date),
    "StudyTime": Attribute(Level.STUDY, Kind.TIME, _ST.c.study_time),
    "AccessionNumber": Attribute(Level.STUDY, Kind.TEXT, _ST.c.accession),
    "StudyID": Attribute(Level.STUDY, Kind.TEXT, _ST.c.study_id),
    "StudyDescription": Attribute(Level.STUDY, Kind.TEXT, _ST.c.description),
    "ReferringPhysicianName": Attribute(Level.STUDY, Kind.PN, _ST.c.referring_physician),
    "ModalitiesInStudy": Attribute(Level.STUDY, Kind.MODALITIES, _ST.c.modalities),
    "NumberOfStudyRelatedSeries": Attribute(Level.STUDY, Kind.INT, _ST.c.num_series),
    "NumberOfStudyRelatedInstances": Attribute(Level.STUDY, Kind.INT, _ST.c.num_instances),
    "SeriesInstanceUID": Attribute(Level.SERIES, Kind.UID, _SE.c.series_uid),
    "Modality": Attribute(Level.SERIES, Kind.TEXT, _SE.c.modality),
    "SeriesNumber": Attribute(Level.SERIES, Kind.INT, _SE.c.series_number),
    "SeriesDescription": Attribute(Level.SERIES, Kind.TEXT, _SE.c.description),
    "BodyPartExamined": Attribute(Level.SERIES, Kind.TEXT, _SE.c.body_part),
    "NumberOfSeriesRelatedInstances": Attribute(Level.SERIES, Kind.INT, _SE.c.num_instances),
    "SOPInstanceUID": Attribute(Level.IMAGE, Kind.UID, _I.c.sop_uid),
    "SOPClassUID": Attribute(Level.IMAGE, Kind.UID, _I.c.sop_class_uid),
    "InstanceNumber": Attribute(Level.IMAGE, Kind.INT, _I.c.instance_number),
}

_PATIENT_COUNTS = {
    "NumberOfPatientRelatedStudies": func.count(_ST.c.id),
    "NumberOfPatientRelatedSeries": func.coalesce(func.sum(_ST.c.num_series), 0),
    "NumberOfPatientRelatedInstances": func.coalesce(func.sum(_ST.c.num_instances), 0),
}


class QueryError(ValueError):
    """The identifier cannot be matched (e.g. a key of a level below the query level)."""


def level_index(level: Level) -> int:
    return _ORDER.index(level)


def attributes_for(level: Level) -> list[str]:
    """Keywords that can be returned at ``level`` (its own and higher levels)."""
    top = level_index(level)
    return [k for k, a in ATTRIBUTES.items() if level_index(a.level) <= top]


def _condition(attr: Attribute, value: str) -> ColumnElement[bool] | None:
    value = value.strip()
    if value == "" or attr.kind is Kind.COMPUTED:
        return None
    column: _Col[Any] = attr.column
    if attr.kind is Kind.PN:
        return pn_match([column, *attr.extra], value)
    if attr.kind is Kind.UID:
        return uid_match(column, value)
    if attr.kind is Kind.DATE:
        return range_match(column, value.replace(".", ""), 8)
    if attr.kind is Kind.TIME:
        return range_match(column, value, 6)
    if attr.kind is Kind.INT:
        try:
            return column == int(value)
        except ValueError as exc:
            raise QueryError(f"{value!r} is not a number") from exc
    if attr.kind is Kind.MODALITIES:
        wanted = [m.strip() for m in value.split("\\") if m.strip()]
        return (
            select(_SE.c.id).where(_SE.c.study_pk == _ST.c.id, _SE.c.modality.in_(wanted)).exists()
        )
    return text_match(column, value)


def build_query(level: Level, keys: Mapping[str, str], limit: int) -> Select[Any]:
    """Build the SELECT for a C-FIND at ``level`` with matching ``keys``.

    Keys of levels below ``level`` raise ``QueryError``; unknown keys are ignored
    (they are returned empty, as PS3.4 allows).
    """
    top = level_index(level)
    for keyword in keys:
        attr = ATTRIBUTES.get(keyword)
        if attr is not None and level_index(attr.level) > top and keys[keyword].strip():
            raise QueryError(f"{keyword} cannot be matched at {level} level")
    returned = attributes_for(level)
    columns: list[Any] = []
    for keyword in returned:
        attr = ATTRIBUTES[keyword]
        if attr.kind is not Kind.COMPUTED:
            columns.append(attr.column.label(keyword))
    if level is Level.PATIENT:
        columns.extend(expr.label(k) for k, expr in _PATIENT_COUNTS.items())
        stmt = select(*columns).select_from(_P.outerjoin(_ST, _ST.c.patient_pk == _P.c.id))
        stmt = stmt.group_by(_P.c.id).order_by(_P.c.patient_name, _P.c.patient_id)
    elif level is Level.STUDY:
        stmt = select(*columns).select_from(_ST.join(_P, _P.c.id == _ST.c.patient_pk))
        stmt = stmt.order_by(_ST.c.study_date.desc(), _ST.c.study_time.desc())
    elif level is Level.SERIES:
        stmt = select(*columns).select_from(
            _SE.join(_ST, _ST.c.id == _SE.c.study_pk).join(_P, _P.c.id == _ST.c.patient_pk)
        )
        stmt = stmt.order_by(_SE.c.series_number)
    else:
        columns.append(_I.c.rel_path.label("_rel_path"))
        columns.append(_I.c.transfer_syntax.label("_transfer_syntax"))
        stmt = select(*columns).select_from(
            _I.join(_SE, _SE.c.id == _I.c.series_pk)
            .join(_ST, _ST.c.id == _I.c.study_pk)
            .join(_P, _P.c.id == _ST.c.patient_pk)
        )
        stmt = stmt.order_by(_I.c.instance_number)
    for keyword, value in keys.items():
        attr = ATTRIBUTES.get(keyword)
        if attr is None:
            continue
        condition = _condition(attr, value)
        if condition is not None:
            stmt = stmt.where(condition)
    return stmt.limit(limit)


def find(
    engine: Engine, level: Level, keys: Mapping[str, str], limit: int
) -> Iterator[dict[str, Any]]:
    """Run a C-FIND search; yield one dict per match (keyword → value)."""
    stmt = build_query(level, keys, limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    for row in rows:
        yield dict(row)


@dataclass(frozen=True)
class StoredInstance:
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    rel_path: str


def instances_for(
    engine: Engine, level: Level, keys: Mapping[str, str], limit: int
) -> list[StoredInstance]:
    """Every archived instance below the entities matched by ``keys`` at ``level``
    (for C-MOVE and C-GET)."""
    if not any(v.strip() for v in keys.values()):
        raise QueryError("a retrieve needs at least one unique key (e.g. StudyInstanceUID)")
    build_query(level, keys, limit)  # validates the keys against the requested level
    stmt = build_query(Level.IMAGE, keys, limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        StoredInstance(
            sop_uid=row["SOPInstanceUID"],
            sop_class_uid=row["SOPClassUID"],
            transfer_syntax=row["_transfer_syntax"],
            rel_path=row["_rel_path"],
        )
        for row in rows
    ]
