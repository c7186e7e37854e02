"""Rooms, slots and bookings over HTTP: generation from a day template, free-slot lists,
booking with capacity (also under concurrency), rescheduling, cancelling, audit."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

from hub.security.roles import Role
from tests.integration.hub.factories import (
    API,
    SHANGHAI,
    audit_rows,
    book,
    create_order,
    create_patient,
    create_room,
    free_slots,
    generate_slots,
    get_order,
    load_catalogue,
    ok,
    registrar,
    tomorrow,
)
from tests.support.hub import RunningHub


def _local(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(SHANGHAI)


def test_rooms(hub: RunningHub) -> None:
    room = create_room(hub, code="CT1", modality="ct", station_ae="DG_CT1")
    assert (room["campus"], room["code"], room["modality"], room["name"]) == (
        "dongge",
        "CT1",
        "CT",
        "CT1室",
    )
    create_room(hub, campus="xianhu", code="CT1", station_ae="XH_CT1")
    create_room(hub, code="MR1", modality="MR", station_ae="DG_MR1")
    with hub.client(hub.token(Role.IT_ADMIN)) as c:
        body = {"campus": "dongge", "code": "CT1", "name": "x", "modality": "CT"}
        r = c.post(f"{API}/rooms", json=body)
        assert r.status_code == 409 and "已有检查室" in r.json()["detail"]
        r = c.post(f"{API}/rooms", json={**body, "code": "US1", "modality": "XX"})
        assert r.status_code == 400 and "检查类型" in r.json()["detail"]
        r = c.post(f"{API}/rooms", json={**body, "code": "US1", "station_ae": "A\\B"})
        assert r.status_code == 400 and "AE" in r.json()["detail"]
    with hub.client(hub.token(Role.IT_ADMIN, "xianhu")) as c:
        r = c.post(f"{API}/rooms", json={**body, "code": "DR1", "modality": "DX"})
        assert r.status_code == 403
    with hub.client(registrar(hub)) as c:
        assert c.post(f"{API}/rooms", json=body).status_code == 403
    with hub.client(hub.token(Role.AUDITOR, "dongge")) as c:
        rooms = ok(c.get(f"{API}/rooms"))
        assert [(r["campus"], r["code"]) for r in rooms] == [("dongge", "CT1"), ("dongge", "MR1")]
        assert [r["code"] for r in ok(c.get(f"{API}/rooms", params={"modality": "MR"}))] == ["MR1"]
        assert c.get(f"{API}/rooms", params={"campus": "xianhu"}).status_code == 403
    [created] = [r for r in audit_rows(hub, resource="room") if r["resource_id"] == "dongge/MR1"]
    assert created["action"] == "create" and created["role"] == "it_admin"


def test_generate_and_list_slots(hub: RunningHub) -> None:
    create_room(hub, code="CT1")
    create_room(hub, code="US1", modality="US", station_ae="US1")
    day = tomorrow()
    made = generate_slots(hub, room="CT1", day=day, to_day=day + timedelta(days=1), capacity=2)
    assert made == {"created": 8, "skipped": 0}
    again = generate_slots(hub, room="CT1", day=day, to_day=day + timedelta(days=1), end="10:30")
    assert again == {"created": 2, "skipped": 8}
    admin = hub.token(Role.IT_ADMIN)
    generate_slots(hub, room="US1", day=day, start="14:00", end="15:00", interval=20, token=admin)

    slots = free_slots(hub, day=day)
    assert [(s["room"], _local(s["start"]).strftime("%H:%M")) for s in slots] == [
        ("CT1", "08:00"), ("CT1", "08:30"), ("CT1", "09:00"), ("CT1", "09:30"), ("CT1", "10:00"),
        ("US1", "14:00"), ("US1", "14:20"), ("US1", "14:40"),
    ]  # fmt: skip
    first = slots[0]
    assert _local(first["start"]).date() == day
    assert _local(first["end"]) - _local(first["start"]) == timedelta(minutes=30)
    assert (first["capacity"], first["booked"], first["free"]) == (2, 0, 2)
    assert first["room_name"] == "CT1室" and first["modality"] == "CT"
    assert len(free_slots(hub, day=day, modality="US")) == 3
    assert len(free_slots(hub, day=day, room="CT1")) == 5
    assert free_slots(hub, day=day + timedelta(days=2)) == []

    with hub.client(registrar(hub)) as c:
        bad = {
            "campus": "dongge",
            "room": "CT1",
            "from_date": day.isoformat(),
            "to_date": day.isoformat(),
            "start": "10:00",
            "end": "09:00",
            "interval_minutes": 30,
        }
        r = c.post(f"{API}/slots/generate", json=bad)
        assert r.status_code == 400 and "时段" in r.json()["detail"]
        r = c.post(f"{API}/slots/generate", json={**bad, "room": "XX9"})
        assert r.status_code == 404 and "检查室" in r.json()["detail"]
        far = (day + timedelta(days=400)).isoformat()
        r = c.post(f"{API}/slots/generate", json={**bad, "end": "12:00", "to_date": far})
        assert r.status_code == 400
        r = c.get(f"{API}/slots", params={"campus": "dongge", "date": "9999-12-31"})
        assert r.status_code == 400 and "日期" in r.json()["detail"]
        r = c.get(f"{API}/slots", params={"campus": "moon", "date": day.isoformat()})
        assert r.status_code == 400 and "院区" in r.json()["detail"]
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        assert c.post(f"{API}/slots/generate", json={}).status_code == 403
        page = ok(c.get(f"{API}/slots", params={"campus": "dongge", "date": day.isoformat()}))
        assert page["count"] == 8
    with hub.client(hub.token(Role.CLINICIAN)) as c:
        assert c.get(f"{API}/slots", params={"campus": "dongge"}).status_code == 403


def test_book_reschedule_cancel(hub: RunningHub) -> None:
    load_catalogue(hub)
    create_room(hub, code="CT1", station_ae="DG_CT1")
    generate_slots(hub, room="CT1", capacity=1)
    patient = create_patient(hub, name="黄忠")
    order = create_order(hub, patient["patient_id"], procedure_code="CT-CHEST")
    accession = order["accession"]
    slots = free_slots(hub)
    first, second = slots[0], slots[1]

    appointment = book(hub, accession, first["id"])
    assert appointment["status"] == "booked" and appointment["slot"]["id"] == first["id"]
    assert appointment["slot"]["booked"] == 1
    booked = get_order(hub, accession)
    assert booked["status"] == "scheduled"
    assert (booked["room"], booked["station_ae"]) == ("CT1", "DG_CT1")
    assert booked["scheduled_at"] == first["start"]
    assert booked["change_seq"] > order["change_seq"]
    assert first["id"] not in [s["id"] for s in free_slots(hub)]

    with hub.client(registrar(hub)) as c:
        r = c.post(f"{API}/orders/{accession}/appointment", json={"slot_id": second["id"]})
        assert r.status_code == 409 and "改约" in r.json()["detail"]
        r = c.put(f"{API}/orders/{accession}/appointment", json={"slot_id": first["id"]})
        assert r.status_code == 409
        moved = ok(
            c.put(
                f"{API}/orders/{accession}/appointment",
                json={"slot_id": second["id"], "reason": "患者上午有事"},
            )
        )
        assert moved["slot"]["id"] == second["id"] and moved["status"] == "booked"
        history = ok(c.get(f"{API}/orders/{accession}/appointments"))
        assert [(a["status"], a["slot"]["id"]) for a in history] == [
            ("rescheduled", first["id"]),
            ("booked", second["id"]),
        ]
        assert history[0]["reason"] == "患者上午有事"
        assert get_order(hub, accession)["scheduled_at"] == second["start"]
        free_ids = [s["id"] for s in free_slots(hub)]
        assert first["id"] in free_ids and second["id"] not in free_ids

        r = c.post(f"{API}/orders/{accession}/appointment/cancel", json={"reason": ""})
        assert r.status_code == 400 and "原因" in r.json()["detail"]
        back = ok(
            c.post(f"{API}/orders/{accession}/appointment/cancel", json={"reason": "改日再约"})
        )
        assert back["status"] == "registered"
        assert (back["room"], back["station_ae"], back["scheduled_at"]) == ("", "", None)
        assert second["id"] in [s["id"] for s in free_slots(hub)]
        r = c.post(f"{API}/orders/{accession}/appointment/cancel", json={"reason": "再取消"})
        assert r.status_code == 409
        steps = ok(c.get(f"{API}/orders/{accession}/history"))
    assert [s["to_status"] for s in steps] == ["registered", "scheduled", "registered"]
    assert steps[1]["reason"].startswith("预约 CT1室")
    assert steps[2]["reason"] == "取消预约：改日再约"

    actions = [
        (r["action"], r["resource"])
        for r in audit_rows(hub, patient_id=patient["patient_id"])
        if r["resource"] == "appointment"
    ]
    assert actions == [  # newest first; the list of appointments was a read
        ("cancel", "appointment"),
        ("read", "appointment"),
        ("update", "appointment"),
        ("create", "appointment"),
    ]
    [moved_row] = audit_rows(hub, resource="appointment", action="update")
    assert json.loads(moved_row["detail"])["to_slot"] == second["id"]


def test_booking_rules(hub: RunningHub) -> None:
    load_catalogue(hub)
    create_room(hub, code="CT1")
    create_room(hub, code="MR1", modality="MR", station_ae="MR1")
    create_room(hub, campus="xianhu", code="CT1")
    generate_slots(hub, room="CT1")
    generate_slots(hub, room="MR1")
    generate_slots(hub, campus="xianhu", room="CT1")
    patient = create_patient(hub)
    ct = create_order(hub, patient["patient_id"], procedure_code="CT-HEAD")
    other = create_order(hub, patient["patient_id"], procedure_code="CT-SINUS")
    emergency = create_order(
        hub, patient["patient_id"], procedure_code="CT-HEAD", category="emergency"
    )
    ct_slot = free_slots(hub, modality="CT")[0]
    mr_slot = free_slots(hub, modality="MR")[0]
    xh_slot = free_slots(hub, campus="xianhu")[0]

    with hub.client(registrar(hub)) as c:

        def attempt(accession: str, slot_id: int) -> tuple[int, str]:
            r = c.post(f"{API}/orders/{accession}/appointment", json={"slot_id": slot_id})
            return r.status_code, str(r.json().get("detail", ""))

        code, text = attempt(ct["accession"], mr_slot["id"])
        assert code == 400 and "不符" in text
        code, text = attempt(ct["accession"], xh_slot["id"])
        assert code == 400 and "院区" in text
        code, text = attempt(ct["accession"], 999999)
        assert code == 404 and "时段" in text
        assert attempt(ct["accession"], 2**40)[0] == 422
        code, text = attempt("DG0000000000", ct_slot["id"])
        assert code == 404
        assert attempt(ct["accession"], ct_slot["id"])[0] == 201
        code, text = attempt(other["accession"], ct_slot["id"])
        assert code == 409 and "约满" in text
        # Emergency orders need no slot, but may be booked.
        assert attempt(emergency["accession"], free_slots(hub, modality="CT")[0]["id"])[0] == 201

        ok(c.post(f"{API}/orders/{other['accession']}/cancel", json={"reason": "重复"}))
        code, text = attempt(other["accession"], free_slots(hub, modality="CT")[0]["id"])
        assert code == 409 and "已取消" in text
        assert c.get(f"{API}/orders/{other['accession']}/slip.pdf").status_code == 409

    with hub.client(hub.token(Role.REGISTRAR, "xianhu")) as c:
        r = c.post(f"{API}/orders/{ct['accession']}/appointment/cancel", json={"reason": "x"})
        assert r.status_code == 403
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        r = c.post(f"{API}/orders/{ct['accession']}/appointment", json={"slot_id": "x"})
        assert r.status_code == 403
        assert len(ok(c.get(f"{API}/orders/{ct['accession']}/appointments"))) == 1


def test_cancelling_an_order_releases_its_slot(hub: RunningHub) -> None:
    load_catalogue(hub)
    create_room(hub, code="US1", modality="US", station_ae="US1")
    generate_slots(hub, room="US1", capacity=2, start="08:00", end="08:30")
    patient = create_patient(hub)
    order = create_order(hub, patient["patient_id"], procedure_code="US-ABD")
    [slot] = free_slots(hub)
    book(hub, order["accession"], slot["id"])
    assert free_slots(hub)[0]["free"] == 1
    with hub.client(registrar(hub)) as c:
        ok(c.post(f"{API}/orders/{order['accession']}/cancel", json={"reason": "患者未到"}))
        [appointment] = ok(c.get(f"{API}/orders/{order['accession']}/appointments"))
    assert appointment["status"] == "cancelled" and "患者未到" in appointment["reason"]
    assert free_slots(hub)[0]["free"] == 2
    cancelled = get_order(hub, order["accession"])
    assert cancelled["status"] == "cancelled" and cancelled["scheduled_at"] is None


def test_capacity_holds_under_concurrent_bookings(hub: RunningHub) -> None:
    load_catalogue(hub)
    create_room(hub, code="DR1", modality="DX", station_ae="DR1")
    generate_slots(hub, room="DR1", capacity=3, start="09:00", end="09:15", interval=15)
    [slot] = free_slots(hub)
    patient = create_patient(hub)
    accessions = [
        create_order(hub, patient["patient_id"], procedure_code="DX-CHEST")["accession"]
        for _ in range(8)
    ]
    token = registrar(hub)
    codes: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(accessions))

    def attempt(accession: str) -> None:
        with hub.client(token) as c:
            start.wait()
            r = c.post(f"{API}/orders/{accession}/appointment", json={"slot_id": slot["id"]})
        with lock:
            codes.append(r.status_code)

    workers = [threading.Thread(target=attempt, args=(a,)) for a in accessions]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(codes) == [201] * 3 + [409] * 5
    [full] = free_slots(hub, free_only="false")
    assert (full["booked"], full["free"]) == (3, 0)
    statuses = [get_order(hub, a)["status"] for a in accessions]
    assert statuses.count("scheduled") == 3 and statuses.count("registered") == 5
