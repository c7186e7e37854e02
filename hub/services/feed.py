"""The order feed the edges follow: a campus's orders by ascending ``change_seq``,
rendered as :class:`shared.sync.WorklistOrder`, with long-polling.

Every write to an order gives it a new ``change_seq`` (``hub.services.changes``), handed
out in commit order, so ``change_seq > cursor`` is exactly what an edge has not seen.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime

import anyio
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub.context import HubContext
from hub.models.archive import EdgeSyncState
from hub.models.registration import Order, Patient, Procedure
from hub.services.changes import current_change_seq
from hub.services.names import dicom_person_name
from hub.services.upsert import table_of, upsert_add
from shared.sync import MAX_ORDERS_PER_PAGE, OrderFeed, WorklistOrder

log = logging.getLogger(__name__)

REQUERY_SECONDS = 2.0
"""A held long-poll re-reads the database at least this often: another hub process may
have changed orders without this process's notifier knowing."""


def worklist_order(order: Order, patient: Patient, preparation: str | None) -> WorklistOrder:
    """One order as the edge's worklist needs it."""
    return WorklistOrder(
        accession=order.accession,
        campus=order.campus,
        status=order.status,
        patient_id=patient.patient_id,
        patient_name=dicom_person_name(patient.name),
        birth_date=_dicom_date(patient.birth_date),
        sex=patient.sex,
        modality=order.modality,
        procedure_code=order.procedure_code,
        procedure_name=order.procedure_name,
        body_part=order.body_part,
        category=order.category,
        study_uid=order.study_uid,
        room=order.room,
        station_ae=order.station_ae,
        scheduled_at=_utc(order.scheduled_at),
        referring_physician=order.requesting_doctor,
        requesting_department=order.requesting_department,
        preparation=preparation or "",
        change_seq=order.change_seq,
    )


def start_cursor(*, session: Session, device_id: str, cursor: int) -> int:
    """Where an edge asking from ``cursor`` reads the feed: ``cursor``, or 0 when the edge
    is further along than this database knows — beyond the cursor the hub last handed
    it, or beyond the hub's last change number. Both mean the hub's database was restored
    from a backup: the edge then re-reads every order instead of missing the changes
    whose numbers the restored hub hands out again. The first rule holds even after
    registrars have changed orders on the restored hub (its change numbers catching up
    with the edge's cursor); the second covers an edge the database has no record of."""
    if cursor <= 0:
        return 0
    served = session.exec(
        select(EdgeSyncState.feed_served).where(EdgeSyncState.device_id == device_id)
    ).first()
    last = current_change_seq(session)
    known = last if served is None else min(served, last)
    if cursor <= known:
        return cursor
    log.warning(
        "order feed: %s asks from change %d, beyond the %d this hub handed it (its last "
        "change: %d; the hub's database was restored?): it reads every order again from 0",
        device_id,
        cursor,
        served if served is not None else last,
        last,
    )
    return 0


def read_feed(*, session: Session, campus: str, cursor: int, limit: int) -> OrderFeed:
    """The orders of ``campus`` changed after ``cursor``, oldest change first, at most
    ``limit`` (capped at ``MAX_ORDERS_PER_PAGE``); ``more`` when the page is full.
    (:func:`start_cursor` decides where an edge starts.)"""
    limit = max(1, min(limit, MAX_ORDERS_PER_PAGE))
    rows = session.exec(
        select(Order, Patient, Procedure.preparation)
        .join(Patient, col(Patient.id) == col(Order.patient_pk))
        .outerjoin(Procedure, col(Procedure.code) == col(Order.procedure_code))
        .where(Order.campus == campus, col(Order.change_seq) > cursor)
        .order_by(col(Order.change_seq))
        .limit(limit)
    ).all()
    orders = [worklist_order(o, p, prep) for o, p, prep in rows]
    return OrderFeed(
        orders=orders,
        cursor=orders[-1].change_seq if orders else cursor,
        more=len(orders) == limit,
    )


def note_feed_position(
    *, session: Session, device_id: str, campus: str, cursor: int, now: datetime
) -> None:
    """Remember where an edge reads the feed (shown by ``/sync/edges``)."""
    _note(session, device_id, campus, {"feed_cursor": cursor, "feed_at": now})


def note_feed_served(*, session: Session, device_id: str, campus: str, cursor: int) -> None:
    """Remember the cursor handed to an edge, before the answer leaves (see
    :func:`start_cursor`)."""
    _note(session, device_id, campus, {"feed_served": cursor})


def _note(session: Session, device_id: str, campus: str, values: dict[str, object]) -> None:
    """Set ``values`` on the edge's sync row (made when missing)."""
    upsert_add(
        session,
        table_of(EdgeSyncState),
        {"device_id": device_id, "campus": campus, **values},
        keys=["device_id"],
        replace=list(values),
    )


def _read(engine: Engine, campus: str, cursor: int, limit: int) -> OrderFeed:
    with Session(engine) as session:
        return read_feed(session=session, campus=campus, cursor=cursor, limit=limit)


async def follow_feed(
    *, ctx: HubContext, campus: str, cursor: int, limit: int, wait: float
) -> OrderFeed:
    """:func:`read_feed`, held open up to ``wait`` seconds (at most
    ``settings.long_poll_seconds``) while nothing is newer than ``cursor``. Wakes at
    once on ``ctx.notifier.changed(campus)`` and re-reads every ``REQUERY_SECONDS``.
    Database work runs in worker threads: a held request blocks nothing else."""
    loop = asyncio.get_running_loop()
    wait = max(0.0, min(wait, ctx.settings.long_poll_seconds))
    deadline = loop.time() + wait
    while True:
        seen = ctx.notifier.counter(campus)  # before reading: no change slips between
        feed = await anyio.to_thread.run_sync(_read, ctx.engine, campus, cursor, limit)
        remaining = deadline - loop.time()
        if feed.orders or remaining <= 0:
            return feed
        await ctx.notifier.wait(campus, seen, min(remaining, REQUERY_SECONDS))


def _dicom_date(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
