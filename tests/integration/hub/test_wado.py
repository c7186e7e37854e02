"""WADO-RS retrieve from the hub's archive (GET /api/v1/dicomweb/studies/…), through real
HTTP: instances go in by STOW-RS, come back with the real dicomweb-client, and raw
answers are read with httpx and split by their boundary here."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from requests.exceptions import HTTPError
from sqlmodel import Session, col, select

from hub.models.audit import AuditEvent
from hub.security.roles import ARCHIVE_READERS, Role
from shared.sync import EVENTS_PATH, STOW_PATH
from tests.support.dicom_files import make_compressed, make_series
from tests.support.hub import RunningHub, start_hub
from tests.support.net import free_port

JPEG_LS = "1.2.840.10008.1.2.4.80"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DICOMWEB = "/api/v1/dicomweb"
MULTIPART_DICOM = 'multipart/related; type="application/dicom"'


def client(hub: RunningHub, token: str) -> DICOMwebClient:
    return DICOMwebClient(url=hub.base_url + DICOMWEB, headers={"Authorization": f"Bearer {token}"})


def encoded(ds: Dataset) -> bytes:
    """The bytes dicomweb-client sends for ``ds`` (what the hub stores)."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return buffer.getvalue()


def parts(r: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """(headers, body) of each part of a multipart answer."""
    media, *params = (p.strip() for p in r.headers["content-type"].split(";"))
    assert media == "multipart/related", r.headers["content-type"]
    found = dict(p.split("=", 1) for p in params)
    assert found["type"].strip('"') == "application/dicom"
    delimiter = b"--" + found["boundary"].strip('"').encode()
    body = r.content
    assert body.startswith(delimiter + b"\r\n") and body.endswith(b"\r\n" + delimiter + b"--\r\n")
    out: list[tuple[dict[str, str], bytes]] = []
    for chunk in body[len(delimiter) + 2 : -len(delimiter) - 6].split(
        b"\r\n" + delimiter + b"\r\n"
    ):
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode("ascii").split("\r\n"))
        out.append(({k.lower(): v for k, v in headers.items()}, data))
    return out


def study_url(ds: Dataset) -> str:
    return f"{DICOMWEB}/studies/{ds.StudyInstanceUID}"


def instance_url(ds: Dataset) -> str:
    return f"{study_url(ds)}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def wado_reads(hub: RunningHub, actor: str) -> list[AuditEvent]:
    with Session(hub.ctx.engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(
                AuditEvent.actor == actor,
                AuditEvent.action == "read",
                AuditEvent.resource == "archive_instances",
            )
            .order_by(col(AuditEvent.id))
        ).all()
    return list(rows)


def username(hub: RunningHub, token: str) -> str:
    with hub.client(token) as c:
        return str(c.get("/api/v1/auth/me").json()["username"])


@pytest.fixture
def stored(hub: RunningHub, tmp_path: Path) -> list[Dataset]:
    """One study in dongge, stored by its edge: a CT series of 3 instances, and a
    series of one JPEG-LS instance (kept compressed)."""
    ct = make_series(tmp_path / "ct", 3, patient_id="P0042", patient_name="王^五")
    _, jls = make_compressed(tmp_path / "c", JPEG_LS)
    jls.StudyInstanceUID = ct[0].StudyInstanceUID
    jls.PatientID = "P0042"
    datasets = [*ct, jls]
    answer = client(hub, hub.device_token("dongge")).store_instances(datasets)
    assert "FailedSOPSequence" not in answer
    return datasets


def test_retrieve_study_series_instance_as_stored(hub: RunningHub, stored: list[Dataset]) -> None:
    ct, jls = stored[:3], stored[3]
    token = hub.token(Role.RADIOLOGIST, "dongge")
    web = client(hub, token)

    study = web.retrieve_study(ct[0].StudyInstanceUID)
    assert sorted(ds.SOPInstanceUID for ds in study) == sorted(ds.SOPInstanceUID for ds in stored)
    series = web.retrieve_series(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID)
    assert [ds.SOPInstanceUID for ds in series] == [ds.SOPInstanceUID for ds in ct]
    assert [encoded(ds) for ds in series] == [encoded(ds) for ds in ct]
    one = web.retrieve_instance(jls.StudyInstanceUID, jls.SeriesInstanceUID, jls.SOPInstanceUID)
    assert one.file_meta.TransferSyntaxUID == JPEG_LS  # not transcoded
    assert one.PixelData == jls.PixelData

    # The raw answer: each part is the stored file, byte for byte, with its syntax.
    sent = {ds.SOPInstanceUID: (encoded(ds), ds.file_meta.TransferSyntaxUID) for ds in stored}
    with hub.client(token) as c:
        r = c.get(study_url(jls), headers={"Accept": f"{MULTIPART_DICOM}; transfer-syntax=*"})
    assert r.status_code == 200, r.text
    got = parts(r)
    assert len(got) == len(stored)
    for headers, data in got:
        sop = headers["content-id"].strip("<>")
        assert data == sent[sop][0]
        assert headers["content-type"] == f"application/dicom; transfer-syntax={sent[sop][1]}"
        assert int(headers["content-length"]) == len(data)

    # One read record per retrieve, naming what was read and how many instances.
    reads = wado_reads(hub, username(hub, token))
    details = [json.loads(e.detail) for e in reads]
    assert [(d["series"], d["instance"], d["instances"]) for d in details] == [
        (None, None, 4),
        (ct[0].SeriesInstanceUID, None, 3),
        (jls.SeriesInstanceUID, jls.SOPInstanceUID, 1),
        (None, None, 4),
    ]
    assert {(e.resource_id, e.patient_id, e.role) for e in reads} == {
        (ct[0].StudyInstanceUID, "P0042", "radiologist")
    }


def test_stow_retrieve_urls_resolve(hub: RunningHub, tmp_path: Path) -> None:
    """The RetrieveURLs of a STOW answer lead to the instances. (Stored with httpx, as the
    edge does: dicomweb-client sends ``Host`` without the port, so the URLs the hub
    builds from it would name port 80.)"""
    datasets = make_series(tmp_path, 2)
    boundary = uuid.uuid4().hex
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + encoded(ds) + b"\r\n"
        for ds in datasets
    )
    with hub.client(hub.device_token("dongge")) as c:
        r = c.post(
            STOW_PATH,
            content=body + f"--{boundary}--\r\n".encode(),
            headers={"Content-Type": f"{MULTIPART_DICOM}; boundary={boundary}"},
        )
    assert r.status_code == 200, r.text
    answer = Dataset.from_json(r.json())
    token = hub.token(Role.CLINICIAN, "dongge")
    with hub.client(token) as c:
        r = c.get(answer.RetrieveURL)
        assert r.status_code == 200, r.text
        assert [data for _, data in parts(r)] == [encoded(ds) for ds in datasets]
        for item, ds in zip(answer.ReferencedSOPSequence, datasets, strict=True):
            r = c.get(item.RetrieveURL)
            assert r.status_code == 200, r.text
            assert [data for _, data in parts(r)] == [encoded(ds)]


def test_unknown_uids_answer_404(hub: RunningHub, stored: list[Dataset], tmp_path: Path) -> None:
    ds = stored[0]
    (other,) = make_series(tmp_path / "other", 1)
    client(hub, hub.device_token("dongge")).store_instances([other])
    token = hub.token(Role.TECHNICIAN, "dongge")
    study, series = ds.StudyInstanceUID, ds.SeriesInstanceUID
    with hub.client(token) as c:
        for path, named in [
            (f"{DICOMWEB}/studies/1.2.3.999", "1.2.3.999"),
            (f"{DICOMWEB}/studies/{study}/series/1.2.3.999", "1.2.3.999"),
            (f"{DICOMWEB}/studies/{study}/series/{series}/instances/1.2.3.999", "1.2.3.999"),
            # a series and an instance of another study
            (
                f"{DICOMWEB}/studies/{study}/series/{other.SeriesInstanceUID}",
                other.SeriesInstanceUID,
            ),
            (
                f"{DICOMWEB}/studies/{study}/series/{series}/instances/{other.SOPInstanceUID}",
                other.SOPInstanceUID,
            ),
        ]:
            r = c.get(path)
            assert r.status_code == 404, (path, r.text)
            assert r.headers["content-type"] == "application/json"
            assert named in r.json()["detail"] and " / " in r.json()["detail"]
    # Studies of a campus the person does not work at are not found either.
    with hub.client(hub.token(Role.RADIOLOGIST, "xianhu")) as c:
        r = c.get(study_url(ds))
    assert r.status_code == 404
    assert "院区" in r.json()["detail"]
    assert wado_reads(hub, username(hub, token)) == []


def test_accept_negotiation(hub: RunningHub, stored: list[Dataset]) -> None:
    ct, jls = stored[0], stored[3]
    token = hub.token(Role.SENIOR_RADIOLOGIST, "dongge")
    with hub.client(token) as c:
        for accept, code in [
            ("*/*", 200),
            (MULTIPART_DICOM, 200),
            (f"{MULTIPART_DICOM}; transfer-syntax=*", 200),
            (f"multipart/related; type=application/dicom; transfer-syntax={EXPLICIT_LE}", 200),
            ("application/json, multipart/*;q=0.5", 200),
            ("application/dicom+json", 406),
            ('multipart/related; type="image/jpeg"', 406),
            (f"{MULTIPART_DICOM}; q=0", 406),
            (f"{MULTIPART_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.50", 406),
        ]:
            r = c.get(instance_url(ct), headers={"Accept": accept})
            assert r.status_code == code, (accept, r.text)
            if code == 406:
                assert r.headers["content-type"] == "application/json"
                assert "/" in r.json()["detail"]
            else:
                assert [data for _, data in parts(r)] == [encoded(ct)]
        # No Accept header at all.
        request = c.build_request("GET", instance_url(ct))
        del request.headers["accept"]
        assert c.send(request).status_code == 200
        # The study holds a JPEG-LS instance: Explicit VR Little Endian alone is refused
        # (the hub does not transcode), with it listed as well it is served.
        explicit = f"{MULTIPART_DICOM}; transfer-syntax={EXPLICIT_LE}"
        r = c.get(study_url(ct), headers={"Accept": explicit})
        assert r.status_code == 406 and JPEG_LS in r.json()["detail"]
        both = f"{explicit}, {MULTIPART_DICOM}; transfer-syntax={JPEG_LS}"
        assert len(parts(c.get(study_url(jls), headers={"Accept": both}))) == 4


def test_who_may_retrieve(hub: RunningHub, stored: list[Dataset]) -> None:
    url = study_url(stored[0])
    with hub.client() as c:
        r = c.get(url)
    assert r.status_code == 401 and "/" in r.json()["detail"]
    for role in Role:
        with hub.client(hub.token(role, "dongge")) as c:
            r = c.get(url)
        assert r.status_code == (200 if role in ARCHIVE_READERS else 403), (role, r.text)
    with pytest.raises(HTTPError) as refused:
        client(hub, hub.token(Role.AUDITOR)).retrieve_study(stored[0].StudyInstanceUID)
    assert refused.value.response is not None
    assert refused.value.response.status_code == 403
    # Edge gateways send images; they do not read them from the hub.
    with hub.client(hub.device_token("dongge")) as c:
        assert c.get(url).status_code == 401


def test_missing_archive_file_is_an_error_not_a_short_answer(
    hub: RunningHub, stored: list[Dataset]
) -> None:
    ds = stored[1]
    path = Path(hub.ctx.settings.archive_dir, ds.StudyInstanceUID, ds.SeriesInstanceUID)
    (path / f"{ds.SOPInstanceUID}.dcm").unlink()
    token = hub.token(Role.RADIOLOGIST, "dongge")
    with hub.client(token) as c:
        r = c.get(study_url(ds))
    assert r.status_code == 500
    assert ds.SOPInstanceUID in r.json()["detail"]
    assert wado_reads(hub, username(hub, token)) == []


def test_announced_instances_are_not_retrieved(hub: RunningHub, stored: list[Dataset]) -> None:
    """An instance an edge reported (``instance.new``) but has not sent is not served; an
    answer without it is marked partial."""
    ds = stored[0]
    sop, series = generate_uid(), generate_uid()
    payload = {
        "sop_uid": sop,
        "sop_class_uid": ds.SOPClassUID,
        "study_uid": ds.StudyInstanceUID,
        "series_uid": series,
        "transfer_syntax": EXPLICIT_LE,
        "patient_id": ds.PatientID,
        "patient_name": "王^五",
        "accession": ds.AccessionNumber,
        "modality": "CT",
        "series_number": 9,
        "instance_number": 1,
        "sha256": "ab" * 32,
        "size": 1234,
    }
    event = {
        "event_id": str(uuid.uuid4()),
        "kind": "instance.new",
        "subject": sop,
        "payload": payload,
        "created_at": datetime.now(UTC).isoformat(),
    }
    with hub.client(hub.device_token("dongge")) as c:
        assert c.post(EVENTS_PATH, json={"events": [event], "backlog": 0}).status_code == 200
    with hub.client(hub.token(Role.CLINICIAN, "dongge")) as c:
        for path in [
            f"{study_url(ds)}/series/{series}",
            f"{study_url(ds)}/series/{series}/instances/{sop}",
        ]:
            r = c.get(path)
            assert r.status_code == 404, (path, r.text)
            assert "尚未收到" in r.json()["detail"]
        r = c.get(study_url(ds))
    # the study's answer is partial, and says so (PS3.18: 206 with a Warning)
    assert r.status_code == 206
    assert r.headers["warning"].startswith('299 pacs-hub "1 of ')
    assert "not at the hub yet" in r.headers["warning"]
    assert sop not in {h["content-id"].strip("<>") for h, _ in parts(r)}
    assert len(parts(r)) == len(stored)
    # dicomweb-client takes a partial answer as it is
    held = client(hub, hub.token(Role.CLINICIAN, "dongge")).retrieve_study(ds.StudyInstanceUID)
    assert len(held) == len(stored)


def test_retrieve_urls_use_the_configured_public_address(tmp_path: Path) -> None:
    """With ``PACS_HUB_PUBLIC_URL`` the URLs do not depend on the ``Host`` a client sends:
    dicomweb-client's (without the port) gives URLs that resolve."""
    port = free_port()
    hub = start_hub(tmp_path / "hub", port=port, public_url=f"http://127.0.0.1:{port}")
    try:
        datasets = make_series(tmp_path / "s", 2)
        answer = client(hub, hub.device_token("dongge")).store_instances(datasets)
        assert answer.RetrieveURL == (
            f"http://127.0.0.1:{port}/api/v1/dicomweb/studies/{datasets[0].StudyInstanceUID}"
        )
        with hub.client(hub.token(Role.CLINICIAN, "dongge")) as c:
            r = c.get(answer.RetrieveURL)
            assert r.status_code == 200, r.text
            assert len(parts(r)) == 2
    finally:
        hub.stop()
