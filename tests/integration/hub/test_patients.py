"""Patients over HTTP: registration with identity cards, duplicate warnings, search,
changes, and the audit trail of reads and writes."""

from __future__ import annotations

import json
from datetime import date

from hub.security.roles import Role
from tests.integration.hub.factories import (
    API,
    audit_rows,
    create_order,
    create_patient,
    get_order,
    id_card,
    load_catalogue,
    ok,
    registrar,
)
from tests.support.hub import RunningHub


def test_register_with_identity_card(hub: RunningHub) -> None:
    card = id_card(date(1975, 3, 8), sequence=232)  # even: a woman
    patient = create_patient(
        hub, patient_id="GX1001", name="欧阳娜娜", sex=None, birth_date=None, id_card=card,
        phone="138 0771 1234",
    )  # fmt: skip
    assert patient["pinyin"] == "ouyangnana"
    assert patient["pinyin_initials"] == "oynn"
    assert patient["sex"] == "F"
    assert patient["birth_date"] == "1975-03-08"
    assert patient["phone"] == "13807711234"
    assert patient["id_card"] == "*" * 14 + card[-4:]
    assert card not in json.dumps(patient)
    assert patient["age"].endswith("岁")

    rows = audit_rows(hub, patient_id="GX1001")
    assert [(r["action"], r["resource"], r["role"]) for r in rows] == [
        ("create", "patient", "registrar")
    ]
    assert card not in json.dumps(rows)


def test_invalid_identity_cards_are_refused_with_a_sentence(hub: RunningHub) -> None:
    good = id_card(date(1990, 1, 2))
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    token = registrar(hub)
    with hub.client(token) as c:
        for card, words in [
            (wrong_check, "校验位"),
            (good[:-1], "18位"),
            ("45010319900230123X", "出生日期"),
            ("99010319900102123X", "地区码"),
        ]:
            r = c.post(
                f"{API}/patients",
                json={"patient_id": "X1", "name": "李四", "id_card": card},
            )
            assert r.status_code == 400, r.text
            assert words in r.json()["detail"]
        r = c.post(
            f"{API}/patients",
            json={"patient_id": "X1", "name": "李四", "id_card": good, "birth_date": "1990-01-03"},
        )
        assert r.status_code == 400
        assert "不符" in r.json()["detail"]
        r = c.post(
            f"{API}/patients", json={"patient_id": "X1", "name": "李四", "birth_date": "2999-01-01"}
        )
        assert r.status_code == 400 and "出生日期" in r.json()["detail"]
        r = c.post(f"{API}/patients", json={"patient_id": "X 1", "name": "李四"})
        assert r.status_code == 400 and "病历号" in r.json()["detail"]
        r = c.post(f"{API}/patients", json={"patient_id": "X1", "name": "李^四"})
        assert r.status_code == 400 and "姓名" in r.json()["detail"]
        assert c.get(f"{API}/patients/X1").status_code == 404


def test_possible_duplicates_need_confirmation(hub: RunningHub) -> None:
    card = id_card(date(1962, 11, 30), sequence=457)
    first = create_patient(
        hub, patient_id="D1", name="王芳", birth_date="1962-11-30", phone="13900000001",
        id_card=card, sex="M",
    )  # fmt: skip
    token = registrar(hub)
    with hub.client(token) as c:
        cases = [
            ({"name": "王小芳", "id_card": card}, ["id_card"]),
            ({"name": "王芳", "birth_date": "1962-11-30"}, ["name_birth_date"]),
            ({"name": "王芳", "phone": "139-0000-0001"}, ["name_phone"]),
        ]
        for number, (fields, matched) in enumerate(cases):
            body = {"patient_id": f"D2{number}", **fields}
            r = c.post(f"{API}/patients", json=body)
            assert r.status_code == 409, r.text
            answer = r.json()
            assert "重复" in answer["detail"]
            [candidate] = answer["candidates"]
            assert candidate["patient_id"] == first["patient_id"]
            assert candidate["matched_on"] == matched
            assert candidate["id_card"] == "*" * 14 + card[-4:]
            assert card not in r.text
        # The number is taken outright: no confirmation helps.
        r = c.post(
            f"{API}/patients", json={"patient_id": "D1", "name": "赵六", "confirm_duplicate": True}
        )
        assert r.status_code == 409 and "已存在" in r.json()["detail"]
        assert "candidates" not in r.json()
    confirmed = create_patient(
        hub, patient_id="D3", name="王芳", birth_date="1962-11-30", confirm_duplicate=True
    )
    assert confirmed["patient_id"] == "D3"

    # Candidates shown in a warning count as reads of their data.
    reads = audit_rows(hub, patient_id="D1", action="read")
    assert len(reads) == 3 and {r["detail"] for r in reads} == {"duplicate warning"}
    [created] = audit_rows(hub, patient_id="D3", action="create")
    assert json.loads(created["detail"]) == {"duplicate_confirmed": True}


def test_search_by_every_key_and_reads_are_audited(hub: RunningHub) -> None:
    card = id_card(date(2001, 7, 1), sequence=13)
    zhang = create_patient(
        hub, patient_id="S100", name="张三丰", phone="13700000000", id_card=card,
        birth_date=None, sex=None,
    )  # fmt: skip
    create_patient(hub, patient_id="S101", name="张三", birth_date="1950-01-01")
    create_patient(hub, patient_id="S102", name="曾志伟", birth_date="1951-01-01")
    create_patient(hub, patient_id="S103", name="李雷", birth_date="1952-01-01")
    clinician = hub.token(Role.CLINICIAN)

    def ids(**params: object) -> list[str]:
        with hub.client(clinician) as c:
            page = ok(c.get(f"{API}/patients", params=params))
        return [p["patient_id"] for p in page["data"]]

    assert ids(patient_id="S100") == ["S100"]
    assert sorted(ids(name="张三")) == ["S100", "S101"]
    assert ids(pinyin="zhangsanf") == ["S100"]
    assert ids(pinyin="zeng") == ["S102"]  # 曾 as a surname reads zeng
    assert sorted(ids(initials="zs")) == ["S100", "S101"]
    assert ids(phone="137-0000-0000") == ["S100"]
    assert ids(id_card=card.lower()) == ["S100"]
    assert ids(q=card) == ["S100"]
    assert ids(q="李") == ["S103"]
    assert ids(q="zzw") == ["S102"]
    assert ids(q="S103") == ["S103"]
    assert ids(q="13700000000") == ["S100"]
    assert ids(q="nobody") == []
    with hub.client(clinician) as c:
        page = ok(c.get(f"{API}/patients", params={"initials": "zs", "limit": 1}))
        assert page["count"] == 2 and len(page["data"]) == 1
        r = c.get(f"{API}/patients")
        assert r.status_code == 400 and "查询条件" in r.json()["detail"]
        assert c.get(f"{API}/patients", params={"id_card": "123"}).status_code == 400
        one = ok(c.get(f"{API}/patients/S100"))
        assert one["name"] == zhang["name"] and one["id_card"].endswith(card[-4:])
        r = c.get(f"{API}/patients/NOPE")
        assert r.status_code == 404 and "不存在" in r.json()["detail"]

    reads = audit_rows(hub, patient_id="S100", action="read")
    assert reads and all(r["actor"].startswith("clinician") for r in reads)
    # Searches that showed S100: patient_id, name, pinyin, initials, phone, id_card, q×2.
    assert len([r for r in reads if r["detail"] == "search"]) == 8
    assert len([r for r in reads if r["detail"] == ""]) == 1


def test_update_is_audited_and_reaches_open_orders(hub: RunningHub) -> None:
    load_catalogue(hub)
    patient = create_patient(hub, patient_id="U1", name="刘备", birth_date="1961-06-01")
    order = create_order(hub, patient["patient_id"])
    card = id_card(date(1961, 6, 1), sequence=11)
    with hub.client(registrar(hub)) as c:
        body = {"name": "刘 玄德", "phone": "0771-5861234", "id_card": card}
        changed = ok(c.patch(f"{API}/patients/U1", json=body))
        assert changed["name"] == "刘 玄德"
        assert changed["pinyin"] == "liuxuande" and changed["pinyin_initials"] == "lxd"
        assert changed["phone"] == "07715861234"
        assert changed["sex"] == "M"
        # Nothing given, nothing changed.
        assert ok(c.patch(f"{API}/patients/U1", json={}))["updated_at"] == changed["updated_at"]
        r = c.patch(f"{API}/patients/U1", json={"id_card": "450103196106010119"})
        assert r.status_code == 400
        assert c.patch(f"{API}/patients/NOPE", json={"name": "x"}).status_code == 404
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        assert c.patch(f"{API}/patients/U1", json={"name": 5}).status_code == 403

    after = get_order(hub, order["accession"])
    assert after["patient_name"] == "刘 玄德"
    assert after["change_seq"] > order["change_seq"]

    [update] = audit_rows(hub, patient_id="U1", action="update")
    detail = json.loads(update["detail"])
    assert detail["changed"]["name"] == ["刘备", "刘 玄德"]
    assert detail["changed"]["id_card"] == ["", "*" * 14 + card[-4:]]
    assert card not in update["detail"]

    # A second patient taking the same card is warned about U1.
    with hub.client(registrar(hub)) as c:
        other = create_patient(hub, patient_id="U2", name="张飞")
        r = c.patch(f"{API}/patients/{other['patient_id']}", json={"id_card": card})
        assert r.status_code == 409
        assert [x["patient_id"] for x in r.json()["candidates"]] == ["U1"]
        r = c.patch(
            f"{API}/patients/{other['patient_id']}",
            json={"id_card": card, "confirm_duplicate": True},
        )
        assert r.status_code == 200


def test_only_registrars_write_and_clinical_staff_read(hub: RunningHub) -> None:
    create_patient(hub, patient_id="R1", name="孙权")
    for role in (Role.TECHNICIAN, Role.CLINICIAN, Role.IT_ADMIN, Role.AUDITOR):
        with hub.client(hub.token(role)) as c:
            assert c.post(f"{API}/patients", json={"bad": True}).status_code == 403
    for role in (Role.IT_ADMIN, Role.AUDITOR):
        with hub.client(hub.token(role)) as c:
            assert c.get(f"{API}/patients/R1").status_code == 403
    with hub.client(hub.token(Role.RADIOLOGIST)) as c:
        assert ok(c.get(f"{API}/patients/R1"))["name"] == "孙权"
