"""The index metadata of a received DICOM file, read from its header only.

Reading stops after (0020,0013) Instance Number, before any bulk data, and keeps only
the attributes the archive index needs; text is decoded with the file's Specific
Character Set (UTF-8 is assumed for undeclared non-ASCII text that is valid UTF-8).
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag, Tag

from hub.services.archive import InstanceMeta
from hub.services.archive_files import valid_uid
from shared.dicom.charset import apply_default_charset, guess_charset, person_name, text_value


class UnreadablePart(ValueError):
    """The part is not a DICOM object the hub can index; the message says why."""


_KEYWORDS = (
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
)
_WANTED: list[BaseTag | int] = [Tag(k) for k in _KEYWORDS]
_LAST_TAG = Tag("InstanceNumber")


def _past_header(tag: BaseTag, vr: str | None, length: int) -> bool:
    """Every attribute the index keeps comes before (0020,0013)'s successors."""
    return bool(tag > _LAST_TAG)


def read_meta(path: Path) -> InstanceMeta:
    """The index metadata from a Part 10 file's header (read up to Instance Number
    only). Raises :class:`UnreadablePart` for anything but a readable object with
    valid UIDs."""
    try:
        with path.open("rb") as fh:
            ds = read_partial(fh, stop_when=_past_header, force=True, specific_tags=_WANTED)
        meta = getattr(ds, "file_meta", None)
        transfer_syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta else ""
        if not transfer_syntax:
            raise UnreadablePart("not a DICOM Part 10 object (no Transfer Syntax UID)")
        apply_default_charset(ds, guess_charset(ds, None))
        return _meta_of(ds, transfer_syntax)
    except UnreadablePart:
        raise
    except Exception as exc:  # pydicom raises many kinds on garbage
        raise UnreadablePart(f"cannot read DICOM header: {type(exc).__name__}: {exc}") from exc


def _meta_of(ds: Dataset, transfer_syntax: str) -> InstanceMeta:
    uids = {k: text_value(ds, k) for k in ("SOPClassUID", "SOPInstanceUID")}
    uids |= {k: text_value(ds, k) for k in ("StudyInstanceUID", "SeriesInstanceUID")}
    missing = [k for k, v in uids.items() if not v]
    if missing:
        raise UnreadablePart(f"missing {', '.join(missing)}")
    bad = [k for k, v in uids.items() if not valid_uid(v)]
    if bad:
        raise UnreadablePart(f"invalid UID in {', '.join(bad)}")
    return InstanceMeta(
        sop_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        study_uid=uids["StudyInstanceUID"],
        series_uid=uids["SeriesInstanceUID"],
        transfer_syntax=transfer_syntax,
        patient_id=text_value(ds, "PatientID"),
        patient_name=person_name(ds),
        birth_date=text_value(ds, "PatientBirthDate"),
        sex=text_value(ds, "PatientSex"),
        study_date=text_value(ds, "StudyDate"),
        study_time=text_value(ds, "StudyTime"),
        accession=text_value(ds, "AccessionNumber"),
        study_id=text_value(ds, "StudyID"),
        study_description=text_value(ds, "StudyDescription"),
        referring_physician=person_name(ds, "ReferringPhysicianName"),
        modality=text_value(ds, "Modality"),
        series_number=_int(text_value(ds, "SeriesNumber")),
        series_description=text_value(ds, "SeriesDescription"),
        body_part=text_value(ds, "BodyPartExamined"),
        instance_number=_int(text_value(ds, "InstanceNumber")),
    )


def _int(text: str) -> int | None:
    try:
        return int(text.strip()) if text.strip() else None
    except ValueError:
        return None
