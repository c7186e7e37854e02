"""Reading what the index needs from a received file, without decoding pixel data."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from edge_gateway.dicom.header import scan_header
from edge_gateway.store.ingest import InstanceMeta
from shared.dicom.charset import (
    apply_default_charset,
    guess_charset,
    name_groups,
    person_name,
    text_value,
)
from shared.dicom.uid import is_valid_uid

_TAGS = [
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "Modality",
    "ReferringPhysicianName",
    "StudyDescription",
    "SeriesDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "BodyPartExamined",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
]


class InvalidInstance(ValueError):
    """The received object cannot be archived; the message says why.

    ``unparsable`` is True when the bytes are not a readable data set, False when the
    data set reads but lacks what an archive needs (its UIDs).
    """

    def __init__(self, message: str, *, unparsable: bool = False) -> None:
        super().__init__(message)
        self.unparsable = unparsable


_WANTED = frozenset(int(tag_for_keyword(k) or 0) for k in _TAGS)
_LAST_TAG = max(_WANTED)


def read_instance_meta(path: Path, *, default_charset: str | None = None) -> InstanceMeta:
    """Read the index fields of the Part 10 file at ``path``.

    Raises ``InvalidInstance`` when the file cannot be parsed or lacks a valid SOP
    Instance, SOP Class, Study Instance or Series Instance UID.
    """
    try:
        scanned = scan_header(path, _WANTED, _LAST_TAG)
        if scanned is not None:
            transfer_syntax, ds = scanned
        else:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
            transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
        apply_default_charset(ds, guess_charset(ds, default_charset))
        return meta_from_dataset(ds, transfer_syntax)
    except InvalidInstance:
        raise
    except (InvalidDicomError, ValueError, KeyError, EOFError, OSError, AttributeError) as exc:
        raise InvalidInstance(f"cannot parse the data set: {exc}", unparsable=True) from exc


def meta_from_dataset(ds: Dataset, transfer_syntax: str) -> InstanceMeta:
    """Build :class:`InstanceMeta` from a decoded dataset (see ``read_instance_meta``)."""
    uids = {}
    for keyword in ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"):
        value = text_value(ds, keyword).strip()
        if not value:
            raise InvalidInstance(f"{keyword} is missing")
        if not is_valid_uid(value):
            raise InvalidInstance(f"{keyword} {value!r} is not a valid UID")
        uids[keyword] = value
    pn = person_name(ds, "PatientName")
    alpha, ideo, _ = name_groups(pn)
    return InstanceMeta(
        sop_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        study_uid=uids["StudyInstanceUID"],
        series_uid=uids["SeriesInstanceUID"],
        transfer_syntax=transfer_syntax,
        patient_id=text_value(ds, "PatientID").strip(),
        patient_name=pn,
        name_alpha=alpha,
        name_ideo=ideo,
        birth_date=text_value(ds, "PatientBirthDate").strip(),
        sex=text_value(ds, "PatientSex").strip(),
        study_date=text_value(ds, "StudyDate").strip(),
        study_time=text_value(ds, "StudyTime").strip(),
        accession=text_value(ds, "AccessionNumber").strip(),
        study_id=text_value(ds, "StudyID").strip(),
        study_description=text_value(ds, "StudyDescription").strip(),
        referring_physician=person_name(ds, "ReferringPhysicianName"),
        modality=text_value(ds, "Modality").strip(),
        series_number=_int_or_none(ds, "SeriesNumber"),
        series_description=text_value(ds, "SeriesDescription").strip(),
        body_part=text_value(ds, "BodyPartExamined").strip(),
        instance_number=_int_or_none(ds, "InstanceNumber"),
    )


def _int_or_none(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
