"""The fast header scanner agrees with pydicom on every bundled test file."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_files

from edge_gateway.dicom import metadata
from edge_gateway.dicom.header import scan_header
from edge_gateway.dicom.metadata import InvalidInstance, meta_from_dataset
from shared.dicom.instance import InstanceMeta
from tests.support.dicom_files import make_ct


def _pydicom_meta(path: Path) -> InstanceMeta:
    ds = dcmread(path, stop_before_pixels=True, specific_tags=metadata._TAGS)
    return meta_from_dataset(ds, str(ds.file_meta.TransferSyntaxUID))


def _bundled() -> list[Path]:
    files = []
    for name in get_testdata_files():
        path = Path(name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(path, stop_before_pixels=True)
            _ = ds.file_meta.TransferSyntaxUID
        except Exception:
            continue
        files.append(path)
    return files


@pytest.mark.parametrize("path", _bundled(), ids=lambda p: p.name)
def test_scanner_matches_pydicom(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = _pydicom_meta(path)
        except (InvalidInstance, Exception):
            expected = None
        scanned = scan_header(path, metadata._WANTED, metadata._LAST_TAG)
        if scanned is None:
            return  # falls back to pydicom: nothing to compare
        ts, ds = scanned
        try:
            got = meta_from_dataset(ds, ts)
        except InvalidInstance:
            got = None
    if expected is None:
        assert got is None
    else:
        assert got == expected


def test_scanner_handles_the_common_case(tmp_path: Path) -> None:
    make_ct(tmp_path / "a.dcm", patient_name="张^三丰", charset="GB18030")
    assert scan_header(tmp_path / "a.dcm", metadata._WANTED, metadata._LAST_TAG) is not None
    assert metadata.read_instance_meta(tmp_path / "a.dcm").patient_name == "张^三丰"


def test_scanner_gives_up_on_truncated_header(tmp_path: Path) -> None:
    make_ct(tmp_path / "a.dcm")
    raw = (tmp_path / "a.dcm").read_bytes()
    (tmp_path / "b.dcm").write_bytes(raw[:300])
    assert scan_header(tmp_path / "b.dcm", metadata._WANTED, metadata._LAST_TAG) is None
