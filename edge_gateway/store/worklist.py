"""The campus's scheduled procedure steps: adding them, matching worklist queries,
and moving their status (from MPPS).

Steps come from ``pacs-edge worklist add`` and the demo today, and from the hub's
orders once the sync exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import CursorResult, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from edge_gateway.store.matching import pn_match, range_match, text_match, uid_match
from edge_gateway.store.models import ScheduledStep, StepStatus
from shared.dicom.charset import name_groups
from shared.dicom.uid import UidFactory

_STEP = ScheduledStep.__table__  # type: ignore[attr-defined]
_MODALITY_RE = re.compile(r"^[A-Z]{2,3}$")


class StepIn(BaseModel):
    """A scheduled procedure step to add; validated with sentences an operator can act on."""

    model_config = ConfigDict(str_strip_whitespace=True, frozen=True)

    patient_id: str = Field(min_length=1, max_length=64)
    patient_name: str = Field(min_length=1, max_length=64)
    modality: str
    accession: str = Field(min_length=1, max_length=16)
    station_ae: str = Field(default="", max_length=16)
    scheduled: datetime
    procedure: str = Field(default="", max_length=64)
    birth_date: str = ""
    sex: str = ""
    sps_id: str = ""
    requested_procedure_id: str = ""
    study_uid: str = ""
    station_name: str = ""
    performing_physician: str = ""
    referring_physician: str = ""
    source: str = "local"

    @field_validator("modality")
    @classmethod
    def _modality(cls, value: str) -> str:
        value = value.strip().upper()
        if not _MODALITY_RE.match(value):
            raise ValueError(f"modality {value!r} must be a DICOM modality code such as CT, MR, DX")
        return value

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: str) -> str:
        value = value.replace("-", "")
        if value and not re.fullmatch(r"\d{8}", value):
            raise ValueError("birth date must be YYYY-MM-DD or YYYYMMDD")
        return value

    @field_validator("sex")
    @classmethod
    def _sex(cls, value: str) -> str:
        value = value.upper()
        if value not in ("", "M", "F", "O"):
            raise ValueError("sex must be M, F or O")
        return value


class DuplicateStep(ValueError):
    """A step with the same accession number and step id exists already."""


def add_step(engine: Engine, step: StepIn, uids: UidFactory) -> int:
    """Add a scheduled step; return its row id. Raises ``DuplicateStep``."""
    now = datetime.now(UTC)
    alpha, ideo, _ = name_groups(step.patient_name)
    values = {
        "accession": step.accession,
        "sps_id": step.sps_id or step.accession,
        "requested_procedure_id": step.requested_procedure_id or step.accession,
        "requested_procedure_description": step.procedure,
        "study_uid": step.study_uid or uids.new(),
        "patient_id": step.patient_id,
        "patient_name": step.patient_name,
        "name_alpha": alpha,
        "name_ideo": ideo,
        "birth_date": step.birth_date,
        "sex": step.sex,
        "modality": step.modality,
        "station_ae": step.station_ae,
        "station_name": step.station_name,
        "start_date": step.scheduled.strftime("%Y%m%d"),
        "start_time": step.scheduled.strftime("%H%M%S"),
        "sps_description": step.procedure,
        "performing_physician": step.performing_physician,
        "referring_physician": step.referring_physician,
        "status": StepStatus.SCHEDULED,
        "source": step.source,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with engine.begin() as conn:
            result = conn.execute(insert(_STEP).values(**values))
    except IntegrityError as exc:
        raise DuplicateStep(
            f"accession {step.accession} step {values['sps_id']} is already on the worklist"
        ) from exc
    return _pk(result)


# The attributes of a worklist item, by keyword → (its scheduled_step column, how a query
# key matches it; "" where a query key is not matched, only answered)
TOP_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "PatientName": ("patient_name", "pn"),
    "PatientID": ("patient_id", "text"),
    "PatientBirthDate": ("birth_date", "date"),
    "PatientSex": ("sex", "text"),
    "AccessionNumber": ("accession", "text"),
    "ReferringPhysicianName": ("referring_physician", ""),
    "StudyInstanceUID": ("study_uid", "uid"),
    "RequestedProcedureID": ("requested_procedure_id", "text"),
    "RequestedProcedureDescription": ("requested_procedure_description", ""),
}
STEP_ATTRIBUTES: dict[str, tuple[str, str]] = {  # in the Scheduled Procedure Step item
    "Modality": ("modality", "text"),
    "ScheduledStationAETitle": ("station_ae", "text"),
    "ScheduledStationName": ("station_name", "text"),
    "ScheduledProcedureStepStartDate": ("start_date", "date"),
    "ScheduledProcedureStepStartTime": ("start_time", "time"),
    "ScheduledPerformingPhysicianName": ("performing_physician", "pn"),
    "ScheduledProcedureStepDescription": ("sps_description", ""),
    "ScheduledProcedureStepID": ("sps_id", "text"),
    "ScheduledProcedureStepStatus": ("status", "text"),
}
_OPEN = (StepStatus.SCHEDULED.value, StepStatus.IN_PROGRESS.value)


def find_steps(
    engine: Engine, top: Mapping[str, str], sps: Mapping[str, str], limit: int
) -> list[dict[str, Any]]:
    """Match worklist keys; return step rows (column name → value).

    Completed and discontinued steps are left out unless the query asks for a
    Scheduled Procedure Step Status explicitly.
    """
    stmt = select(_STEP)
    for keys, table in ((top, TOP_ATTRIBUTES), (sps, STEP_ATTRIBUTES)):
        for keyword, value in keys.items():
            name, kind = table.get(keyword, ("", ""))
            if not kind or not value.strip():
                continue
            column = _STEP.c[name]
            if kind == "pn":
                extra = [_STEP.c.name_alpha, _STEP.c.name_ideo] if keyword == "PatientName" else []
                stmt = stmt.where(pn_match([column, *extra], value))
            elif kind == "uid":
                stmt = stmt.where(uid_match(column, value))
            elif kind == "date":
                stmt = stmt.where(range_match(column, value, 8))
            elif kind == "time":
                stmt = stmt.where(range_match(column, value, 6))
            else:
                stmt = stmt.where(text_match(column, value))
    if not sps.get("ScheduledProcedureStepStatus", "").strip():
        stmt = stmt.where(_STEP.c.status.in_(_OPEN))
    stmt = stmt.order_by(_STEP.c.start_date, _STEP.c.start_time).limit(limit)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]


def find_step_for(
    engine: Engine, *, accession: str, sps_id: str, study_uid: str
) -> dict[str, Any] | None:
    """The scheduled step an MPPS refers to: by accession + step id, else by study UID."""
    with engine.connect() as conn:
        if accession:
            stmt = select(_STEP).where(_STEP.c.accession == accession)
            if sps_id:
                stmt = stmt.where(_STEP.c.sps_id == sps_id)
            row = conn.execute(stmt.limit(1)).mappings().first()
            if row is not None:
                return dict(row)
        if study_uid:
            row = (
                conn.execute(select(_STEP).where(_STEP.c.study_uid == study_uid).limit(1))
                .mappings()
                .first()
            )
            if row is not None:
                return dict(row)
    return None


def _pk(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
