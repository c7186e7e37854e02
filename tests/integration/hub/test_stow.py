"""STOW-RS into the hub's archive (POST /api/v1/dicomweb/studies), through real HTTP:
the real dicomweb-client, and raw multipart bodies for what that client cannot send."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from pathlib import Path

import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from requests.exceptions import HTTPError
from sqlmodel import Session, select

from hub.models.archive import ArchiveInstance, ArchiveStudy
from hub.security.roles import Role
from shared.sync import STOW_PATH
from tests.support.dicom_files import make_compressed, make_series
from tests.support.hub import RunningHub, start_hub
from tests.support.hub_orders import make_order

JPEG_LS = "1.2.840.10008.1.2.4.80"
DEFLATED = "1.2.840.10008.1.2.1.99"
PROCESSING_FAILURE, CANNOT_UNDERSTAND, STUDY_MISMATCH = 0x0110, 0xC000, 0xA900
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary={}'


def client(hub: RunningHub, token: str) -> DICOMwebClient:
    return DICOMwebClient(
        url=hub.base_url + "/api/v1/dicomweb", headers={"Authorization": f"Bearer {token}"}
    )


def encoded(ds: Dataset) -> bytes:
    """The bytes dicomweb-client sends for ``ds``."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return buffer.getvalue()


def archived(hub: RunningHub, ds: Dataset) -> Path:
    parts = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID + ".dcm")
    return Path(hub.ctx.settings.archive_dir, *map(str, parts))


def index_rows(hub: RunningHub) -> dict[str, ArchiveInstance]:
    with Session(hub.ctx.engine) as s:
        return {r.sop_uid: r for r in s.exec(select(ArchiveInstance))}


def superseded(hub: RunningHub) -> list[Path]:
    return sorted((hub.ctx.settings.archive_dir / "superseded").iterdir())


def stored_uids(answer: Dataset) -> list[str]:
    return [i.ReferencedSOPInstanceUID for i in answer.get("ReferencedSOPSequence", [])]


def multipart(parts: list[tuple[bytes, dict[str, str]]], boundary: str) -> bytes:
    out = io.BytesIO()
    for body, headers in parts:
        out.write(f"--{boundary}\r\n".encode())
        for name, value in {"Content-Type": "application/dicom", **headers}.items():
            out.write(f"{name}: {value}\r\n".encode())
        out.write(b"\r\n" + body + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def post_raw(hub: RunningHub, token: str, body: bytes, content_type: str) -> httpx.Response:
    with hub.client(token) as c:
        return c.post(STOW_PATH, content=body, headers={"Content-Type": content_type})


def test_store_repeat_and_replace(hub: RunningHub, tmp_path: Path) -> None:
    order = make_order(hub.ctx)
    series = make_series(
        tmp_path / "ct",
        3,
        accession=order.accession,
        patient_id=order.patient_id,
        patient_name="张^三",
    )
    _, jpeg_ls = make_compressed(tmp_path / "c", JPEG_LS)
    _, deflated = make_compressed(tmp_path / "c", DEFLATED)
    datasets = [*series, jpeg_ls, deflated]
    web = client(hub, hub.device_token("dongge"))

    answer = web.store_instances(datasets)
    assert stored_uids(answer) == [ds.SOPInstanceUID for ds in datasets]
    assert "FailedSOPSequence" not in answer
    assert answer.ReferencedSOPSequence[0].RetrieveURL.endswith(
        f"/studies/{series[0].StudyInstanceUID}/series/{series[0].SeriesInstanceUID}"
        f"/instances/{series[0].SOPInstanceUID}"
    )
    rows = index_rows(hub)
    for ds in datasets:
        path = archived(hub, ds)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert path.read_bytes() == encoded(ds)
        row = rows[ds.SOPInstanceUID]
        assert (row.state, row.sha256, row.size_bytes) == ("held", sha, path.stat().st_size)
        assert (row.campus, row.source_device) == ("dongge", row.source.removeprefix("device:"))
    assert rows[jpeg_ls.SOPInstanceUID].transfer_syntax == JPEG_LS
    assert rows[deflated.SOPInstanceUID].transfer_syntax == DEFLATED
    with Session(hub.ctx.engine) as s:
        study = s.exec(
            select(ArchiveStudy).where(ArchiveStudy.study_uid == series[0].StudyInstanceUID)
        ).one()
    assert (study.order_pk, study.num_instances, study.patient_name) == (order.pk, 3, "张^三")

    # The same bytes again: success, nothing duplicated or moved.
    again = web.store_instances(datasets)
    assert stored_uids(again) == stored_uids(answer)
    assert len(index_rows(hub)) == len(datasets) and superseded(hub) == []

    # Different bytes under the same SOP Instance UID: the newer is kept, the older aside.
    old_bytes = archived(hub, series[0]).read_bytes()
    series[0].SeriesDescription = "corrected"
    web.store_instances([series[0]])
    assert archived(hub, series[0]).read_bytes() == encoded(series[0])
    aside = superseded(hub)
    assert len(aside) == 1 and aside[0].read_bytes() == old_bytes
    row = index_rows(hub)[series[0].SOPInstanceUID]
    assert row.sha256 == hashlib.sha256(encoded(series[0])).hexdigest()
    with hub.client(hub.token(Role.RADIOLOGIST)) as c:
        found = c.get("/api/v1/archive/studies", params={"accession": order.accession}).json()
    assert [(s["num_instances"], s["order_accession"]) for s in found["data"]] == [
        (3, order.accession)
    ]


def test_digest_mismatch_and_garbage_fail_alone(hub: RunningHub, tmp_path: Path) -> None:
    good, damaged, other = (encoded(ds) for ds in make_series(tmp_path, 3, accession="X1"))
    boundary = uuid.uuid4().hex
    body = multipart(
        [
            (good, {"Content-Digest": digest(good)}),
            (damaged, {"Content-Digest": digest(damaged + b"!")}),
            (b"this is not a DICOM file at all" * 20, {}),
            (other, {}),
        ],
        boundary,
    )
    token = hub.device_token("dongge")
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    r = post_raw(hub, token, body, content_type)
    assert r.status_code == 202, r.text
    assert r.headers["content-type"] == "application/dicom+json"
    answer = Dataset.from_json(r.json())
    sops = [pydicom.dcmread(io.BytesIO(b)).SOPInstanceUID for b in (good, damaged, other)]
    assert stored_uids(answer) == [sops[0], sops[2]]
    failed = [
        (i.get("ReferencedSOPInstanceUID", ""), i.FailureReason) for i in answer.FailedSOPSequence
    ]
    assert failed == [(sops[1], PROCESSING_FAILURE), ("", CANNOT_UNDERSTAND)]
    assert set(index_rows(hub)) == {sops[0], sops[2]}
    assert list((hub.ctx.settings.archive_dir / "tmp").iterdir()) == []

    # Every part failing: 409.
    body = multipart([(damaged, {"Content-Digest": digest(b"")})], boundary)
    assert post_raw(hub, token, body, content_type).status_code == 409


def test_study_path_people_and_refusals(hub: RunningHub, tmp_path: Path) -> None:
    ours, stray = make_series(tmp_path / "a", 1), make_series(tmp_path / "b", 1)
    admin = hub.token(Role.IT_ADMIN, "xianhu")
    web = client(hub, admin)
    answer = web.store_instances([ours[0], stray[0]], study_instance_uid=ours[0].StudyInstanceUID)
    assert stored_uids(answer) == [ours[0].SOPInstanceUID]
    assert [i.FailureReason for i in answer.FailedSOPSequence] == [STUDY_MISMATCH]
    assert answer.RetrieveURL.endswith(f"/dicomweb/studies/{ours[0].StudyInstanceUID}")
    row = index_rows(hub)[ours[0].SOPInstanceUID]
    assert (row.campus, row.source_device) == ("xianhu", None)
    assert row.source.startswith("user:it_admin")

    with pytest.raises(HTTPError) as refused:
        client(hub, hub.token(Role.REGISTRAR)).store_instances(stray)
    assert refused.value.response is not None
    assert refused.value.response.status_code == 403
    with hub.client() as c:
        assert c.post(STOW_PATH, content=b"x").status_code == 401

    token = hub.device_token("dongge")
    data = encoded(stray[0])
    dicom_parts = multipart([(data, {})], "b0")
    for content_type, code in [
        ("application/dicom", 415),
        ('multipart/related; type="application/dicom+json"; boundary=b0', 415),
        ('multipart/related; type="application/dicom"', 400),
        ('multipart/related; type="application/dicom"; boundary=other', 400),
    ]:
        r = post_raw(hub, token, dicom_parts, content_type)
        assert r.status_code == code, (content_type, r.text)
        assert "/" in r.json()["detail"]
    no_end = dicom_parts[: -len("--b0--\r\n")]
    r = post_raw(hub, token, no_end, 'multipart/related; type="application/dicom"; boundary=b0')
    assert r.status_code == 400
    assert list((hub.ctx.settings.archive_dir / "tmp").iterdir()) == []


def test_body_size_limit(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub", stow_max_bytes=64 * 1024)
    try:
        datasets = make_series(tmp_path / "ct", 2)  # ~39 KB each
        web = client(hub, hub.device_token("dongge"))
        assert len(stored_uids(web.store_instances(datasets[:1]))) == 1
        with pytest.raises(HTTPError) as too_big:
            web.store_instances(datasets)
        assert too_big.value.response is not None
        assert too_big.value.response.status_code == 413
        # Sent without Content-Length (chunked), it is cut off while streaming.
        boundary = "b1"
        body = multipart([(encoded(ds), {}) for ds in datasets], boundary)
        with hub.client(hub.device_token("dongge")) as c:
            r = c.post(
                STOW_PATH,
                content=iter([body[:30000], body[30000:]]),
                headers={"Content-Type": STOW_TYPE.format(boundary)},
            )
        assert r.status_code == 413
        assert list((hub.ctx.settings.archive_dir / "tmp").iterdir()) == []
    finally:
        hub.stop()


def test_same_instance_twice_in_one_request(hub: RunningHub, tmp_path: Path) -> None:
    (ds,) = make_series(tmp_path, 1)
    first = encoded(ds)
    ds.SeriesDescription = "second version"
    second = encoded(ds)
    content_type = 'multipart/related; type="application/dicom"; boundary=b2'
    body = multipart([(first, {}), (second, {"Content-Digest": digest(second)})], "b2")
    r = post_raw(hub, hub.device_token("dongge"), body, content_type)
    assert r.status_code == 200, r.text
    assert stored_uids(Dataset.from_json(r.json())) == [ds.SOPInstanceUID] * 2
    assert archived(hub, ds).read_bytes() == second
    assert [p.read_bytes() for p in superseded(hub)] == [first]
    with Session(hub.ctx.engine) as s:
        study = s.exec(select(ArchiveStudy)).one()
    assert (study.num_instances, study.size_bytes) == (1, len(second))
