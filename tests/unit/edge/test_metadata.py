"""Reading index fields from files: what is refused and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_gateway.dicom.metadata import InvalidInstance, read_instance_meta
from tests.support.dicom_files import make_ct


def test_reads_index_fields(tmp_path: Path) -> None:
    ds = make_ct(tmp_path / "a.dcm", patient_name="张^三丰", patient_id="P9", accession="A9")
    meta = read_instance_meta(tmp_path / "a.dcm")
    assert meta.sop_uid == ds.SOPInstanceUID
    assert meta.patient_name == "张^三丰"
    assert meta.accession == "A9"
    assert meta.modality == "CT"
    assert meta.transfer_syntax == "1.2.840.10008.1.2.1"


def test_not_dicom_is_unparsable(tmp_path: Path) -> None:
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"this is not DICOM at all" * 10)
    with pytest.raises(InvalidInstance) as info:
        read_instance_meta(path)
    assert info.value.unparsable


def test_missing_series_uid_is_named(tmp_path: Path) -> None:
    ds = make_ct(tmp_path / "b.dcm")
    del ds.SeriesInstanceUID
    ds.save_as(tmp_path / "b.dcm", enforce_file_format=True)
    with pytest.raises(InvalidInstance, match="SeriesInstanceUID is missing") as info:
        read_instance_meta(tmp_path / "b.dcm")
    assert not info.value.unparsable


def test_default_charset_applies_to_undeclared_chinese(tmp_path: Path) -> None:
    path = tmp_path / "c.dcm"
    make_ct(path, patient_name="李^四", charset="GB18030")
    raw = path.read_bytes()
    # remove the declaration: (0008,0005) CS length 8 "GB18030 "
    decl = b"\x08\x00\x05\x00CS\x08\x00GB18030 "
    assert decl in raw
    path.write_bytes(raw.replace(decl, b""))
    assert read_instance_meta(path, default_charset="GB18030").patient_name == "李^四"
