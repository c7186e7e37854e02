"""Edge events pushed to the hub (POST /api/v1/sync/events), through real HTTP."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pydicom.uid import generate_uid
from sqlmodel import Session, col, func, select

from hub.models.archive import SyncEvent, SyncEventCount
from hub.models.registration import OrderStatus
from hub.security.roles import Role
from shared.sync import EVENTS_PATH, ORDERS_PATH, EventBatchResult
from tests.support.hub import RunningHub
from tests.support.hub_orders import make_order, order_status, set_status


def event(kind: str, payload: dict[str, Any], subject: str = "") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "subject": subject,
        "payload": payload,
        "created_at": datetime.now(UTC).isoformat(),
    }


def mpps(kind: str, accession: str, mpps_uid: str | None = None) -> dict[str, Any]:
    uid = mpps_uid or generate_uid()
    return event(kind, {"mpps_uid": uid, "accession": accession, "modality": "CT"}, uid)


def instance_payload(
    study_uid: str, accession: str, sha: str = "ab" * 32, patient_id: str = "P1"
) -> dict[str, Any]:
    return {
        "sop_uid": generate_uid(),
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "study_uid": study_uid,
        "series_uid": generate_uid(),
        "transfer_syntax": "1.2.840.10008.1.2.1",
        "patient_id": patient_id,
        "patient_name": "Zhang^San=张^三",
        "accession": accession,
        "modality": "CT",
        "series_number": 1,
        "instance_number": 1,
        "sha256": sha,
        "size": 1234,
    }


def push(hub: RunningHub, token: str, events: list[dict[str, Any]], backlog: int = 0):
    with hub.client(token) as c:
        r = c.post(EVENTS_PATH, json={"events": events, "backlog": backlog})
        assert r.status_code == 200, r.text
        return EventBatchResult.model_validate(r.json())


def outcomes(hub: RunningHub) -> dict[str, str]:
    with Session(hub.ctx.engine) as s:
        return dict(s.exec(select(SyncEvent.event_id, SyncEvent.outcome)).all())


def test_events_are_stored_once_and_move_orders(hub: RunningHub) -> None:
    token = hub.device_token("dongge")
    exam = make_order(hub.ctx)
    walk_in = make_order(hub.ctx)
    study_uid = generate_uid()
    step = generate_uid()
    batch = [
        mpps("mpps.in_progress", exam.accession, step),
        event("exam.checked_in", {"accession": walk_in.accession, "ticket": "C001"}),
        event(
            "study.new",
            {"study_uid": study_uid, "accession": exam.accession, "patient_id": exam.patient_id},
        ),
        event(
            "instance.new", instance_payload(study_uid, exam.accession, patient_id=exam.patient_id)
        ),
    ]
    ids = [e["event_id"] for e in batch]
    first = push(hub, token, batch, backlog=7)
    assert (first.accepted, first.duplicates, first.rejected) == (ids, [], [])
    assert order_status(hub.ctx, exam.accession) == "in_progress"
    assert order_status(hub.ctx, walk_in.accession) == "arrived"
    with hub.client(token) as c:
        cursor = c.get(ORDERS_PATH).json()["cursor"]

    again = push(hub, token, batch, backlog=0)
    assert (again.accepted, again.duplicates) == ([], ids)
    with hub.client(token) as c:
        assert c.get(ORDERS_PATH, params={"cursor": cursor}).json()["orders"] == []

    done = mpps("mpps.completed", exam.accession, step)
    late = mpps("mpps.in_progress", exam.accession)  # a stray older report: no step back
    push(hub, token, [done, late])
    assert order_status(hub.ctx, exam.accession) == "completed"
    seen = outcomes(hub)
    assert [seen[i] for i in ids] == ["applied", "applied", "recorded", "recorded"]
    assert (seen[done["event_id"]], seen[late["event_id"]]) == ("applied", "order_final")

    with hub.client(hub.token(Role.IT_ADMIN)) as c:
        edge = c.get("/api/v1/sync/edges").json()["data"][0]
        found = c.get("/api/v1/archive/studies", params={"accession": exam.accession}).json()
    assert (edge["backlog"], edge["events_received"], edge["instances_held"]) == (0, 6, 0)
    study = found["data"][0]
    assert (study["study_uid"], study["num_announced"], study["num_instances"]) == (
        study_uid,
        1,
        0,
    )
    assert study["order_accession"] == exam.accession
    with hub.client() as c:
        metrics = c.get("/metrics").text
    assert 'pacs_hub_sync_events_total{campus="dongge",kind="mpps.in_progress"} 2' in metrics
    assert 'pacs_hub_sync_events_total{campus="dongge",kind="exam.checked_in"} 1' in metrics


def test_unknown_accessions_other_campuses_and_cancelled_orders(hub: RunningHub) -> None:
    token = hub.device_token("dongge")
    elsewhere = make_order(hub.ctx, campus="xianhu")
    cancelled = make_order(hub.ctx)
    set_status(hub.ctx, cancelled.accession, OrderStatus.CANCELLED, "患者取消")
    unknown = mpps("mpps.in_progress", "NOSUCH0001")
    unscheduled = mpps("mpps.in_progress", "")
    foreign = mpps("mpps.in_progress", elsewhere.accession)
    revived = mpps("mpps.in_progress", cancelled.accession)
    result = push(hub, token, [unknown, unscheduled, foreign, revived])
    assert len(result.accepted) == 4 and result.rejected == []
    assert order_status(hub.ctx, elsewhere.accession) == "scheduled"
    assert order_status(hub.ctx, cancelled.accession) == "cancelled"
    seen = outcomes(hub)
    assert [seen[e["event_id"]] for e in (unknown, unscheduled, foreign, revived)] == [
        "no_order",
        "no_order",
        "no_order",
        "order_final",
    ]


def test_unknown_kinds_and_incomplete_payloads_are_rejected(hub: RunningHub) -> None:
    token = hub.device_token("xianhu")
    order = make_order(hub.ctx, campus="xianhu")
    good = event("exam.checked_in", {"accession": order.accession})
    bad = [
        event("billing.paid", {"room": "CT1"}),
        event("mpps.completed", {"mpps_uid": generate_uid()}),
        event("exam.checked_in", {"accession": ""}),
        event("instance.new", {**instance_payload(generate_uid(), ""), "sop_uid": "../../etc"}),
        event("instance.replaced", {"sop_uid": generate_uid(), "new_sha256": "xyz"}),
    ]
    result = push(hub, token, [*bad, good])
    assert result.accepted == [good["event_id"]]
    reasons = {r.event_id: r.reason for r in result.rejected}
    assert list(reasons) == [e["event_id"] for e in bad]
    assert "unknown event kind 'billing.paid'" in reasons[bad[0]["event_id"]]
    assert "accession" in reasons[bad[1]["event_id"]]
    assert "not a DICOM UID" in reasons[bad[3]["event_id"]]
    # Rejected events are not stored: sent again, they are rejected again.
    again = push(hub, token, bad)
    assert again.duplicates == [] and len(again.rejected) == len(bad)
    assert order_status(hub.ctx, order.accession) == "arrived"
    with hub.client(token) as c:
        r = c.post(EVENTS_PATH, json={"events": [{"event_id": "x"}]})
        assert r.status_code == 422


def test_concurrent_identical_batches_store_each_event_once(hub: RunningHub) -> None:
    token = hub.device_token("dongge")
    orders = [make_order(hub.ctx) for _ in range(5)]
    study_uid = generate_uid()
    batch = [mpps("mpps.in_progress", o.accession) for o in orders]
    batch += [event("instance.new", instance_payload(study_uid, "")) for _ in range(195)]
    ids = {e["event_id"] for e in batch}
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: push(hub, token, batch), range(6)))
    accepted = [i for r in results for i in r.accepted]
    assert sorted(accepted) == sorted(ids), "every event accepted exactly once"
    for r in results:
        assert set(r.accepted) | set(r.duplicates) == ids and not r.rejected
    assert all(order_status(hub.ctx, o.accession) == "in_progress" for o in orders)
    with Session(hub.ctx.engine) as s:
        stored = s.exec(select(func.count()).select_from(SyncEvent)).one()
        counted = s.exec(
            select(func.sum(SyncEventCount.count)).where(col(SyncEventCount.campus) == "dongge")
        ).one()
    assert stored == counted == 200


def queue_event(
    action: str, ticket: str | None = "C001", accession: str = "", **overrides: Any
) -> dict[str, Any]:
    """A ``queue.<action>`` event as the edge's campus queue writes it (no patient name)."""
    payload: dict[str, Any] = {
        "campus": "dongge",
        "room": "CT1",
        "ticket": ticket,
        "action": action,
        "at": datetime.now(UTC).isoformat(),
        "from_state": "waiting" if ticket else None,
        "to_state": "called" if ticket else None,
        "detail": "",
        "seq": 3,
    }
    if ticket:
        payload |= {"modality": "CT", "patient_id": "P1", "accessions": [accession]}
    payload |= overrides
    return event(f"queue.{action}", payload, subject=ticket or "CT1")


def test_queue_events_are_recorded_once_and_move_no_order(hub: RunningHub) -> None:
    token = hub.device_token("dongge")
    order = make_order(hub.ctx)
    with hub.client(token) as c:
        cursor = c.get(ORDERS_PATH).json()["cursor"]
    batch = [
        queue_event("check_in", accession=order.accession),
        queue_event("call", accession=order.accession),
        queue_event("return_missed", accession=order.accession, seq=None),
        queue_event("day_start", ticket=None, room=""),  # an action the hub has not seen yet
    ]
    ids = [e["event_id"] for e in batch]
    first = push(hub, token, batch)
    assert (first.accepted, first.duplicates, first.rejected) == (ids, [], [])
    again = push(hub, token, batch)
    assert (again.accepted, again.duplicates, again.rejected) == ([], ids, [])

    seen = outcomes(hub)
    assert [seen[i] for i in ids] == ["recorded"] * 4
    assert order_status(hub.ctx, order.accession) == "scheduled"
    with hub.client(token) as c:
        assert c.get(ORDERS_PATH, params={"cursor": cursor, "wait": 0}).json()["orders"] == []
    with Session(hub.ctx.engine) as s:
        stored = s.exec(select(SyncEvent).where(col(SyncEvent.event_id).in_(ids))).all()
    assert len(stored) == 4
    kept = {e.kind: json.loads(e.payload) for e in stored}
    assert kept["queue.call"]["accessions"] == [order.accession]
    assert kept["queue.day_start"]["ticket"] is None
    with hub.client() as c:
        metrics = c.get("/metrics").text
    assert 'pacs_hub_sync_events_total{campus="dongge",kind="queue.call"} 1' in metrics


def test_malformed_queue_events_are_rejected_with_a_sentence(sqlite_hub: RunningHub) -> None:
    hub = sqlite_hub
    token = hub.device_token("dongge")
    no_time = queue_event("call")
    del no_time["payload"]["at"]
    wrong_action = queue_event("call")
    wrong_action["payload"]["action"] = "Call!"
    bad = [
        no_time,
        queue_event("skip", at="yesterday"),
        queue_event("call", campus=""),
        wrong_action,
        event("queue.Call", queue_event("call")["payload"]),
        event("queue.", queue_event("call")["payload"]),
        event("queue.call.again", queue_event("call")["payload"]),
    ]
    good = queue_event("prep_out")
    result = push(hub, token, [*bad, good])
    assert result.accepted == [good["event_id"]]
    reasons = [r.reason for r in result.rejected]
    assert [r.event_id for r in result.rejected] == [e["event_id"] for e in bad]
    assert reasons[0] == (
        "事件内容不完整 / payload of queue.call is incomplete: at: Field required"
    )
    assert reasons[1].startswith("事件内容不完整 / payload of queue.skip is incomplete: at:")
    assert "campus" in reasons[2] and "action" in reasons[3]
    for reason, kind in zip(reasons[4:], ("queue.Call", "queue.", "queue.call.again"), strict=True):
        assert reason.startswith("中心不认识此事件类型，请升级中心 / unknown event kind")
        assert repr(kind) in reason and "queue.<action>" in reason
    assert outcomes(hub) == {good["event_id"]: "recorded"}


def test_console_reads_at_an_edge_land_in_the_hub_audit_trail(hub: RunningHub) -> None:
    from hub.models.audit import AuditEvent

    token = hub.device_token("dongge")
    seen_at = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)
    read = event(
        "audit.read",
        {
            "username": "tech1",
            "role": "technician",
            "room": "ct1",
            "patient_ids": ["P1", "P2"],
            "at": seen_at.isoformat(),
        },
        "tech1",
    )
    result = push(hub, token, [read, dict(read)])
    assert result.accepted == [read["event_id"]] and result.duplicates == [read["event_id"]]
    with Session(hub.ctx.engine) as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.actor == "tech1").order_by(col(AuditEvent.id))
        ).all()
        outcome = session.exec(
            select(SyncEvent.outcome).where(SyncEvent.event_id == read["event_id"])
        ).one()
    assert [(r.action, r.resource, r.patient_id, r.role) for r in rows] == [
        ("read", "queue", "P1", "technician"),
        ("read", "queue", "P2", "technician"),
    ]
    assert rows[0].client.endswith("console") and "ct1" in rows[0].detail
    assert outcome == "audited"
    bad = event("audit.read", {"username": "tech1", "role": "technician", "room": "ct1"})
    rejected = push(hub, token, [bad])
    assert rejected.rejected and "patient_ids" in rejected.rejected[0].reason
