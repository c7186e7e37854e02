"""C-ECHO and C-STORE against the real gateway, with dcmtk as the modality."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import func, select

from edge_gateway.dicom.file_meta import encode_file_meta
from edge_gateway.gateway import Gateway
from edge_gateway.peers import Peer, PeerTable
from edge_gateway.store.models import Instance, OutboxEvent, Patient, Series, Study
from tests.integration.edge.conftest import StartEdge, peer_args, run
from tests.support.dicom_files import (
    COMPRESSED,
    jpeg_lossless,
    make_compressed,
    make_ct,
    make_series,
)


def count(gateway: Gateway, model: type) -> int:
    with gateway.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def instance_row(gateway: Gateway, sop_uid: str) -> dict[str, object] | None:
    with gateway.engine.connect() as conn:
        row = (
            conn.execute(select(Instance.__table__).where(Instance.__table__.c.sop_uid == sop_uid))  # type: ignore[attr-defined]
            .mappings()
            .first()
        )
    return dict(row) if row else None


def test_echo(edge: Gateway) -> None:
    result = run(["echoscu", "-v", *peer_args(edge)])
    assert result.returncode == 0, result.stdout
    assert "Received Echo Response (Success)" in result.stdout


def test_unknown_calling_ae_is_rejected(edge: Gateway) -> None:
    result = run(["echoscu", *peer_args(edge, calling="INTRUDER")])
    assert result.returncode != 0
    assert "Rejected" in result.stdout or "rejected" in result.stdout.lower()
    # and the gateway goes on serving known peers
    assert run(["echoscu", *peer_args(edge)]).returncode == 0


def test_accept_any_ae(dcmtk: None, start_edge: StartEdge) -> None:
    gateway = start_edge(PeerTable({}, accept_any=True))
    assert run(["echoscu", *peer_args(gateway, calling="ANYONE")]).returncode == 0


def test_store_single_file_is_archived_and_indexed(edge: Gateway, tmp_path: Path) -> None:
    ds = make_ct(tmp_path / "in" / "ct.dcm", patient_name="WANG^WU", patient_id="P100")
    result = run(["storescu", "-v", *peer_args(edge), str(tmp_path / "in" / "ct.dcm")])
    assert result.returncode == 0, result.stdout
    assert "Received Store Response (Success)" in result.stdout
    row = instance_row(edge, ds.SOPInstanceUID)
    assert row is not None
    stored = edge.archive.absolute(str(row["rel_path"]))
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == row["sha256"]
    assert row["size_bytes"] == stored.stat().st_size
    assert row["source_ae"] == "MODALITY"
    again = dcmread(stored)
    assert again.SOPInstanceUID == ds.SOPInstanceUID
    assert again.PixelData == ds.PixelData
    # the File Meta Information the gateway writes itself (edge_gateway.dicom.file_meta)
    meta = encode_file_meta(
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=ds.SOPInstanceUID,
        transfer_syntax=str(row["transfer_syntax"]),
    )
    assert stored.read_bytes()[128 : 132 + len(meta)] == b"DICM" + meta
    assert again.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    dump = run(["dcmdump", "-M", "+L", str(stored)])
    assert dump.returncode == 0, dump.stdout
    assert f"(0002,0003) UI [{ds.SOPInstanceUID}]" in dump.stdout
    with edge.engine.connect() as conn:
        kinds = sorted(conn.scalars(select(OutboxEvent.kind)))  # type: ignore[call-overload]
        study = conn.execute(select(Study.__table__)).mappings().one()  # type: ignore[attr-defined]
    assert kinds == ["instance.new", "study.new"]
    assert study["num_instances"] == 1 and study["num_series"] == 1
    assert study["modalities"] == "CT"


def test_store_folder(edge: Gateway, tmp_path: Path) -> None:
    make_series(tmp_path / "series", 12, patient_id="P200")
    result = run(["storescu", "+sd", *peer_args(edge), str(tmp_path / "series")])
    assert result.returncode == 0, result.stdout
    assert count(edge, Instance) == 12
    assert count(edge, Series) == 1
    with edge.engine.connect() as conn:
        study = conn.execute(select(Study.__table__)).mappings().one()  # type: ignore[attr-defined]
    assert study["num_instances"] == 12
    assert study["size_bytes"] == sum(p.stat().st_size for p in edge.archive.root.rglob("*.dcm"))


@pytest.mark.parametrize("transfer_syntax", sorted(COMPRESSED))
def test_compressed_stored_as_received(edge: Gateway, tmp_path: Path, transfer_syntax: str) -> None:
    path, ds = make_compressed(tmp_path / "c", transfer_syntax)
    option = COMPRESSED[transfer_syntax][1]
    result = run(["storescu", "-v", option, *peer_args(edge), str(path)])
    assert result.returncode == 0, result.stdout
    assert "Received Store Response (Success)" in result.stdout
    row = instance_row(edge, ds.SOPInstanceUID)
    assert row is not None
    assert row["transfer_syntax"] == transfer_syntax
    stored = dcmread(edge.archive.absolute(str(row["rel_path"])))
    assert stored.file_meta.TransferSyntaxUID == transfer_syntax
    if transfer_syntax != "1.2.840.10008.1.2.1.99":  # deflate: same data, new deflate stream
        assert stored.PixelData == ds.PixelData


def test_jpeg_lossless_stored_as_received(edge: Gateway, tmp_path: Path) -> None:
    path, ds = jpeg_lossless(tmp_path)
    result = run(["storescu", "-xs", *peer_args(edge), str(path)])
    assert result.returncode == 0, result.stdout
    row = instance_row(edge, ds.SOPInstanceUID)
    assert row is not None and row["transfer_syntax"] == "1.2.840.10008.1.2.4.70"
    assert edge.archive.absolute(str(row["rel_path"])).read_bytes()[128:132] == b"DICM"


@pytest.mark.parametrize(
    ("charset", "stored_name"),
    [
        ("ISO_IR 192", "张^三丰"),
        ("GB18030", "欧阳^娜娜"),
        ("GBK", "单^雄信"),
        (["", "ISO 2022 IR 58"], "Zhang^SanFeng=张^三丰"),
    ],
)
def test_chinese_names_decoded(
    edge: Gateway, tmp_path: Path, charset: str | list[str], stored_name: str
) -> None:
    path = tmp_path / "cn.dcm"
    make_ct(path, patient_name=stored_name, patient_id="PCN", charset=charset)
    if charset == ["", "ISO 2022 IR 58"]:
        _with_iso2022_escapes(path)
    raw = path.read_bytes()
    assert "张".encode() not in raw or charset == "ISO_IR 192"  # really encoded differently
    result = run(["storescu", *peer_args(edge), str(path)])
    assert result.returncode == 0, result.stdout
    with edge.engine.connect() as conn:
        name = conn.scalar(select(Patient.patient_name))  # type: ignore[call-overload]
    assert name == stored_name


def _with_iso2022_escapes(path: Path) -> None:
    """Rewrite the GB2312 bytes of PatientName with the ESC $ ) A designations a real
    ISO 2022 IR 58 device sends (pydicom writes them without escapes)."""
    raw = path.read_bytes()
    plain = "张^三丰".encode("gb2312")
    escaped = b"\x1b$)A" + "张".encode("gb2312") + b"^\x1b$)A" + "三丰".encode("gb2312")
    old = b"Zhang^SanFeng=" + plain
    new = b"Zhang^SanFeng=" + escaped
    assert old in raw
    # keep the element length even and correct: PN length field precedes the value
    old_len = len(old) + (len(old) % 2)
    new_value = new + (b" " if len(new) % 2 else b"")
    idx = raw.index(old)
    # Explicit VR little endian: tag(4) VR(2) len(2) value
    length_pos = idx - 2
    assert int.from_bytes(raw[length_pos : length_pos + 2], "little") == old_len
    raw = raw[:length_pos] + len(new_value).to_bytes(2, "little") + new_value + raw[idx + old_len :]
    path.write_bytes(raw)


def test_same_instance_identical_is_not_duplicated(edge: Gateway, tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    ds = make_ct(path)
    for _ in range(2):
        result = run(["storescu", "-v", *peer_args(edge), str(path)])
        assert "Received Store Response (Success)" in result.stdout
    assert count(edge, Instance) == 1
    assert list(edge.archive.superseded.iterdir()) == []
    with edge.engine.connect() as conn:
        assert conn.scalar(select(Study.num_instances)) == 1  # type: ignore[call-overload]
        events = list(conn.scalars(select(OutboxEvent.kind)))  # type: ignore[call-overload]
    assert events.count("instance.new") == 1
    assert instance_row(edge, ds.SOPInstanceUID) is not None


def test_same_instance_different_bytes_keeps_newer(edge: Gateway, tmp_path: Path) -> None:
    first = tmp_path / "v1.dcm"
    ds = make_ct(first, patient_name="LI^SI")
    second = tmp_path / "v2.dcm"
    ds.SeriesDescription = "corrected"
    ds.save_as(second, enforce_file_format=True)
    assert run(["storescu", *peer_args(edge), str(first)]).returncode == 0
    old_sha = instance_row(edge, ds.SOPInstanceUID)["sha256"]  # type: ignore[index]
    assert run(["storescu", *peer_args(edge), str(second)]).returncode == 0
    row = instance_row(edge, ds.SOPInstanceUID)
    assert row is not None and row["sha256"] != old_sha
    assert dcmread(edge.archive.absolute(str(row["rel_path"]))).SeriesDescription == "corrected"
    aside = list(edge.archive.superseded.iterdir())
    assert len(aside) == 1
    assert hashlib.sha256(aside[0].read_bytes()).hexdigest() == old_sha
    assert count(edge, Instance) == 1
    with edge.engine.connect() as conn:
        assert conn.scalar(select(Study.num_instances)) == 1  # type: ignore[call-overload]
        assert "instance.replaced" in list(conn.scalars(select(OutboxEvent.kind)))  # type: ignore[call-overload]


def test_unparsable_and_uidless_data_sets_fail_and_server_goes_on(
    edge: Gateway, tmp_path: Path
) -> None:
    no_study = tmp_path / "nostudy.dcm"
    ds = make_ct(no_study)
    del ds.StudyInstanceUID
    ds.save_as(no_study, enforce_file_format=True)
    result = run(["storescu", "-v", *peer_args(edge), str(no_study)])
    assert "Received Store Response (Success)" not in result.stdout
    assert "DataSetDoesNotMatchSOPClass" in result.stdout
    assert count(edge, Instance) == 0
    # the gateway still serves
    ok = tmp_path / "ok.dcm"
    make_ct(ok)
    assert (
        "Received Store Response (Success)"
        in run(["storescu", "-v", *peer_args(edge), str(ok)]).stdout
    )
    assert list(edge.archive.tmp.iterdir()) == []


def test_store_refused_for_peer_without_permission(
    dcmtk: None, start_edge: StartEdge, tmp_path: Path
) -> None:
    gateway = start_edge()
    path = tmp_path / "ct.dcm"
    make_ct(path)
    result = run(["storescu", "-v", *peer_args(gateway, calling="VIEWER"), str(path)])
    assert "Received Store Response (Success)" not in result.stdout
    assert count(gateway, Instance) == 0


def test_peers_with_host_are_destinations() -> None:
    table = PeerTable({"WS": Peer("WS", "127.0.0.1", 104)})
    assert table.destination("WS") is not None
    assert table.destination("NOPE") is None


def test_garbage_data_set_gets_cannot_understand(edge: Gateway, tmp_path: Path) -> None:
    """A data set whose bytes do not parse gets a failure status, and nothing is
    archived. (pydicom reads garbage leniently, so it is reported as lacking its UIDs;
    a data set that raises while parsing gets 0xC000.) dcmtk refuses to send such a
    file, so a pynetdicom SCU streams the raw bytes."""
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    from shared.dicom import status

    good = tmp_path / "good.dcm"
    make_ct(good)
    raw = good.read_bytes()
    meta_end = raw.index(b"\x08\x00\x05\x00")  # first data set element (0008,0005)
    broken = tmp_path / "broken.dcm"
    # an element claiming 0x7FFFFFF0 bytes of value: the data set cannot be read
    broken.write_bytes(raw[:meta_end] + b"\x08\x00\x20\x00DA\xf0\xff" + b"2026" * 4)
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", edge.port, ae_title="EDGE")
    assert assoc.is_established
    try:
        rsp = assoc.send_c_store(broken)
        assert rsp.Status in (status.STORE_CANNOT_UNDERSTAND, status.STORE_DATASET_MISMATCH)
        rsp = assoc.send_c_store(good)
        assert rsp.Status == status.SUCCESS
    finally:
        assoc.release()
    assert count(edge, Instance) == 1
