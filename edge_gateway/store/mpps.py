"""Performed procedure steps (MPPS): recording N-CREATE and N-SET, moving the
scheduled step's status and writing the outbox event, in one transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from edge_gateway.store.models import PerformedStep, ScheduledStep, StepStatus
from edge_gateway.store.outbox import add_event
from edge_gateway.store.worklist import find_step_for

_PPS = PerformedStep.__table__  # type: ignore[attr-defined]
_STEP = ScheduledStep.__table__  # type: ignore[attr-defined]

IN_PROGRESS = "IN PROGRESS"
COMPLETED = "COMPLETED"
DISCONTINUED = "DISCONTINUED"
FINAL_STATES = (COMPLETED, DISCONTINUED)


class MppsOutcome(StrEnum):
    OK = "ok"
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"
    FINAL = "final"
    BAD_STATUS = "bad-status"


@dataclass(frozen=True)
class MppsCreate:
    sop_uid: str
    status: str
    accession: str
    sps_id: str
    study_uid: str
    patient_id: str
    modality: str
    station_ae: str
    source_ae: str
    attributes: dict[str, Any]


def create(engine: Engine, rec: MppsCreate) -> tuple[MppsOutcome, int | None]:
    """Record an N-CREATE. Returns (OK, scheduled step id or None when unscheduled),
    (DUPLICATE, None) when the SOP Instance exists, (BAD_STATUS, None) unless the
    status is IN PROGRESS."""
    if rec.status != IN_PROGRESS:
        return MppsOutcome.BAD_STATUS, None
    step = find_step_for(
        engine, accession=rec.accession, sps_id=rec.sps_id, study_uid=rec.study_uid
    )
    step_pk = int(step["id"]) if step else None
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(_PPS).values(
                    sop_uid=rec.sop_uid,
                    status=rec.status,
                    step_pk=step_pk,
                    accession=rec.accession,
                    study_uid=rec.study_uid,
                    patient_id=rec.patient_id,
                    modality=rec.modality,
                    station_ae=rec.station_ae,
                    source_ae=rec.source_ae,
                    attributes_json=json.dumps(rec.attributes, ensure_ascii=False),
                    created_at=now,
                    updated_at=now,
                )
            )
            if step_pk is not None:
                conn.execute(
                    update(_STEP)
                    .where(_STEP.c.id == step_pk)
                    .values(status=StepStatus.IN_PROGRESS, updated_at=now)
                )
            add_event(
                conn,
                kind="mpps.in_progress",
                subject=rec.sop_uid,
                payload={
                    "mpps_uid": rec.sop_uid,
                    "accession": rec.accession,
                    "sps_id": rec.sps_id,
                    "study_uid": rec.study_uid,
                    "patient_id": rec.patient_id,
                    "modality": rec.modality,
                    "station_ae": rec.station_ae,
                    "scheduled": step_pk is not None,
                    "at": now.isoformat(),
                },
            )
    except IntegrityError:
        return MppsOutcome.DUPLICATE, None
    return MppsOutcome.OK, step_pk


def set_status(
    engine: Engine, *, sop_uid: str, status: str | None, attributes: dict[str, Any]
) -> tuple[MppsOutcome, str]:
    """Apply an N-SET. Returns (outcome, resulting status).

    UNKNOWN when no such SOP Instance; FINAL when it is COMPLETED or DISCONTINUED
    already; BAD_STATUS for a status other than IN PROGRESS/COMPLETED/DISCONTINUED.
    """
    if status is not None and status not in (IN_PROGRESS, *FINAL_STATES):
        return MppsOutcome.BAD_STATUS, ""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(select(_PPS).where(_PPS.c.sop_uid == sop_uid)).mappings().first()
        if row is None:
            return MppsOutcome.UNKNOWN, ""
        if row["status"] in FINAL_STATES:
            return MppsOutcome.FINAL, str(row["status"])
        merged = json.loads(row["attributes_json"] or "{}")
        merged.update(attributes)
        new_status = status or str(row["status"])
        conn.execute(
            update(_PPS)
            .where(_PPS.c.id == row["id"])
            .values(
                status=new_status,
                attributes_json=json.dumps(merged, ensure_ascii=False),
                updated_at=now,
            )
        )
        if new_status in FINAL_STATES:
            if row["step_pk"] is not None:
                step_status = (
                    StepStatus.COMPLETED if new_status == COMPLETED else StepStatus.DISCONTINUED
                )
                conn.execute(
                    update(_STEP)
                    .where(_STEP.c.id == row["step_pk"])
                    .values(status=step_status, updated_at=now)
                )
            add_event(
                conn,
                kind="mpps.completed" if new_status == COMPLETED else "mpps.discontinued",
                subject=sop_uid,
                payload={
                    "mpps_uid": sop_uid,
                    "accession": row["accession"],
                    "study_uid": row["study_uid"],
                    "patient_id": row["patient_id"],
                    "modality": row["modality"],
                    "station_ae": row["station_ae"],
                    "at": now.isoformat(),
                },
            )
    return MppsOutcome.OK, new_status
