"""The edge ↔ hub sync contract (HTTPS, JSON), spoken by ``edge_gateway.sync`` and
``hub.api.routes.sync``.

Down: ``GET /api/v1/sync/orders?cursor=N&limit=L&wait=S`` → :class:`OrderFeed`: the orders
of the calling edge's campus whose ``change_seq`` is above ``cursor``, oldest change first;
held open up to ``wait`` seconds when there is nothing new (long-poll).

Up: ``POST /api/v1/sync/events`` with :class:`EventBatch` → :class:`EventBatchResult`;
``event_id`` makes a repeat harmless. Images go up by STOW-RS
(``POST /api/v1/dicomweb/studies``, ``multipart/related; type="application/dicom"``), each
part with a ``Content-Digest: sha-256=:<base64>:`` header the hub checks.

Up, after a hub restore: ``POST /api/v1/sync/accessions`` with :class:`AccessionReport`
→ :class:`AccessionReportResult`: the highest accession number the edge holds per day;
the hub raises its counters to them (never lowers them), so it does not hand out again a
number it gave before the backup it was restored from. A repeat is harmless.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_EVENTS_PER_BATCH = 500
MAX_ORDERS_PER_PAGE = 1000
MAX_ACCESSION_MARKS = 100

ORDERS_PATH = "/api/v1/sync/orders"
EVENTS_PATH = "/api/v1/sync/events"
STOW_PATH = "/api/v1/dicomweb/studies"
ACCESSIONS_PATH = "/api/v1/sync/accessions"


class WorklistOrder(BaseModel):
    """One order as a campus worklist needs it. ``patient_name`` is a DICOM Person Name
    (``Zhang^San=张^三``); it travels over HTTPS to the edge, never on the broker."""

    model_config = ConfigDict(frozen=True)

    accession: str
    campus: str
    status: str
    """Hub order status: registered, scheduled, arrived, in_progress, completed,
    discontinued, cancelled. The edge keeps cancelled orders off its worklist."""
    patient_id: str
    patient_name: str
    birth_date: str = ""
    """YYYYMMDD or empty."""
    sex: str = ""
    modality: str
    procedure_code: str
    procedure_name: str
    body_part: str = ""
    category: str
    study_uid: str
    room: str = ""
    station_ae: str = ""
    scheduled_at: datetime | None = None
    """None for an emergency order without a slot: the edge lists it for today, now."""
    referring_physician: str = ""
    requesting_department: str = ""
    preparation: str = ""
    change_seq: int


class OrderFeed(BaseModel):
    orders: list[WorklistOrder]
    cursor: int
    """Pass back as ``cursor`` next time (the highest ``change_seq`` returned, or the one
    sent when nothing changed)."""
    more: bool
    """True when the page was full: ask again at once."""
    restarted: bool = False
    """True when the hub did not read from the ``cursor`` sent but from 0: the edge was
    further along than the hub knows (its database was restored from a backup). The edge
    reads every order again; steps whose orders do not come back are the restored hub's
    losses."""


class EdgeEvent(BaseModel):
    """One outbox row of an edge."""

    event_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=64)
    subject: str = ""
    payload: dict[str, Any]
    created_at: datetime


class EventBatch(BaseModel):
    events: list[EdgeEvent] = Field(max_length=MAX_EVENTS_PER_BATCH)
    backlog: int = Field(default=0, ge=0)
    """Events still waiting at the edge after this batch (reported for the backlog metric)."""


class RejectedEvent(BaseModel):
    event_id: str
    reason: str


class EventBatchResult(BaseModel):
    accepted: list[str]
    """Event ids stored now."""
    duplicates: list[str]
    """Event ids the hub already had (a repeat: harmless, count as delivered)."""
    rejected: list[RejectedEvent] = []
    """Events the hub cannot take (unknown kind, bad payload): the edge marks them FAILED
    and keeps them for an operator instead of retrying forever."""


class AccessionMark(BaseModel):
    """The highest accession number of the edge's campus for one local ``day`` that the
    edge holds (``DG2611260057`` for 2026-11-26)."""

    day: date
    accession: str = Field(min_length=1, max_length=16)


class AccessionReport(BaseModel):
    marks: list[AccessionMark] = Field(max_length=MAX_ACCESSION_MARKS)


class RaisedCounter(BaseModel):
    """A counter the hub raised: it would have handed out ``previous + 1`` next."""

    day: date
    previous: int
    last: int


class AccessionReportResult(BaseModel):
    raised: list[RaisedCounter]
    """The days whose counter was behind the edge's numbers (empty when none was: the
    usual answer; anything here means the hub had gone back in time)."""
