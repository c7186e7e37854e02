"""Edge events (outbox rows) arriving at the hub: stored once, applied once.

A batch is one transaction: the new events are inserted with ``ON CONFLICT DO
NOTHING`` on ``event_id`` (so two identical batches racing each other store every
event exactly once, and the loser reports them as duplicates), then only the events
inserted *now* are applied:

* ``mpps.in_progress`` / ``mpps.completed`` / ``mpps.discontinued`` and
  ``exam.checked_in`` move the order with that accession (of the edge's campus) to
  in_progress / completed / discontinued / arrived — never backwards, never out of
  cancelled or completed; a discontinued order may start again (a new procedure step).
* ``study.new`` / ``instance.new`` / ``instance.replaced`` record metadata in the
  archive index (instances *announced*, not yet held).
* ``queue.<action>`` (any action named ``[a-z_]{1,32}``: check_in, call, skip, …) — the
  campus queue's transitions — are only recorded (outcome ``recorded``), for the
  statistics; they move no order. Their payload must hold campus, room, action and at.

What applying did is kept in ``SyncEvent.outcome``; an unknown accession is recorded
(``no_order``), never an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from hub.models.archive import EdgeSyncState, SyncEvent, SyncEventCount
from hub.models.base import utcnow
from hub.models.people import Device
from hub.models.registration import Order, OrderStatus, Patient
from hub.services import audit
from hub.services.archive import announce, ensure_studies, set_announced_hashes
from hub.services.changes import touch_order
from hub.services.upsert import clip_row, insert_ignore, table_of, upsert_add
from shared.dicom.instance import InstanceMeta
from shared.durable import is_safe_uid
from shared.sync import EdgeEvent, EventBatch, EventBatchResult, RejectedEvent


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Mpps(_Payload):
    mpps_uid: str = Field(min_length=1)
    accession: str
    """May be empty: an unscheduled procedure step (recorded, applied to nothing)."""


class _CheckIn(_Payload):
    accession: str = Field(min_length=1)


class _Queue(_Payload):
    """A transition of an edge's campus queue (never a patient name; other keys — ticket,
    states, seq, modality, patient_id, accessions — are kept as sent)."""

    campus: str = Field(min_length=1)
    room: str
    """May be empty for a campus-wide action."""
    action: str = Field(pattern=r"^[a-z_]{1,32}$")
    at: datetime


class _AuditRead(_Payload):
    """A person read patients' data at an edge (the technician console's room page)."""

    username: str = Field(min_length=1, max_length=64)
    role: str = Field(max_length=32)
    room: str = Field(max_length=64)
    patient_ids: list[str] = Field(min_length=1, max_length=500)
    at: datetime


class _Study(_Payload):
    study_uid: str


class _Instance(_Payload):
    sop_uid: str
    study_uid: str
    series_uid: str
    sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    size: int = Field(default=0, ge=0)


class _Replaced(_Payload):
    sop_uid: str
    new_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


ORDER_MOVES: dict[str, OrderStatus] = {
    "mpps.in_progress": OrderStatus.IN_PROGRESS,
    "mpps.completed": OrderStatus.COMPLETED,
    "mpps.discontinued": OrderStatus.DISCONTINUED,
    "exam.checked_in": OrderStatus.ARRIVED,
}

PAYLOADS: dict[str, type[_Payload]] = {
    "mpps.in_progress": _Mpps,
    "mpps.completed": _Mpps,
    "mpps.discontinued": _Mpps,
    "exam.checked_in": _CheckIn,
    "audit.read": _AuditRead,
    "study.new": _Study,
    "instance.new": _Instance,
    "instance.replaced": _Replaced,
}
"""Every kind the hub knows, with what its payload must hold (besides ``queue.<action>``,
see ``payload_model``)."""

_QUEUE_KIND = re.compile(r"queue\.[a-z_]{1,32}")

_RANK: dict[str, int] = {
    OrderStatus.REGISTERED: 0,
    OrderStatus.SCHEDULED: 0,
    OrderStatus.ARRIVED: 1,
    OrderStatus.IN_PROGRESS: 2,
    OrderStatus.DISCONTINUED: 3,
    OrderStatus.COMPLETED: 3,
}
_FINAL = {OrderStatus.CANCELLED.value, OrderStatus.COMPLETED.value}


def may_move(current: str, target: OrderStatus) -> bool:
    """True when an order at ``current`` may go to ``target`` on an edge's report:
    forward only; cancelled and completed orders stay; a discontinued one may start
    again (in_progress) or be completed by a new procedure step."""
    if current in _FINAL or current == target.value:
        return False
    if current == OrderStatus.DISCONTINUED.value:
        return target in (OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED)
    return _RANK.get(target, -1) > _RANK.get(current, 99)


@dataclass
class _Accepted:
    event: EdgeEvent
    payload: _Payload
    outcome: str = "recorded"


def payload_model(kind: str) -> type[_Payload] | None:
    """The payload model of ``kind``, or None for a kind this hub does not know."""
    if _QUEUE_KIND.fullmatch(kind):
        return _Queue
    return PAYLOADS.get(kind)


def validate(event: EdgeEvent) -> _Payload | str:
    """The event's checked payload, or why it is rejected (for the edge's operator:
    the hub may need an upgrade, or the edge sent a broken event)."""
    model = payload_model(event.kind)
    if model is None:
        return (
            f"中心不认识此事件类型，请升级中心 / unknown event kind {event.kind!r}; "
            f"this hub knows {', '.join(sorted(PAYLOADS))} and queue.<action>"
        )
    try:
        payload = model.model_validate(event.payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return f"事件内容不完整 / payload of {event.kind} is incomplete: {problems}"
    for key in ("study_uid", "series_uid", "sop_uid"):
        value = getattr(payload, key, None)
        if isinstance(value, str) and not is_safe_uid(value):
            return (
                f"事件中的 UID 无效 / payload of {event.kind}: {key} {value!r} is not a DICOM UID"
            )
    return payload


def receive_batch(
    *, session: Session, device: Device, batch: EventBatch
) -> tuple[EventBatchResult, bool]:
    """Store and apply the new events of ``batch`` from ``device`` in one transaction,
    and commit. Returns which events were accepted now, which the hub already had, which
    it rejects (not stored: unknown kind, incomplete payload), and True when an order of
    the device's campus moved (the caller then calls ``ctx.notifier.changed``)."""
    now = utcnow()
    rejected: list[RejectedEvent] = []
    duplicates: list[str] = []
    fresh: dict[str, _Accepted] = {}
    for event in batch.events:
        if event.event_id in fresh:
            duplicates.append(event.event_id)  # repeated within the batch
            continue
        checked = validate(event)
        if isinstance(checked, str):
            rejected.append(RejectedEvent(event_id=event.event_id, reason=checked))
        else:
            fresh[event.event_id] = _Accepted(event, checked)
    inserted = _insert_events(session, device, list(fresh.values()), now)
    accepted = [fresh[i] for i in fresh if i in inserted]
    duplicates += [i for i in fresh if i not in inserted]
    moved = _apply(session, device, accepted, now)
    _record_outcomes(session, accepted)
    _count(session, device, accepted, batch.backlog, now)
    session.commit()
    result = EventBatchResult(
        accepted=[a.event.event_id for a in accepted], duplicates=duplicates, rejected=rejected
    )
    return result, moved


def _insert_events(
    session: Session, device: Device, events: list[_Accepted], now: datetime
) -> set[str]:
    table = table_of(SyncEvent)
    rows = [
        clip_row(
            table,
            {
                "event_id": a.event.event_id,
                "device_id": device.device_id,
                "campus": device.campus,
                "kind": a.event.kind,
                "subject": a.event.subject,
                "payload": json.dumps(a.event.payload, ensure_ascii=False, default=str),
                "outcome": "",
                "created_at": _utc(a.event.created_at),
                "received_at": now,
            },
        )
        for a in events
    ]
    return set(insert_ignore(session, table, rows, keys=["event_id"], returning="event_id"))


def _apply(session: Session, device: Device, events: list[_Accepted], now: datetime) -> bool:
    """Apply ``events`` in order; True when an order moved."""
    archive = [a for a in events if isinstance(a.payload, _Study | _Instance)]
    if archive:
        _apply_archive(session, device, archive, now)
    replaced = [a.payload for a in events if isinstance(a.payload, _Replaced)]
    if replaced:
        set_announced_hashes(
            session, [{"sop": p.sop_uid, "sha": p.new_sha256, "at": now} for p in replaced]
        )
    for a in events:
        if isinstance(a.payload, _AuditRead):
            _apply_read(session, device, a.payload)
            a.outcome = "audited"
    moves = [a for a in events if a.event.kind in ORDER_MOVES]
    return _apply_moves(session, device, moves) if moves else False


def _apply_read(session: Session, device: Device, read: _AuditRead) -> None:
    """Edge-side reads land in the hub's audit trail like reads at the hub: one ``read``
    record per patient, by the person who signed in at the edge's console."""
    actor = audit.Actor(name=read.username, role=read.role, client=f"{device.device_id} console")
    detail = json.dumps(
        {"campus": device.campus, "room": read.room, "seen_at": read.at.isoformat()},
        ensure_ascii=False,
    )
    audit.record_reads(
        session, actor, resource="queue", patient_ids=read.patient_ids, detail=detail
    )


def _apply_archive(
    session: Session, device: Device, events: list[_Accepted], now: datetime
) -> None:
    studies = [
        InstanceMeta.from_mapping({**a.event.payload, "sop_uid": "", "series_uid": ""})
        for a in events
        if isinstance(a.payload, _Study)
    ]
    if studies:
        ensure_studies(session, studies, campus=device.campus, now=now)
    items = [
        (InstanceMeta.from_mapping(a.event.payload), a.payload.sha256, a.payload.size)
        for a in events
        if isinstance(a.payload, _Instance)
    ]
    announce(session, items, campus=device.campus, device_id=device.device_id, now=now)


def _apply_moves(session: Session, device: Device, events: list[_Accepted]) -> bool:
    accessions = {_accession(a) for a in events} - {""}
    orders = {
        o.accession: o
        for o in session.exec(
            select(Order).where(Order.campus == device.campus, col(Order.accession).in_(accessions))
        )
    }
    actor = audit.Actor(name=device.device_id, role=f"device:{device.kind}")
    patients: dict[int, str] = {}
    moved = False
    for a in events:
        order = orders.get(_accession(a))
        target = ORDER_MOVES[a.event.kind]
        if order is None:
            a.outcome = "no_order"
            continue
        if not may_move(order.status, target):
            a.outcome = "order_final" if order.status in _FINAL else "unchanged"
            continue
        before = order.status
        touch_order(
            session,
            order,
            actor=device.device_id,
            new_status=target.value,
            reason=f"{a.event.kind} ({a.event.event_id})",
        )
        a.outcome = "applied"
        moved = True
        if order.patient_pk not in patients:
            patients[order.patient_pk] = _patient_id(session, order.patient_pk)
        audit.record(
            session,
            actor,
            action="update",
            resource="order",
            resource_id=order.accession,
            patient_id=patients[order.patient_pk],
            detail={"status": [before, target.value], "event": a.event.kind},
        )
    return moved


def _accession(event: _Accepted) -> str:
    payload = event.payload
    return payload.accession if isinstance(payload, _Mpps | _CheckIn) else ""


def _patient_id(session: Session, patient_pk: int) -> str:
    patient = session.get(Patient, patient_pk)
    return patient.patient_id if patient else ""


def _record_outcomes(session: Session, events: list[_Accepted]) -> None:
    table = table_of(SyncEvent)
    if events:
        session.connection().execute(
            update(table)
            .where(table.c.event_id == bindparam("eid"))
            .values(outcome=bindparam("outcome")),
            [{"eid": a.event.event_id, "outcome": a.outcome} for a in events],
        )


def _count(
    session: Session, device: Device, events: list[_Accepted], backlog: int, now: datetime
) -> None:
    """Per-device state (backlog, events received) and per campus/kind counters."""
    upsert_add(
        session,
        table_of(EdgeSyncState),
        {
            "device_id": device.device_id,
            "campus": device.campus,
            "backlog": backlog,
            "events_received": len(events),
            "last_batch_at": now,
        },
        keys=["device_id"],
        add=["events_received"],
        replace=["backlog", "last_batch_at", "campus"],
    )
    kinds: dict[str, int] = {}
    for a in events:
        kinds[a.event.kind] = kinds.get(a.event.kind, 0) + 1
    for kind, n in sorted(kinds.items()):
        upsert_add(
            session,
            table_of(SyncEventCount),
            {"campus": device.campus, "kind": kind, "count": n},
            keys=["campus", "kind"],
            add=["count"],
        )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
