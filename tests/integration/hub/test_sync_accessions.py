"""The edges' accession high-water marks (POST /api/v1/sync/accessions), through real
HTTP on SQLite and PostgreSQL: the hub's counter is raised, never lowered, only by an
edge of the campus, with a sentence for a wrong number; the next registration continues
above the edge's number."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from hub.models.registration import AccessionCounter
from hub.security.roles import Role
from shared.sync import ACCESSIONS_PATH, MAX_ACCESSION_MARKS
from tests.integration.hub.factories import (
    audit_rows,
    create_order,
    create_patient,
    load_catalogue,
    local_today,
    ok,
    registrar,
)
from tests.support.hub import RunningHub


def number(sequence: int, prefix: str = "DG", days: int = 0) -> str:
    return f"{prefix}{local_today() + timedelta(days=days):%y%m%d}{sequence:04d}"


def mark(accession: str, days: int = 0) -> dict[str, str]:
    return {"day": (local_today() + timedelta(days=days)).isoformat(), "accession": accession}


def report(hub: RunningHub, token: str, *marks: dict[str, str]) -> Any:
    with hub.client(token) as c:
        return c.post(ACCESSIONS_PATH, json={"marks": list(marks)})


def counters(hub: RunningHub) -> dict[tuple[str, str], int]:
    with Session(hub.ctx.engine) as session:
        rows = session.exec(select(AccessionCounter)).all()
        return {(r.campus, r.day.isoformat()): r.last for r in rows}


def test_raises_never_lowers_and_registration_continues_above(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.services.accession_marks")
    load_catalogue(hub)
    patient = create_patient(hub)
    assert create_order(hub, patient["patient_id"])["accession"] == number(1)
    edge = hub.device_token("dongge")
    today = local_today().isoformat()
    tomorrow = (local_today() + timedelta(days=1)).isoformat()

    raised = ok(report(hub, edge, mark(number(57)), mark(number(12)), mark(number(3, days=1), 1)))
    assert raised == {
        "raised": [
            {"day": today, "previous": 1, "last": 57},
            {"day": tomorrow, "previous": 0, "last": 3},
        ]
    }
    assert counters(hub)[("dongge", today)] == 57
    logged = [
        r.getMessage() for r in caplog.records if "accession counter raised" in r.getMessage()
    ]
    assert len(logged) == 2 and "from 1 to 57" in logged[0] and number(57) in logged[0]

    # the same report again, and a lower number: nothing moves, nothing is logged
    assert ok(report(hub, edge, mark(number(57)))) == {"raised": []}
    assert ok(report(hub, edge, mark(number(40)))) == {"raised": []}
    assert ok(report(hub, edge)) == {"raised": []}
    assert counters(hub)[("dongge", today)] == 57
    assert len([r for r in caplog.records if "accession counter raised" in r.getMessage()]) == 2

    assert create_order(hub, patient["patient_id"])["accession"] == number(58)
    # the other campus's counter is its own
    other = create_order(hub, patient["patient_id"], campus="xianhu")
    assert other["accession"] == number(1, "XH")

    rows = audit_rows(hub, resource="accession_counter")
    assert {(r["action"], r["resource_id"]) for r in rows} == {
        ("raise", f"dongge/{today}"),
        ("raise", f"dongge/{tomorrow}"),
    }
    assert {r["role"] for r in rows} == {"device:edge"}


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (mark(number(9, "XH")), "not of campus dongge"),
        (mark(number(9), 1), "not of the day"),
        (mark(number(9, days=-1)), "not of the day"),
        (mark("DG2613400001"), "not in the hub's format"),
        (mark("DG26112601"), "not in the hub's format"),
        (mark("dg2611260001"), "not in the hub's format"),
    ],
)
def test_a_wrong_number_is_refused_with_a_sentence_and_nothing_is_raised(
    hub: RunningHub, bad: dict[str, str], words: str
) -> None:
    edge = hub.device_token("dongge")
    response = report(hub, edge, mark(number(30)), bad)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert words in detail and "检查号" in detail
    assert counters(hub) == {}


def test_only_an_edge_of_the_campus_may_report(hub: RunningHub) -> None:
    good = mark(number(30))
    assert report(hub, hub.token(Role.IT_ADMIN), good).status_code == 401
    assert report(hub, "pacsdev_not-a-real-token", good).status_code == 401
    # a 仙葫 gateway cannot move 东葛's counter
    refused = report(hub, hub.device_token("xianhu"), good)
    assert refused.status_code == 400 and "not of campus xianhu" in refused.json()["detail"]
    too_many = [mark(number(i + 1)) for i in range(MAX_ACCESSION_MARKS + 1)]
    assert report(hub, hub.device_token("dongge"), *too_many).status_code == 422
    assert counters(hub) == {}


def test_a_report_during_concurrent_registrations(hub: RunningHub) -> None:
    """Registrations before the raise keep 1, 2, …; those after continue above the mark;
    no number is handed out twice."""
    load_catalogue(hub)
    patient = create_patient(hub)
    token, edge = registrar(hub), hub.device_token("dongge")
    threads, per_thread = 4, 5
    taken: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def register() -> None:
        start.wait()
        with hub.client(token) as c:
            for _ in range(per_thread):
                body = {
                    "patient_id": patient["patient_id"],
                    "campus": "dongge",
                    "procedure_code": "DX-CHEST",
                    "category": "outpatient",
                }
                r = c.post("/api/v1/orders", json=body)
                with lock:
                    if r.status_code == 201:
                        taken.append(r.json()["accession"])
                    else:
                        errors.append(f"{r.status_code}: {r.text}")

    workers = [threading.Thread(target=register) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    ok(report(hub, edge, mark(number(100))))
    for w in workers:
        w.join(timeout=60)
    assert errors == []
    sequences = sorted(int(a[-4:]) for a in taken)
    assert len(set(sequences)) == threads * per_thread
    before = [s for s in sequences if s <= 100]
    after = [s for s in sequences if s > 100]
    assert before == list(range(1, len(before) + 1))
    assert after == list(range(101, 101 + len(after)))
    assert counters(hub)[("dongge", local_today().isoformat())] == max(sequences[-1], 100)
