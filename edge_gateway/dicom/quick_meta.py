"""The index fields of a plain-ASCII header, read straight from its raw bytes.

Most instances a modality sends carry nothing but ASCII in the twenty attributes the
index keeps (UIDs, dates, codes, an ID, often a romanised name). For those, decoding
each value through pydicom (character sets, value validation, multi-value parsing) was
the larger part of the C-STORE handler's own work. :func:`quick_meta` builds the same
:class:`~shared.dicom.instance.InstanceMeta` that
:func:`~shared.dicom.instance.instance_meta` would from the undecoded values, and
returns None (the caller then takes pydicom's way) for anything that is not plainly
ASCII and single-valued: non-ASCII bytes (Chinese names), ISO 2022 escapes, several
values, NUL bytes inside a value, numbers that are not plain integers, a character set
it does not know to agree with ASCII, and any UID that is missing or invalid (so that
the error is raised, and worded, in one place).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final

from pydicom.dataset import Dataset

from shared.dicom.charset import name_groups
from shared.dicom.instance import InstanceMeta, keyword_tag
from shared.dicom.uid import is_valid_uid


class _Kind(Enum):
    UID = "uid"
    TEXT = "text"
    NAME = "name"
    NUMBER = "number"


# (InstanceMeta field, DICOM keyword, how its value is read): what instance_meta reads.
_FIELDS: Final[tuple[tuple[str, str, _Kind], ...]] = (
    ("sop_uid", "SOPInstanceUID", _Kind.UID),
    ("sop_class_uid", "SOPClassUID", _Kind.UID),
    ("study_uid", "StudyInstanceUID", _Kind.UID),
    ("series_uid", "SeriesInstanceUID", _Kind.UID),
    ("patient_id", "PatientID", _Kind.TEXT),
    ("patient_name", "PatientName", _Kind.NAME),
    ("birth_date", "PatientBirthDate", _Kind.TEXT),
    ("sex", "PatientSex", _Kind.TEXT),
    ("study_date", "StudyDate", _Kind.TEXT),
    ("study_time", "StudyTime", _Kind.TEXT),
    ("accession", "AccessionNumber", _Kind.TEXT),
    ("study_id", "StudyID", _Kind.TEXT),
    ("study_description", "StudyDescription", _Kind.TEXT),
    ("referring_physician", "ReferringPhysicianName", _Kind.NAME),
    ("modality", "Modality", _Kind.TEXT),
    ("series_number", "SeriesNumber", _Kind.NUMBER),
    ("series_description", "SeriesDescription", _Kind.TEXT),
    ("body_part", "BodyPartExamined", _Kind.TEXT),
    ("instance_number", "InstanceNumber", _Kind.NUMBER),
)
_CHARSET_KEYWORD: Final = "SpecificCharacterSet"
# Character sets whose decoding of 7-bit bytes without escapes is plain ASCII.
_ASCII_COMPATIBLE: Final = frozenset(
    {
        "",
        "ISO_IR 6",
        "ISO_IR 100",
        "ISO_IR 192",
        "GB18030",
        "GBK",
        "ISO 2022 IR 6",
        "ISO 2022 IR 58",
        "ISO 2022 IR 100",
    }
)
_INTEGER = re.compile(r"[+-]?[0-9]+")


_TAGGED: Final = tuple((name, keyword_tag(keyword), kind) for name, keyword, kind in _FIELDS)
_CHARSET_TAG: Final = keyword_tag(_CHARSET_KEYWORD)


class _NotPlain(Exception):
    """A value :func:`quick_meta` leaves to pydicom."""


def _raw(ds: Dataset, tag: int) -> bytes | None:
    """The undecoded bytes of a top-level element, None when absent."""
    if tag not in ds:
        return None
    value = ds.get_item(tag).value
    if value is None:
        return b""
    if not isinstance(value, bytes):
        raise _NotPlain  # already decoded by somebody: let pydicom's way read it
    return value


def _plain_text(raw: bytes, kind: _Kind) -> str:
    if not raw.isascii() or b"\x1b" in raw or b"\\" in raw:
        raise _NotPlain
    if b"\x00" in raw:
        # a UID padded to even length with one NUL is the only NUL expected
        if kind is not _Kind.UID or raw.index(b"\x00") != len(raw) - 1:
            raise _NotPlain
        raw = raw[:-1]
    return raw.decode("ascii")


def _value(raw: bytes | None, kind: _Kind) -> str | int | None:
    if raw is None:
        return None if kind is _Kind.NUMBER else ""
    text = _plain_text(raw, kind)
    if kind is _Kind.NAME:
        return text.rstrip(" ").rstrip("=")
    text = text.strip()
    if kind is not _Kind.NUMBER:
        return text
    if not text:
        return None
    if _INTEGER.fullmatch(text) is None:
        raise _NotPlain
    return int(text)


def quick_meta(ds: Dataset, transfer_syntax: str) -> InstanceMeta | None:
    """The :class:`InstanceMeta` of ``ds`` (a data set of undecoded elements, as the
    header scanner makes them), or None when pydicom has to decode it."""
    try:
        charset = _raw(ds, _CHARSET_TAG)
        if charset is not None and _plain_text(charset, _Kind.TEXT).strip() not in (
            _ASCII_COMPATIBLE
        ):
            return None
        values = {name: _value(_raw(ds, tag), kind) for name, tag, kind in _TAGGED}
    except _NotPlain:
        return None
    for name in ("sop_uid", "sop_class_uid", "study_uid", "series_uid"):
        uid = values[name]
        if not isinstance(uid, str) or not uid or not is_valid_uid(uid):
            return None
    name_alpha, name_ideo, _ = name_groups(str(values["patient_name"]))
    return InstanceMeta(
        transfer_syntax=transfer_syntax,
        name_alpha=name_alpha,
        name_ideo=name_ideo,
        **values,  # type: ignore[arg-type]
    )
