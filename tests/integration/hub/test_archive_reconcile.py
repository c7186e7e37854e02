"""Studies that match no order: listed for reconciliation, matched by hand or later by
themselves, audited, counted in /metrics — through real HTTP."""

from __future__ import annotations

from pathlib import Path

from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from hub.security.roles import Role
from tests.support.dicom_files import make_series
from tests.support.hub import RunningHub
from tests.support.hub_orders import make_order

UNMATCHED = "/api/v1/archive/unmatched"


def store(hub: RunningHub, campus: str, datasets: list[Dataset]) -> None:
    web = DICOMwebClient(
        url=hub.base_url + "/api/v1/dicomweb",
        headers={"Authorization": f"Bearer {hub.device_token(campus)}"},
    )
    answer = web.store_instances(datasets)
    assert len(answer.ReferencedSOPSequence) == len(datasets)


def metric(hub: RunningHub, line_start: str) -> str:
    with hub.client() as c:
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return next(line for line in r.text.splitlines() if line.startswith(line_start))


def test_unmatched_study_listed_then_matched_by_hand(hub: RunningHub, tmp_path: Path) -> None:
    series = make_series(tmp_path, 2, accession="TYPO123", patient_id="P777", patient_name="王^五")
    study_uid = series[0].StudyInstanceUID
    store(hub, "dongge", series)
    assert metric(hub, 'pacs_hub_unmatched_studies{campus="dongge"}').endswith(" 1")
    assert metric(hub, 'pacs_hub_archive_instances_total{campus="dongge"}').endswith(" 2")
    assert "P777" not in metric(hub, "pacs_hub_edge_backlog")

    registrar = hub.token(Role.REGISTRAR, "dongge")
    with hub.client(registrar) as c:
        listed = c.get(UNMATCHED).json()
    assert listed["count"] == 1
    study = listed["data"][0]
    assert (study["study_uid"], study["accession"], study["patient_id"]) == (
        study_uid,
        "TYPO123",
        "P777",
    )
    assert (study["num_instances"], study["modalities"], study["order_accession"]) == (
        2,
        ["CT"],
        None,
    )
    with hub.client(hub.token(Role.REGISTRAR, "xianhu")) as c:
        assert c.get(UNMATCHED).json()["count"] == 0
        assert c.get(UNMATCHED, params={"campus": "dongge"}).status_code == 403
    with hub.client(hub.token(Role.CLINICIAN)) as c:
        assert c.get(UNMATCHED).status_code == 403

    order = make_order(hub.ctx, patient_id="P777", name="王五")
    elsewhere = make_order(hub.ctx, campus="xianhu")
    path = f"/api/v1/archive/studies/{study_uid}/match"
    with hub.client(registrar) as c:
        assert c.post(path, json={"accession": "NOPE"}).status_code == 404
        assert c.post(path, json={"accession": elsewhere.accession}).status_code == 404
        r = c.post(path, json={"accession": order.accession})
        assert r.status_code == 200, r.text
        assert r.json()["order_accession"] == order.accession
        assert c.get(UNMATCHED).json()["count"] == 0
    assert metric(hub, 'pacs_hub_unmatched_studies{campus="dongge"}').endswith(" 0")

    with hub.client(hub.token(Role.CLINICIAN, "dongge")) as c:
        r = c.get("/api/v1/archive/studies", params={"accession": order.accession})
        assert [s["study_uid"] for s in r.json()["data"]] == [study_uid]
        assert c.get("/api/v1/archive/studies").status_code == 400
    with hub.client(hub.token(Role.AUDITOR)) as c:
        trail = c.get("/api/v1/audit", params={"patient_id": "P777"}).json()["data"]
    actions = [(t["action"], t["resource"]) for t in reversed(trail)]
    assert actions[0] == ("create", "archive_instances")  # the edge's upload
    assert ("read", "archive_study") in actions
    assert actions[-2:] == [("update", "archive_study"), ("read", "archive_study")]


def test_late_order_and_worklist_study_uid_match_by_themselves(
    hub: RunningHub, tmp_path: Path
) -> None:
    early = make_series(tmp_path / "a", 2, accession="LATE0001")
    store(hub, "xianhu", early[:1])
    admin = hub.token(Role.IT_ADMIN, "xianhu")
    with hub.client(admin) as c:
        assert c.get(UNMATCHED).json()["count"] == 1
    make_order(hub.ctx, campus="xianhu", accession="LATE0001", patient_id="P0001")
    store(hub, "xianhu", early[1:])  # the next instance finds the order registered since

    # No accession in the images, but the Study Instance UID the worklist gave them.
    order = make_order(hub.ctx, campus="xianhu", patient_id="P0001")
    from_worklist = make_series(tmp_path / "b", 1, accession="")
    from_worklist[0].StudyInstanceUID = order.study_uid
    store(hub, "xianhu", from_worklist)
    with hub.client(admin) as c:
        assert c.get(UNMATCHED).json()["count"] == 0
        found = c.get("/api/v1/archive/studies", params={"accession": order.accession}).json()
    assert [s["study_uid"] for s in found["data"]] == [order.study_uid]


def test_matching_another_patients_order_needs_a_confirmation(
    hub: RunningHub, tmp_path: Path
) -> None:
    series = make_series(tmp_path, 1, accession="", patient_id="P900", patient_name="李^四")
    study_uid = series[0].StudyInstanceUID
    store(hub, "dongge", series)
    order = make_order(hub.ctx, patient_id="P901", name="张三丰")
    path = f"/api/v1/archive/studies/{study_uid}/match"
    with hub.client(hub.token(Role.REGISTRAR, "dongge")) as c:
        refused = c.post(path, json={"accession": order.accession})
        assert refused.status_code == 409
        assert "P900" in refused.json()["detail"] and "P901" in refused.json()["detail"]
        assert c.get(UNMATCHED).json()["count"] == 1  # nothing changed
        r = c.post(path, json={"accession": order.accession, "confirm_patient_mismatch": True})
        assert r.status_code == 200, r.text
        assert r.json()["order_accession"] == order.accession
    with hub.client(hub.token(Role.AUDITOR)) as c:
        trail = c.get("/api/v1/audit", params={"patient_id": "P900"}).json()["data"]
    assert any('"patient_mismatch_confirmed": true' in t["detail"] for t in trail)


def test_images_with_another_patients_id_are_not_linked_by_accession(
    hub: RunningHub, tmp_path: Path
) -> None:
    order = make_order(hub.ctx, patient_id="P910", name="赵六")
    # The modality typed the right accession number but another patient's ID.
    series = make_series(tmp_path, 1, accession=order.accession, patient_id="P911")
    store(hub, "dongge", series)
    with hub.client(hub.token(Role.REGISTRAR, "dongge")) as c:
        listed = c.get(UNMATCHED).json()
    assert [s["study_uid"] for s in listed["data"]] == [series[0].StudyInstanceUID]
