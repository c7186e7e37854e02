"""The hub's image archive index and the edges' sync records.

Archive: one row per study, series and instance. An instance is ``announced`` when an
edge reported it (``instance.new`` event) and ``held`` once its file is durably in the
hub's archive (STOW-RS) with the sha256 of the bytes on disk. Study counters
(``num_instances``, ``size_bytes``) count held instances only.

Sync: every edge event is kept once (``event_id`` unique), with what applying it did;
per-device state and per-campus/kind counters feed ``/sync/edges`` and ``/metrics``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from hub.models.base import HubModel


class InstanceState(StrEnum):
    ANNOUNCED = "announced"  # an edge reported it; the hub has no file yet
    HELD = "held"  # the file is in the hub's archive, hash recorded


class ArchiveStudy(HubModel, table=True):
    """A study known to the hub, matched to an order (``order_pk``) or awaiting
    reconciliation (``order_pk`` NULL)."""

    __tablename__ = "archive_study"
    __table_args__ = (
        Index("ix_archive_study_accession", "accession"),
        Index("ix_archive_study_patient", "patient_id"),
        Index("ix_archive_study_campus_order", "campus", "order_pk"),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_uid: str = Field(unique=True, max_length=64)
    campus: str = Field(max_length=16)
    order_pk: int | None = Field(default=None, foreign_key="exam_order.id", index=True)
    accession: str = Field(default="", max_length=16)
    patient_id: str = Field(default="", max_length=64)
    patient_name: str = Field(default="", max_length=200)
    """As the images carry it (DICOM Person Name, decoded to Unicode)."""
    birth_date: str = Field(default="", max_length=8)
    sex: str = Field(default="", max_length=16)
    study_date: str = Field(default="", max_length=8)
    study_time: str = Field(default="", max_length=16)
    study_id: str = Field(default="", max_length=16)
    study_description: str = Field(default="", max_length=64)
    referring_physician: str = Field(default="", max_length=200)
    num_instances: int = 0
    """Held instances."""
    size_bytes: int = 0
    created_at: datetime
    updated_at: datetime


class ArchiveSeries(HubModel, table=True):
    __tablename__ = "archive_series"

    id: int | None = Field(default=None, primary_key=True)
    series_uid: str = Field(unique=True, max_length=64)
    study_pk: int = Field(foreign_key="archive_study.id", index=True)
    modality: str = Field(default="", max_length=16)
    series_number: int | None = None
    series_description: str = Field(default="", max_length=64)
    body_part: str = Field(default="", max_length=16)
    num_instances: int = 0
    """Held instances."""


class ArchiveInstance(HubModel, table=True):
    """One SOP instance. ``rel_path`` is under ``data_dir/archive`` (held only)."""

    __tablename__ = "archive_instance"
    __table_args__ = (Index("ix_archive_instance_source", "source_device", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    sop_uid: str = Field(unique=True, max_length=64)
    series_pk: int = Field(foreign_key="archive_series.id", index=True)
    study_pk: int = Field(foreign_key="archive_study.id", index=True)
    sop_class_uid: str = Field(default="", max_length=64)
    instance_number: int | None = None
    transfer_syntax: str = Field(default="", max_length=64)
    state: str = Field(default=InstanceState.ANNOUNCED.value, max_length=16)
    sha256: str = Field(default="", max_length=64)
    """Of the held file ("" while only announced)."""
    size_bytes: int = 0
    rel_path: str = Field(default="", max_length=255)
    announced_sha256: str = Field(default="", max_length=64)
    """What the edge reported it holds (may differ from ``sha256`` until it re-sends)."""
    campus: str = Field(max_length=16)
    source: str = Field(default="", max_length=80)
    """``device:<device id>`` or ``user:<username>`` of the last writer."""
    source_device: str | None = Field(default=None, max_length=64)
    announced_at: datetime | None = None
    received_at: datetime | None = None
    """When the held file was stored."""


class SyncEvent(HubModel, table=True):
    """One edge outbox event, stored once, with what applying it did (``outcome``)."""

    __tablename__ = "sync_event"
    __table_args__ = (Index("ix_sync_event_device", "device_id", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    device_id: str = Field(max_length=64)
    campus: str = Field(max_length=16)
    kind: str = Field(max_length=64)
    subject: str = Field(default="", max_length=128)
    payload: str = "{}"
    """The event's payload as JSON text."""
    outcome: str = Field(default="", max_length=32)
    """applied, unchanged, no_order, order_final, recorded."""
    created_at: datetime
    """When the edge wrote it."""
    received_at: datetime


class EdgeSyncState(HubModel, table=True):
    """What the hub knows of one edge's sync (``last_seen`` is ``Device.last_seen_at``)."""

    __tablename__ = "edge_sync_state"

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(unique=True, max_length=64)
    campus: str = Field(max_length=16)
    backlog: int = 0
    """Events still waiting at the edge, as it reported with its last batch."""
    events_received: int = 0
    """Events stored from this edge (repeats not counted)."""
    last_batch_at: datetime | None = None
    feed_cursor: int = 0
    """The order-feed cursor the edge last asked from."""
    feed_at: datetime | None = None
    feed_served: int | None = None
    """The cursor the hub last handed the edge (None: not known, e.g. before 0002). An edge
    asking from further on has read changes this database does not hold (it was restored)."""


class SyncEventCount(HubModel, table=True):
    """Events stored per campus and kind (the ``pacs_hub_sync_events_total`` counter)."""

    __tablename__ = "sync_event_count"
    __table_args__ = (UniqueConstraint("campus", "kind", name="uq_sync_event_count"),)

    id: int | None = Field(default=None, primary_key=True)
    campus: str = Field(max_length=16)
    kind: str = Field(max_length=64)
    count: int = 0
