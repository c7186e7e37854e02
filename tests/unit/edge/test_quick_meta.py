"""The plain-ASCII shortcut gives exactly what pydicom's way gives, or steps aside."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from edge_gateway.dicom import metadata
from edge_gateway.dicom.header import scan_header
from edge_gateway.dicom.quick_meta import quick_meta
from shared.dicom.charset import apply_default_charset, guess_charset
from shared.dicom.instance import InstanceMeta, instance_meta
from tests.support.dicom_files import bundled, make_ct

_TEXT = ["", " ", "CT", " padded ", "HEAD^NECK", "20261126", "093000.123", "a b  c", "x" * 63]
_NAMES = ["", "Doe^John", "Doe^John ", " Doe^John", "Doe^John=", "Doe^John==", "A^B^C^D^E", "^X"]
_NUMBERS = ["", "1", " 12 ", "+7", "-3", "0012", "1.0", "1.5", "1\\2"]


def _scanned(path: Path) -> tuple[str, Dataset]:
    scanned = scan_header(path, metadata._WANTED, metadata._LAST_TAG)
    assert scanned is not None
    return scanned


def _pydicom_way(path: Path) -> InstanceMeta:
    transfer_syntax, ds = _scanned(path)
    apply_default_charset(ds, guess_charset(ds, None))
    return instance_meta(ds, transfer_syntax)


def _save(ds: Dataset, path: Path, implicit: bool) -> None:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)


@pytest.mark.parametrize("implicit", [False, True])
def test_same_fields_as_pydicoms_way_on_varied_values(tmp_path: Path, implicit: bool) -> None:
    rng = random.Random(20261126)
    taken = 0
    for n in range(300):
        path = tmp_path / f"{n}.dcm"
        ds = make_ct(path, patient_name="Doe^John", patient_id=f"P{n}", accession=f"A{n}")
        for keyword in ("PatientID", "StudyDescription", "SeriesDescription", "BodyPartExamined"):
            setattr(ds, keyword, rng.choice(_TEXT))
        ds.PatientName = rng.choice(_NAMES)
        ds.ReferringPhysicianName = rng.choice(_NAMES)
        ds.SeriesNumber = rng.choice(_NUMBERS) or None
        ds.InstanceNumber = rng.choice(_NUMBERS) or None
        if rng.random() < 0.3:
            ds.SpecificCharacterSet = rng.choice(["ISO_IR 192", "GB18030", "ISO_IR 100"])
        _save(ds, path, implicit)
        transfer_syntax, scanned = _scanned(path)
        quick = quick_meta(scanned, transfer_syntax)
        if quick is None:
            continue
        taken += 1
        assert quick == _pydicom_way(path), path
    assert taken > 100  # most of these are plain enough for the shortcut


def test_real_files_agree(tmp_path: Path) -> None:
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm"):
        path = bundled(name)
        scanned = scan_header(path, metadata._WANTED, metadata._LAST_TAG)
        if scanned is None:
            continue
        quick = quick_meta(scanned[1], scanned[0])
        if quick is not None:
            assert quick == _pydicom_way(path), name


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PatientName", "张^三丰"),  # not ASCII: pydicom decodes the character set
        ("PatientID", "A\\B"),  # two values
        ("InstanceNumber", "1.0"),  # pydicom reads it as 1
        ("SpecificCharacterSet", "ISO_IR 13"),  # JIS X 0201: 0x5C is not a backslash
        ("SOPClassUID", "1.2.03"),  # invalid UID: the full way words the error
    ],
)
def test_steps_aside_for_what_pydicom_must_read(tmp_path: Path, keyword: str, value: str) -> None:
    path = tmp_path / "a.dcm"
    ds = make_ct(path)
    setattr(ds, keyword, value)
    _save(ds, path, implicit=False)
    transfer_syntax, scanned = _scanned(path)
    assert quick_meta(scanned, transfer_syntax) is None


def test_missing_uid_steps_aside_so_the_error_is_named(tmp_path: Path) -> None:
    path = tmp_path / "b.dcm"
    ds = make_ct(path)
    del ds.StudyInstanceUID
    _save(ds, path, implicit=False)
    transfer_syntax, scanned = _scanned(path)
    assert quick_meta(scanned, transfer_syntax) is None
    with pytest.raises(metadata.InvalidInstance, match="StudyInstanceUID is missing"):
        metadata.read_instance_meta(path)
