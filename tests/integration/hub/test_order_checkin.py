"""Registrar check-in (报到) over HTTP: registered/scheduled → arrived with history and
audit, harmless when repeated, refused (409, Chinese first) once cancelled or begun, and
carried by the campus's order feed to the edge."""

from __future__ import annotations

import json

from hub.models.registration import OrderStatus
from hub.security.roles import Role
from shared.sync import ORDERS_PATH, OrderFeed
from tests.integration.hub.factories import (
    API,
    audit_rows,
    book,
    create_order,
    create_patient,
    create_room,
    free_slots,
    generate_slots,
    load_catalogue,
    ok,
    registrar,
)
from tests.support.hub import RunningHub
from tests.support.hub_orders import set_status


def _feed(hub: RunningHub, token: str, cursor: int) -> OrderFeed:
    with hub.client(token) as c:
        return OrderFeed.model_validate(ok(c.get(ORDERS_PATH, params={"cursor": cursor})))


def test_check_in_moves_registered_and_scheduled_orders(hub: RunningHub) -> None:
    load_catalogue(hub)
    create_room(hub, code="CT1", modality="CT", station_ae="DG_CT1")
    generate_slots(hub, room="CT1")
    patient = create_patient(hub)
    walk_in = create_order(hub, patient["patient_id"])
    booked = create_order(hub, patient["patient_id"])
    book(hub, booked["accession"], free_slots(hub, modality="CT")[0]["id"])
    edge = hub.device_token("dongge")
    cursor = _feed(hub, edge, 0).cursor

    with hub.client(registrar(hub)) as c:
        first = ok(c.post(f"{API}/orders/{walk_in['accession']}/arrive"))
        assert (first["status"], first["status_label"]) == ("arrived", "已报到")
        assert first["change_seq"] > walk_in["change_seq"]
        again = ok(c.post(f"{API}/orders/{walk_in['accession']}/arrive"))
        assert (again["status"], again["change_seq"]) == ("arrived", first["change_seq"])
        scheduled = ok(c.post(f"{API}/orders/{booked['accession']}/arrive"))
        assert scheduled["status"] == "arrived"
        assert scheduled["room"] == "CT1" and scheduled["scheduled_at"] is not None
        history = ok(c.get(f"{API}/orders/{walk_in['accession']}/history"))
        booked_history = ok(c.get(f"{API}/orders/{booked['accession']}/history"))
    assert [(h["from_status"], h["to_status"], h["reason"]) for h in history] == [
        ("", "registered", "登记"),
        ("registered", "arrived", "报到"),
    ]
    assert history[1]["to_label"] == "已报到" and history[1]["actor"].startswith("registrar")
    assert [h["to_status"] for h in booked_history] == ["registered", "scheduled", "arrived"]

    feed = _feed(hub, edge, cursor)
    assert [(o.accession, o.status, o.change_seq) for o in feed.orders] == [
        (walk_in["accession"], "arrived", first["change_seq"]),
        (booked["accession"], "arrived", scheduled["change_seq"]),
    ]

    updates = audit_rows(hub, resource="order", action="update", patient_id=patient["patient_id"])
    arrivals = [(r["resource_id"], json.loads(r["detail"])) for r in updates]
    assert sorted(arrivals) == sorted(
        [
            (walk_in["accession"], {"status": ["registered", "arrived"], "reason": "报到"}),
            (booked["accession"], {"status": ["scheduled", "arrived"], "reason": "报到"}),
        ]
    )
    assert {r["role"] for r in updates} == {"registrar"}


def test_check_in_refused_once_cancelled_or_begun(hub: RunningHub) -> None:
    load_catalogue(hub)
    patient = create_patient(hub)
    orders = {
        status: create_order(hub, patient["patient_id"])["accession"]
        for status in ("cancelled", "in_progress", "completed", "discontinued")
    }
    with hub.client(registrar(hub)) as c:
        ok(c.post(f"{API}/orders/{orders['cancelled']}/cancel", json={"reason": "患者要求"}))
    for status in ("in_progress", "completed", "discontinued"):
        set_status(hub.ctx, orders[status], OrderStatus(status))
    expected = {
        "cancelled": "已取消，不能报到",
        "in_progress": "正在检查中，无需报到",
        "completed": "已检查完毕，不能报到",
        "discontinued": "已中止，不能报到，请联系技师",
    }
    with hub.client(registrar(hub)) as c:
        for status, accession in orders.items():
            r = c.post(f"{API}/orders/{accession}/arrive")
            assert r.status_code == 409, r.text
            detail = r.json()["detail"]
            assert detail.startswith(f"检查 {accession} {expected[status]}"), detail
            assert f" / order {accession} " in detail
            assert ok(c.get(f"{API}/orders/{accession}"))["status"] == status
        r = c.post(f"{API}/orders/DG0000000000/arrive")
        assert r.status_code == 404 and "不存在" in r.json()["detail"]
    other = create_order(hub, patient["patient_id"], campus="xianhu")
    with hub.client(registrar(hub, campuses="dongge")) as c:
        r = c.post(f"{API}/orders/{other['accession']}/arrive")
        assert r.status_code == 403 and "院区" in r.json()["detail"]
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        assert c.post(f"{API}/orders/{other['accession']}/arrive").status_code == 403
    assert audit_rows(hub, resource="order", action="update") == []
