"""Orders over HTTP: accession numbers (also under concurrency), edits, cancellation,
status history, listing, campus scoping, audit."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from hub.security.roles import Role
from shared.dicom.uid import is_valid_uid
from tests.integration.hub.factories import (
    API,
    audit_rows,
    create_order,
    create_patient,
    get_order,
    load_catalogue,
    local_today,
    ok,
    registrar,
)
from tests.support.hub import RunningHub, start_hub


def _prefix(campus: str = "DG") -> str:
    return f"{campus}{local_today():%y%m%d}"


def test_create_order_numbers_and_history(hub: RunningHub) -> None:
    load_catalogue(hub)
    patient = create_patient(hub, name="陈明", birth_date="1970-02-03")
    first = create_order(hub, patient["patient_id"], procedure_code="CT-CHEST")
    second = create_order(hub, patient["patient_id"], procedure_code="MR-HEAD")
    other = create_order(hub, patient["patient_id"], campus="xianhu", procedure_code="US-ABD")
    assert first["accession"] == _prefix() + "0001"
    assert second["accession"] == _prefix() + "0002"
    assert other["accession"] == _prefix("XH") + "0001"
    assert first["status"] == "registered" and first["status_label"] == "已登记"
    assert first["procedure_name"] == "胸部CT平扫"
    assert (first["modality"], first["body_part"]) == ("CT", "CHEST")
    assert first["category_label"] == "门诊"
    assert first["campus_name"] == "东葛"
    assert first["patient_name"] == "陈明"
    assert is_valid_uid(first["study_uid"]) and first["study_uid"] != second["study_uid"]
    assert first["scheduled_at"] is None
    assert second["change_seq"] > first["change_seq"]

    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        history = ok(c.get(f"{API}/orders/{first['accession']}/history"))
    assert [(h["from_status"], h["to_status"], h["reason"]) for h in history] == [
        ("", "registered", "登记")
    ]
    assert history[0]["to_label"] == "已登记"
    assert history[0]["actor"].startswith("registrar")

    rows = audit_rows(hub, patient_id=patient["patient_id"], resource="order")
    assert [r["action"] for r in rows if r["resource_id"] == first["accession"]] == [
        "read",
        "create",
    ]


def test_bad_references_are_explained(hub: RunningHub) -> None:
    load_catalogue(hub)
    patient = create_patient(hub)
    base = {"patient_id": patient["patient_id"], "campus": "dongge", "category": "outpatient"}
    with hub.client(registrar(hub)) as c:
        r = c.post(f"{API}/orders", json={**base, "procedure_code": "NOPE"})
        assert r.status_code == 404 and "检查项目" in r.json()["detail"]
        r = c.post(f"{API}/orders", json={**base, "procedure_code": "CT-HEAD", "patient_id": "NO"})
        assert r.status_code == 404 and "请先登记" in r.json()["detail"]
        r = c.post(f"{API}/orders", json={**base, "procedure_code": "CT-HEAD", "campus": "mars"})
        assert r.status_code == 400 and "院区" in r.json()["detail"]
        r = c.post(f"{API}/orders", json={**base, "procedure_code": "CT-HEAD", "category": "vip"})
        assert r.status_code == 422
        r = c.get(f"{API}/orders/DG0000000000")
        assert r.status_code == 404 and "不存在" in r.json()["detail"]
    with hub.client(hub.token(Role.IT_ADMIN)) as c:
        r = c.patch(f"{API}/catalogue/procedures/CT-HEAD", json={"active": False})
        assert ok(r)["active"] is False
    with hub.client(registrar(hub)) as c:
        r = c.post(f"{API}/orders", json={**base, "procedure_code": "CT-HEAD"})
        assert r.status_code == 400 and "停用" in r.json()["detail"]


def test_edit_and_cancel(hub: RunningHub) -> None:
    load_catalogue(hub)
    patient = create_patient(hub)
    order = create_order(hub, patient["patient_id"], procedure_code="CT-CHEST")
    accession = order["accession"]
    with hub.client(registrar(hub)) as c:
        r = c.patch(f"{API}/orders/{accession}", json={"clinical_info": "发热"})
        assert r.status_code == 400 and "原因" in r.json()["detail"]
        edited = ok(
            c.patch(
                f"{API}/orders/{accession}",
                json={
                    "reason": "临床医生改开增强",
                    "procedure_code": "CT-CHEST-CE",
                    "category": "inpatient",
                    "clinical_info": "肺结节复查",
                },
            )
        )
        assert edited["procedure_name"] == "胸部CT增强"
        assert edited["category"] == "inpatient" and edited["clinical_info"] == "肺结节复查"
        assert edited["change_seq"] > order["change_seq"]
        assert edited["status"] == "registered"

        r = c.post(f"{API}/orders/{accession}/cancel", json={"reason": "  "})
        assert r.status_code == 400 and "原因" in r.json()["detail"]
        cancelled = ok(c.post(f"{API}/orders/{accession}/cancel", json={"reason": "患者要求"}))
        assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "患者要求"
        again = c.post(f"{API}/orders/{accession}/cancel", json={"reason": "重复"})
        assert again.status_code == 409 and "已取消" in again.json()["detail"]
        r = c.patch(f"{API}/orders/{accession}", json={"reason": "x", "clinical_info": "y"})
        assert r.status_code == 409
        history = ok(c.get(f"{API}/orders/{accession}/history"))
    assert [(h["to_status"], h["reason"]) for h in history] == [
        ("registered", "登记"),
        ("cancelled", "患者要求"),
    ]
    [update] = audit_rows(hub, resource="order", action="update")
    detail = json.loads(update["detail"])
    assert detail["reason"] == "临床医生改开增强"
    assert detail["changed"]["procedure_code"] == ["CT-CHEST", "CT-CHEST-CE"]
    [cancel] = audit_rows(hub, resource="order", action="cancel")
    assert cancel["patient_id"] == patient["patient_id"]


def test_list_by_campus_date_status_patient(hub: RunningHub) -> None:
    load_catalogue(hub)
    a = create_patient(hub, name="甲")
    b = create_patient(hub, name="乙")
    o1 = create_order(hub, a["patient_id"])
    o2 = create_order(hub, b["patient_id"], category="emergency")
    o3 = create_order(hub, b["patient_id"], campus="xianhu")
    with hub.client(registrar(hub)) as c:
        ok(c.post(f"{API}/orders/{o1['accession']}/cancel", json={"reason": "重复开单"}))

    def accessions(token: str, **params: Any) -> list[str]:
        with hub.client(token) as c:
            return [o["accession"] for o in ok(c.get(f"{API}/orders", params=params))["data"]]

    everyone = hub.token(Role.RADIOLOGIST)
    assert accessions(everyone, campus="dongge") == [o1["accession"], o2["accession"]]
    assert accessions(everyone, date=local_today().isoformat()) == sorted(
        [o1["accession"], o2["accession"], o3["accession"]]
    )
    assert accessions(everyone, date="2000-01-01") == []
    with hub.client(everyone) as c:
        r = c.get(f"{API}/orders", params={"date": "9999-12-31"})
        assert r.status_code == 400 and "日期" in r.json()["detail"]
    assert accessions(everyone, status="registered", campus="dongge") == [o2["accession"]]
    assert sorted(accessions(everyone, patient_id=b["patient_id"])) == sorted(
        [o2["accession"], o3["accession"]]
    )
    # Emergency orders without a slot are valid for the worklist: registered, no time.
    emergency = get_order(hub, o2["accession"])
    assert emergency["category_label"] == "急诊" and emergency["scheduled_at"] is None

    xianhu_only = hub.token(Role.CLINICIAN, "xianhu")
    assert accessions(xianhu_only) == [o3["accession"]]
    with hub.client(xianhu_only) as c:
        assert c.get(f"{API}/orders", params={"campus": "dongge"}).status_code == 403
        assert c.get(f"{API}/orders/{o2['accession']}").status_code == 403
        r = c.get(f"{API}/orders", params={"status": "lost"})
        assert r.status_code == 422
    with hub.client(hub.token(Role.REGISTRAR, "xianhu")) as c:
        body = {"patient_id": a["patient_id"], "campus": "dongge", "procedure_code": "CT-HEAD"}
        r = c.post(f"{API}/orders", json={**body, "category": "outpatient"})
        assert r.status_code == 403 and "院区" in r.json()["detail"]
        r = c.post(f"{API}/orders/{o2['accession']}/cancel", json={"reason": "x"})
        assert r.status_code == 403
    with hub.client(hub.token(Role.AUDITOR)) as c:
        assert c.get(f"{API}/orders").status_code == 403
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        assert c.post(f"{API}/orders", json={}).status_code == 403

    reads = audit_rows(hub, patient_id=b["patient_id"], action="read", resource="order")
    assert reads, "listing orders is audited per patient shown"


def test_concurrent_registrations_get_distinct_consecutive_numbers(hub: RunningHub) -> None:
    load_catalogue(hub)
    patient = create_patient(hub)
    token = registrar(hub)
    threads, per_thread = 4, 6
    results: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def register(campus: str) -> None:
        start.wait()
        with hub.client(token) as c:
            for _ in range(per_thread):
                body = {
                    "patient_id": patient["patient_id"],
                    "campus": campus,
                    "procedure_code": "DX-CHEST",
                    "category": "physical_exam",
                }
                r = c.post(f"{API}/orders", json=body)
                with lock:
                    if r.status_code == 201:
                        results.append(r.json()["accession"])
                    else:
                        errors.append(f"{r.status_code} {r.text}")

    workers = [
        threading.Thread(target=register, args=("dongge" if i % 2 else "xianhu",))
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    half = threads // 2 * per_thread
    for prefix in (_prefix("DG"), _prefix("XH")):
        mine = sorted(a for a in results if a.startswith(prefix))
        assert mine == [f"{prefix}{n:04d}" for n in range(1, half + 1)]


def test_uid_root_is_used_for_study_uids(tmp_path: Path) -> None:
    running = start_hub(tmp_path / "hub", uid_root="1.2.156.600734.9")
    try:
        load_catalogue(running)
        patient = create_patient(running)
        order = create_order(running, patient["patient_id"])
        assert re.fullmatch(r"1\.2\.156\.600734\.9\.[1-9][0-9]*", order["study_uid"])
    finally:
        running.stop()
