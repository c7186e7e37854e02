"""The edge ↔ hub sync (contract: ``shared/sync.py``): the order feed the edges follow,
the events they push, the accession numbers they hold (after a hub restore), and the
edges overview for 信息科."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hub.api.deps import ContextDep, Principal, RequireDevice, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.db import session_scope
from hub.models.base import utcnow
from hub.models.people import Device
from hub.security.roles import Role
from hub.services.accession_marks import take_accession_marks
from hub.services.events import receive_batch
from hub.services.feed import follow_feed, note_feed_position, note_feed_served, start_cursor
from hub.services.metrics import edge_overview
from shared.sync import (
    MAX_ORDERS_PER_PAGE,
    AccessionReport,
    AccessionReportResult,
    EventBatch,
    EventBatchResult,
    OrderFeed,
)

router = APIRouter(prefix="/sync", tags=["sync"])

Edge = Annotated[Device, Depends(RequireDevice("edge"))]
Admin = Annotated[Principal, Depends(RequireRoles(Role.IT_ADMIN))]


class EdgePublic(BaseModel):
    device_id: str
    campus: str
    revoked: bool
    last_seen_at: datetime | None
    backlog: int
    events_received: int
    last_batch_at: datetime | None
    feed_cursor: int
    feed_at: datetime | None
    instances_held: int


@router.get("/orders")
async def orders(
    device: Edge,
    session: SessionDep,
    ctx: ContextDep,
    cursor: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = MAX_ORDERS_PER_PAGE,
    wait: Annotated[float, Query(ge=0)] = 0.0,
) -> OrderFeed:
    """Orders of the edge's campus changed after ``cursor``, oldest change first, at
    most ``limit`` (capped at ``MAX_ORDERS_PER_PAGE``); held up to ``wait`` seconds
    (capped at ``long_poll_seconds``) while there is none."""
    campus, device_id = device.campus, device.device_id
    await run_in_threadpool(session.close)  # hold no connection while waiting
    start = await run_in_threadpool(_note_position, ctx.engine, device_id, campus, cursor)
    feed = await follow_feed(ctx=ctx, campus=campus, cursor=start, limit=limit, wait=wait)
    await run_in_threadpool(_note_served, ctx.engine, device_id, campus, feed.cursor)
    return feed.model_copy(update={"restarted": start < cursor})


def _note_position(engine: Engine, device_id: str, campus: str, cursor: int) -> int:
    """Note the edge's request; return where it reads from (:func:`start_cursor`)."""
    with session_scope(engine) as s:
        start = start_cursor(session=s, device_id=device_id, cursor=cursor)
        note_feed_position(
            session=s, device_id=device_id, campus=campus, cursor=cursor, now=utcnow()
        )
    return start


def _note_served(engine: Engine, device_id: str, campus: str, cursor: int) -> None:
    with session_scope(engine) as s:
        note_feed_served(session=s, device_id=device_id, campus=campus, cursor=cursor)


@router.post("/events")
def events(
    batch: EventBatch, device: Edge, session: SessionDep, ctx: ContextDep
) -> EventBatchResult:
    """Store the edge's events once each and apply them (order status, archive index);
    repeats come back in ``duplicates``, events the hub cannot take in ``rejected``."""
    result, moved = receive_batch(session=session, device=device, batch=batch)
    if moved:
        ctx.notifier.changed(device.campus)
    return result


@router.post("/accessions")
def accessions(report: AccessionReport, device: Edge, session: SessionDep) -> AccessionReportResult:
    """Raise the accession counters of the edge's campus to at least the highest number
    the edge holds per day (never lowers one; a repeat changes nothing). 400 with a
    sentence when a number is not of the edge's campus or of the day it is reported for."""
    result = take_accession_marks(session=session, device=device, report=report)
    session.commit()
    return result


@router.get("/edges")
def edges(principal: Admin, session: SessionDep) -> Page[EdgePublic]:
    """Every edge of the admin's campuses: last seen, reported backlog, events
    received, instances held."""
    rows = edge_overview(session=session, campuses=principal.user.campus_list)
    return Page(data=[EdgePublic(**asdict(r)) for r in rows], count=len(rows))
