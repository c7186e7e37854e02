"""shared.dicom.instance: the index fields of an instance, read from real files and
from data sets holding raw (not yet decoded) values, in both readings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from shared.dicom.instance import (
    INDEX_KEYWORDS,
    INDEX_TAGS,
    LAST_INDEX_TAG,
    STUDY_FIELDS,
    UID_KEYWORDS,
    InstanceMeta,
    InstanceUIDError,
    instance_meta,
)
from shared.durable import is_safe_uid
from tests.support.dicom_files import make_ct

# invalid IS and UI values are the point of some tests: pydicom warns about them
pytestmark = [
    pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning"),
    pytest.mark.filterwarnings("ignore:Value .* is not valid for elements:UserWarning"),
]

_UIDS = [
    ("SOPClassUID", "UI", b"1.2.840.10008.5.1.4.1.1.2"),
    ("SOPInstanceUID", "UI", b"1.2.3.4"),
    ("StudyInstanceUID", "UI", b"1.2.3"),
    ("SeriesInstanceUID", "UI", b"1.2.3.5\x00"),
]


def _raw(*elements: tuple[str, str, bytes]) -> Dataset:
    """A little-endian explicit-VR data set of raw elements, as a reader leaves them."""
    ds = Dataset()
    ds.set_original_encoding(False, True)
    for keyword, vr, value in elements:
        tag = Tag(keyword)
        ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    return ds


def test_index_tags() -> None:
    assert len(set(INDEX_KEYWORDS)) == len(INDEX_KEYWORDS) == len(INDEX_TAGS)
    assert {keyword_for_tag(t) for t in INDEX_TAGS} == set(INDEX_KEYWORDS)
    assert set(UID_KEYWORDS) <= set(INDEX_KEYWORDS)
    assert LAST_INDEX_TAG == 0x00200013  # Instance Number


def test_study_fields_are_study_level_fields() -> None:
    names = {f.name for f in dataclasses.fields(InstanceMeta)}
    assert set(STUDY_FIELDS) <= names and len(set(STUDY_FIELDS)) == len(STUDY_FIELDS)
    instance_level = {"sop_uid", "sop_class_uid", "series_uid", "transfer_syntax", "modality"}
    assert not instance_level & set(STUDY_FIELDS) and "study_uid" not in STUDY_FIELDS


def test_reads_a_ct_file_with_a_chinese_name(tmp_path: Path) -> None:
    written = make_ct(
        tmp_path / "a.dcm",
        patient_name="Zhang^Sanfeng=张^三丰",
        patient_id="P9",
        accession="A9",
        charset="GB18030",
        instance_number=12,
    )
    ds = dcmread(tmp_path / "a.dcm", stop_before_pixels=True, specific_tags=list(INDEX_KEYWORDS))
    meta = instance_meta(ds, "1.2.840.10008.1.2.1")
    assert meta == InstanceMeta(
        sop_uid=written.SOPInstanceUID,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        study_uid=written.StudyInstanceUID,
        series_uid=written.SeriesInstanceUID,
        transfer_syntax="1.2.840.10008.1.2.1",
        patient_id="P9",
        patient_name="Zhang^Sanfeng=张^三丰",
        name_alpha="Zhang^Sanfeng",
        name_ideo="张^三丰",
        birth_date=str(written.PatientBirthDate),
        sex=str(written.PatientSex),
        study_date="20261125",
        study_time=str(written.StudyTime),
        accession="A9",
        study_id=str(written.StudyID),
        study_description=str(written.get("StudyDescription", "")),
        referring_physician=str(written.ReferringPhysicianName),
        modality="CT",
        series_number=int(written.SeriesNumber),
        series_description=str(written.get("SeriesDescription", "")),
        body_part=str(written.get("BodyPartExamined", "")),
        instance_number=12,
    )


def test_iso_2022_escapes_are_removed() -> None:
    ds = _raw(
        ("SpecificCharacterSet", "CS", b"\\ISO 2022 IR 58"),
        *_UIDS,
        ("PatientName", "PN", b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\xd0\xa1\xb6\xab="),
    )
    meta = instance_meta(ds, "ts")
    assert meta.patient_name == "Zhang^XiaoDong=张^小东"
    assert (meta.name_alpha, meta.name_ideo) == ("Zhang^XiaoDong", "张^小东")


def test_trimmed_and_as_written_readings() -> None:
    elements = (
        *_UIDS,
        ("PatientID", "LO", b" P1 "),
        ("StudyDescription", "LO", b"  CT head"),
        ("PatientName", "PN", b" Li^Si"),
        ("SeriesNumber", "IS", b"1.0 "),
        ("InstanceNumber", "IS", b"+4"),
    )
    trimmed = instance_meta(_raw(*elements), "ts")
    written = instance_meta(_raw(*elements), "ts", as_written=True)
    assert (trimmed.patient_id, trimmed.study_description) == ("P1", "CT head")
    assert (written.patient_id, written.study_description) == (" P1", "  CT head")
    assert trimmed.patient_name == written.patient_name == " Li^Si"  # names kept
    assert (trimmed.series_number, trimmed.instance_number) == (1, 4)
    assert (written.series_number, written.instance_number) == (None, 4)
    assert trimmed.series_uid == written.series_uid == "1.2.3.5"


@pytest.mark.parametrize(
    ("raw", "trimmed", "as_written"),
    [(b"7 ", 7, 7), (b"1.5 ", 1, None), (b"1e2 ", 100, None), (b"1\\2 ", None, None)],
)
def test_numbers(raw: bytes, trimmed: int | None, as_written: int | None) -> None:
    element = ("SeriesNumber", "IS", raw)
    assert instance_meta(_raw(*_UIDS, element), "ts").series_number == trimmed
    written = instance_meta(_raw(*_UIDS, element), "ts", as_written=True)
    assert written.series_number == as_written


def test_absent_attributes_are_empty() -> None:
    meta = instance_meta(_raw(*_UIDS), "ts")
    assert meta.patient_id == meta.patient_name == meta.name_ideo == meta.modality == ""
    assert meta.series_number is None and meta.instance_number is None


def test_every_uid_problem_is_listed_and_the_first_described() -> None:
    elements = (_UIDS[0], ("SOPInstanceUID", "UI", b"1.02.3"), _UIDS[3])
    with pytest.raises(InstanceUIDError) as info:
        instance_meta(_raw(*elements), "ts")
    assert info.value.problems == (("SOPInstanceUID", "1.02.3"), ("StudyInstanceUID", ""))
    assert info.value.missing == ("StudyInstanceUID",)
    assert str(info.value) == "SOPInstanceUID '1.02.3' is not a valid UID"
    assert isinstance(info.value, ValueError)

    with pytest.raises(InstanceUIDError, match=r"^StudyInstanceUID is missing$"):
        instance_meta(_raw(*elements), "ts", uid_ok=is_safe_uid)  # leading zero accepted


def test_uid_problems_come_before_other_values_are_read() -> None:
    ds = _raw(_UIDS[0], _UIDS[1], _UIDS[2], ("SeriesNumber", "IS", b"1"))
    with pytest.raises(InstanceUIDError, match=r"^SeriesInstanceUID is missing$"):
        instance_meta(ds, "ts")
    assert isinstance(ds.get_item(Tag("SeriesNumber")), RawDataElement)  # still undecoded


def test_uid_error_needs_a_problem() -> None:
    with pytest.raises(ValueError, match="at least one"):
        InstanceUIDError([])


def test_from_mapping_reads_what_asdict_wrote() -> None:
    meta = InstanceMeta(
        sop_uid="1.2.3.4",
        study_uid="1.2.3",
        series_uid="1.2.3.5",
        patient_name="Li^Si=李^四",
        name_alpha="Li^Si",
        name_ideo="李^四",
        series_number=2,
    )
    assert InstanceMeta.from_mapping(dataclasses.asdict(meta)) == meta


def test_from_mapping_is_lenient_about_values_but_not_identity() -> None:
    meta = InstanceMeta.from_mapping(
        {
            "sop_uid": "1.2",
            "study_uid": "1.3",
            "series_uid": "1.4",
            "modality": None,
            "accession": 42,
            "series_number": "x",
            "instance_number": "5",
            "sha256": "ab",  # not a field: ignored
        }
    )
    assert (meta.modality, meta.accession) == ("", "42")
    assert (meta.series_number, meta.instance_number) == (None, 5)
    with pytest.raises(TypeError):
        InstanceMeta.from_mapping({"sop_uid": "1.2", "study_uid": "1.3"})
