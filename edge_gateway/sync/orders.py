"""Hub orders onto the campus worklist: one ``OrderFeed`` page → the ``scheduled_step``
table, in one transaction together with the feed cursor.

An order is one step keyed by its accession number (``sps_id`` and
``requested_procedure_id`` are the accession too). Hub statuses become step statuses:
registered/scheduled/arrived → SCHEDULED, in_progress → IN PROGRESS, completed →
COMPLETED, discontinued and cancelled → DISCONTINUED (off the worklist). Once a
modality has reported an MPPS for the step at this edge, the edge's status wins unless
the hub's is further along: an older hub status never puts an exam that is running or
done back on the worklist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine, exists, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from edge_gateway.queue.tables import QueueArrival
from edge_gateway.store.models import PerformedStep, ScheduledStep, StepStatus
from edge_gateway.sync.state import ORDERS_CURSOR, delete_state, read_state, write_state
from shared.dicom.charset import name_groups
from shared.sync import OrderFeed, WorklistOrder

log = logging.getLogger(__name__)

_STEP = ScheduledStep.__table__  # type: ignore[attr-defined]
_PPS = PerformedStep.__table__  # type: ignore[attr-defined]
_ARRIVAL = QueueArrival.__table__  # type: ignore[attr-defined]

HUB_STATUS: dict[str, StepStatus] = {
    "registered": StepStatus.SCHEDULED,
    "scheduled": StepStatus.SCHEDULED,
    "arrived": StepStatus.SCHEDULED,
    "in_progress": StepStatus.IN_PROGRESS,
    "completed": StepStatus.COMPLETED,
    "discontinued": StepStatus.DISCONTINUED,
    "cancelled": StepStatus.DISCONTINUED,
}
_PROGRESS = {
    StepStatus.SCHEDULED: 0,
    StepStatus.IN_PROGRESS: 1,
    StepStatus.COMPLETED: 2,
    StepStatus.DISCONTINUED: 2,
}


@dataclass(frozen=True)
class PageOutcome:
    added: int = 0
    updated: int = 0
    skipped: int = 0


def merged_status(local: StepStatus, hub: StepStatus, *, performed_here: bool) -> StepStatus:
    """The step status after the hub reports ``hub``: the hub's, except that a step
    with an MPPS at this edge never moves back (``local`` is kept unless ``hub`` is
    further along)."""
    if performed_here and _PROGRESS[hub] <= _PROGRESS[local]:
        return local
    return hub


def scheduled_local(
    order: WorklistOrder, received_at: datetime, zone: tzinfo | None = None
) -> datetime:
    """When the step is listed, in the campus's time zone ``zone`` (None: the machine's):
    the order's slot (a naive time from the hub is UTC), or ``received_at`` for an
    emergency order without one. Modalities and the queue read the worklist in it."""
    moment = order.scheduled_at or received_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def step_values(
    order: WorklistOrder, *, received_at: datetime, zone: tzinfo | None = None
) -> dict[str, Any]:
    """Column values of the step for ``order`` (status and timestamps excluded)."""
    alpha, ideo, _ = name_groups(order.patient_name)
    when = scheduled_local(order, received_at, zone)
    return {
        "accession": order.accession,
        "sps_id": order.accession,
        "requested_procedure_id": order.accession,
        "requested_procedure_description": order.procedure_name,
        "study_uid": order.study_uid,
        "patient_id": order.patient_id,
        "patient_name": order.patient_name,
        "name_alpha": alpha,
        "name_ideo": ideo,
        "birth_date": order.birth_date.replace("-", ""),
        "sex": order.sex,
        "modality": order.modality.upper(),
        "station_ae": order.station_ae,
        "station_name": order.room,
        "category": order.category,
        "booked": order.scheduled_at is not None,
        "start_date": when.strftime("%Y%m%d"),
        "start_time": when.strftime("%H%M%S"),
        "sps_description": order.procedure_name,
        "referring_physician": order.referring_physician,
        "source": "hub",
    }


RESYNC_SINCE = "orders.resync_since"
"""``sync_state`` key: when the hub restarted the feed from 0 (an ISO time, UTC), while
the edge reads every order again; removed when the re-read is complete."""


def begin_resync(engine: Engine, since: datetime) -> None:
    """The hub restarted the feed (restored from a backup): from ``since`` on, every order
    it still has comes again and touches its step. Kept until :func:`finish_resync`; an
    earlier unfinished re-read keeps its (earlier) start."""
    with engine.begin() as conn:
        if read_state(conn, RESYNC_SINCE) is None:
            write_state(conn, RESYNC_SINCE, since.astimezone(UTC).isoformat())


def finish_resync(engine: Engine, *, now: datetime | None = None) -> list[str]:
    """After the last page of a re-read: the steps from the hub that it did not bring
    again — orders the restored hub no longer has — leave the worklist (DISCONTINUED,
    as a cancelled order's step does) unless a modality has started them. Returns their
    accession numbers; [] when no re-read was going on."""
    with engine.begin() as conn:
        raw = read_state(conn, RESYNC_SINCE)
        if raw is None:
            return []
        since = datetime.fromisoformat(raw)
        stale = conn.execute(
            select(_STEP.c.id, _STEP.c.accession).where(
                _STEP.c.source == "hub",
                _STEP.c.status == StepStatus.SCHEDULED,
                _STEP.c.updated_at < since,
            )
        ).all()
        if stale:
            conn.execute(
                update(_STEP)
                .where(_STEP.c.id.in_([r.id for r in stale]))
                .values(status=StepStatus.DISCONTINUED, updated_at=now or datetime.now(UTC))
            )
        delete_state(conn, RESYNC_SINCE)
    return [r.accession for r in stale]


def apply_page(
    engine: Engine,
    feed: OrderFeed,
    *,
    campus: str,
    now: datetime | None = None,
    zone: tzinfo | None = None,
) -> PageOutcome:
    """Apply one page of orders and store ``feed.cursor``, all in one transaction
    (a crash replays the whole page, which is harmless). Orders of another campus or
    with an unknown status are skipped with a warning."""
    received_at = now or datetime.now(UTC)
    added = updated = skipped = 0
    with engine.begin() as conn:
        # A write first: the transaction holds SQLite's write lock from here on, so an
        # MPPS arriving meanwhile cannot slip between a read below and its update.
        write_state(conn, ORDERS_CURSOR, str(feed.cursor))
        for order in feed.orders:
            if order.campus != campus or order.status not in HUB_STATUS:
                log.warning(
                    "order %s skipped: campus %s, status %s (this edge serves %s)",
                    order.accession,
                    order.campus,
                    order.status,
                    campus,
                )
                skipped += 1
            elif _apply_order(conn, order, received_at, zone):
                added += 1
            else:
                updated += 1
    return PageOutcome(added, updated, skipped)


def _apply_order(
    conn: Connection, order: WorklistOrder, received_at: datetime, zone: tzinfo | None
) -> bool:
    """Insert or update the step of ``order``; True when it was new. An order the hub
    reports arrived (checked in by a registrar) is also handed to the campus queue."""
    if order.status == "arrived":
        conn.execute(
            sqlite_insert(_ARRIVAL)
            .values(
                accession=order.accession,
                patient_id=order.patient_id,
                requested_at=received_at,
            )
            .on_conflict_do_nothing(index_elements=["accession"])
        )
    hub_status = HUB_STATUS[order.status]
    key = (_STEP.c.accession == order.accession) & (_STEP.c.sps_id == order.accession)
    row = conn.execute(select(_STEP.c.id, _STEP.c.status).where(key)).first()
    values = step_values(order, received_at=received_at, zone=zone)
    if row is None:
        conn.execute(
            insert(_STEP).values(
                **values, status=hub_status, created_at=received_at, updated_at=received_at
            )
        )
        return True
    performed_here = bool(conn.scalar(select(exists().where(_PPS.c.step_pk == row.id))))
    status = merged_status(StepStatus(row.status), hub_status, performed_here=performed_here)
    if order.scheduled_at is None:
        # an emergency order keeps the time it first appeared at
        del values["start_date"], values["start_time"]
    conn.execute(
        update(_STEP)
        .where(_STEP.c.id == row.id)
        .values(**values, status=status, updated_at=received_at)
    )
    return False
