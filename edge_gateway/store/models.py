"""SQLModel tables of the edge's SQLite index.

The edge keeps its own metadata (separate from the hub's) so that ``create_all``
on the edge database creates only edge tables.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class EdgeModel(SQLModel, registry=registry()):
    """Base of every edge table; its metadata is the edge schema."""


class Patient(EdgeModel, table=True):
    __tablename__ = "patient"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(index=True, unique=True)
    patient_name: str = ""
    name_alpha: str = Field(default="", index=True)
    name_ideo: str = Field(default="", index=True)
    birth_date: str = ""
    sex: str = ""
    updated_at: datetime


class Study(EdgeModel, table=True):
    __tablename__ = "study"
    __table_args__ = (Index("ix_study_date", "study_date"),)

    id: int | None = Field(default=None, primary_key=True)
    study_uid: str = Field(unique=True)
    patient_pk: int = Field(foreign_key="patient.id", index=True)
    study_date: str = ""
    study_time: str = ""
    accession: str = Field(default="", index=True)
    study_id: str = ""
    description: str = ""
    referring_physician: str = ""
    modalities: str = ""
    num_series: int = 0
    num_instances: int = 0
    size_bytes: int = 0
    received_at: datetime
    updated_at: datetime


class Series(EdgeModel, table=True):
    __tablename__ = "series"

    id: int | None = Field(default=None, primary_key=True)
    series_uid: str = Field(unique=True)
    study_pk: int = Field(foreign_key="study.id", index=True)
    modality: str = Field(default="", index=True)
    series_number: int | None = None
    description: str = ""
    body_part: str = ""
    num_instances: int = 0
    size_bytes: int = 0


class Instance(EdgeModel, table=True):
    __tablename__ = "instance"
    __table_args__ = (
        # Small: only the instances the hub has not yet confirmed (the sync backlog).
        Index(
            "ix_instance_unconfirmed",
            "hub_confirmed_at",
            sqlite_where=text("hub_confirmed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    sop_uid: str = Field(unique=True)
    series_pk: int = Field(foreign_key="series.id", index=True)
    study_pk: int = Field(foreign_key="study.id", index=True)
    sop_class_uid: str
    instance_number: int | None = None
    transfer_syntax: str
    rel_path: str
    size_bytes: int
    sha256: str
    received_at: datetime
    source_ae: str = ""
    hub_confirmed_at: datetime | None = None


class OutboxStatus(StrEnum):
    READY = "READY"
    LOCKED = "LOCKED"
    DONE = "DONE"
    FAILED = "FAILED"


class OutboxEvent(EdgeModel, table=True):
    """An event for the hub, written in the same transaction as the change it reports.

    ``id`` rises with time (drain order); ``event_id`` makes a repeat harmless at the hub.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_ready", "status", "next_attempt_at"),
        Index("ix_outbox_status_id", "status", "id"),
        Index("ix_outbox_subject", "subject", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True)
    kind: str
    subject: str
    payload: str
    status: OutboxStatus = OutboxStatus.READY
    attempts: int = 0
    next_attempt_at: datetime
    locked_at: datetime | None = None
    last_error: str = ""
    created_at: datetime


class StepStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


class ScheduledStep(EdgeModel, table=True):
    """One scheduled procedure step of the campus's Modality Worklist."""

    __tablename__ = "scheduled_step"
    __table_args__ = (
        UniqueConstraint("accession", "sps_id", name="uq_step_accession_sps"),
        Index("ix_step_modality_date", "modality", "start_date"),
        Index("ix_step_station_date", "station_ae", "start_date"),
        Index("ix_step_date", "start_date", "start_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    accession: str = Field(index=True)
    sps_id: str
    requested_procedure_id: str
    requested_procedure_description: str = ""
    study_uid: str
    patient_id: str = Field(index=True)
    patient_name: str = ""
    name_alpha: str = Field(default="", index=True)
    name_ideo: str = Field(default="", index=True)
    birth_date: str = ""
    sex: str = ""
    modality: str
    station_ae: str = ""
    station_name: str = ""
    start_date: str
    start_time: str
    sps_description: str = ""
    performing_physician: str = ""
    referring_physician: str = ""
    status: StepStatus = StepStatus.SCHEDULED
    source: str = "local"
    category: str = ""
    """The hub's patient category: emergency, inpatient, outpatient, physical_exam."""
    booked: bool = True
    """False for a hub order without an appointment slot (its start time is when the edge
    received it): the queue treats the patient as a walk-in."""
    created_at: datetime
    updated_at: datetime


class PerformedStep(EdgeModel, table=True):
    """A Modality Performed Procedure Step received by N-CREATE and updated by N-SET."""

    __tablename__ = "performed_step"

    id: int | None = Field(default=None, primary_key=True)
    sop_uid: str = Field(unique=True)
    status: str
    step_pk: int | None = Field(default=None, foreign_key="scheduled_step.id", index=True)
    accession: str = ""
    study_uid: str = ""
    patient_id: str = ""
    modality: str = ""
    station_ae: str = ""
    source_ae: str = ""
    attributes_json: str = "{}"
    created_at: datetime
    updated_at: datetime


class SyncState(EdgeModel, table=True):
    """Small key/value facts of the sync agent (order cursor, last hub contact)."""

    __tablename__ = "sync_state"

    key: str = Field(primary_key=True)
    value: str = ""
    updated_at: datetime
