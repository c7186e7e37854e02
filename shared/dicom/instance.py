"""What an archive index keeps of one DICOM instance, and how it is read from a data
set: the same attributes at the edge (C-STORE) and at the hub (STOW-RS, and the
edge's ``instance.new`` events, which carry these fields by name).

Text is decoded with the data set's Specific Character Set (see
``shared.dicom.charset``); how the file is read — and which character set to assume
when none is declared — is up to the caller, which hands over the data set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from shared.dicom.charset import name_groups, person_name, text_value
from shared.dicom.uid import is_valid_uid

INDEX_KEYWORDS: Final[tuple[str, ...]] = (
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
"""The attributes :func:`instance_meta` reads: all at the top level of the data set."""

UID_KEYWORDS: Final[tuple[str, ...]] = (
    "SOPInstanceUID",
    "SOPClassUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
)
"""The UIDs an instance cannot be archived without, in the order they are checked."""


def keyword_tag(keyword: str) -> int:
    """The tag of a DICOM keyword as an int; LookupError for an unknown keyword."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise LookupError(f"not a DICOM keyword: {keyword}")
    return int(tag)


INDEX_TAGS: Final[frozenset[int]] = frozenset(keyword_tag(k) for k in INDEX_KEYWORDS)
"""The tags of :data:`INDEX_KEYWORDS`."""

LAST_INDEX_TAG: Final[int] = max(INDEX_TAGS)
"""(0020,0013) Instance Number: a reader may stop once it has passed this tag."""


@dataclass(frozen=True, kw_only=True)
class InstanceMeta:
    """What an archive index keeps of one instance (text decoded to Unicode).

    ``patient_name`` is the whole Person Name (``alpha=ideographic=phonetic``);
    ``name_alpha`` and ``name_ideo`` are its first two component groups.
    """

    sop_uid: str
    sop_class_uid: str = ""
    study_uid: str
    series_uid: str
    transfer_syntax: str = ""
    patient_id: str = ""
    patient_name: str = ""
    name_alpha: str = ""
    name_ideo: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician: str = ""
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part: str = ""
    instance_number: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> InstanceMeta:
        """From an event payload that names the fields (e.g. ``dataclasses.asdict`` of
        one): unknown keys are ignored, ``None`` counts as absent, text fields are
        turned into ``str`` and the numbers into ``int`` (None when not a number).
        Raises ``TypeError`` when ``sop_uid``, ``study_uid`` or ``series_uid`` is
        absent."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if f.name in ("series_number", "instance_number"):
                values[f.name] = _int_or_none(value)
            elif value is not None:
                values[f.name] = str(value)
        return cls(**values)


STUDY_FIELDS: Final[tuple[str, ...]] = (
    "patient_id",
    "patient_name",
    "birth_date",
    "sex",
    "study_date",
    "study_time",
    "accession",
    "study_id",
    "study_description",
    "referring_physician",
)
"""The fields of :class:`InstanceMeta` that describe its study (and patient): what a
``study.new`` event carries beside ``study_uid``, and what a study row is made of."""


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class InstanceUIDError(ValueError):
    """The data set lacks a UID an archive needs, or holds one that is not valid.

    ``problems`` holds each such UID as ``(keyword, value)`` in :data:`UID_KEYWORDS`
    order, ``value`` being ``""`` when the UID is missing; the message describes the
    first (``"SeriesInstanceUID is missing"``, ``"SOPClassUID '1.x' is not a valid
    UID"``).
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        if not problems:
            raise ValueError("InstanceUIDError needs at least one problem")
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        keyword, value = self.problems[0]
        super().__init__(
            f"{keyword} is missing" if not value else f"{keyword} {value!r} is not a valid UID"
        )

    @property
    def missing(self) -> tuple[str, ...]:
        """The keywords of the UIDs that are absent or empty."""
        return tuple(k for k, v in self.problems if not v)


def instance_meta(
    ds: Dataset,
    transfer_syntax: str,
    *,
    as_written: bool = False,
    uid_ok: Callable[[str], bool] = is_valid_uid,
) -> InstanceMeta:
    """Build the :class:`InstanceMeta` of ``ds`` (a data set holding at least the
    :data:`INDEX_KEYWORDS` present in the object; its character set already settled).

    The UIDs are read and checked first, before any other attribute is decoded:
    :class:`InstanceUIDError` lists every one that is empty or refused by ``uid_ok``.

    By default text is trimmed of surrounding whitespace and Series/Instance Number
    are taken as pydicom parses the IS value (``"1.0"`` and ``"1.5"`` give 1).
    ``as_written=True`` keeps text exactly as decoded and reads a number only from
    text that is an integer (``"1.0"`` gives None). Person names are never trimmed.
    A multi-valued number gives None. Raises what pydicom raises on undecodable
    values.
    """
    text = _as_decoded if as_written else _trimmed
    uids = {k: text(ds, k) for k in UID_KEYWORDS}
    problems = [(k, v) for k, v in uids.items() if not v or not uid_ok(v)]
    if problems:
        raise InstanceUIDError(problems)
    number = _number_from_text if as_written else _number_from_value
    patient_name = person_name(ds, "PatientName")
    name_alpha, name_ideo, _ = name_groups(patient_name)
    return InstanceMeta(
        sop_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        study_uid=uids["StudyInstanceUID"],
        series_uid=uids["SeriesInstanceUID"],
        transfer_syntax=transfer_syntax,
        patient_id=text(ds, "PatientID"),
        patient_name=patient_name,
        name_alpha=name_alpha,
        name_ideo=name_ideo,
        birth_date=text(ds, "PatientBirthDate"),
        sex=text(ds, "PatientSex"),
        study_date=text(ds, "StudyDate"),
        study_time=text(ds, "StudyTime"),
        accession=text(ds, "AccessionNumber"),
        study_id=text(ds, "StudyID"),
        study_description=text(ds, "StudyDescription"),
        referring_physician=person_name(ds, "ReferringPhysicianName"),
        modality=text(ds, "Modality"),
        series_number=number(ds, "SeriesNumber"),
        series_description=text(ds, "SeriesDescription"),
        body_part=text(ds, "BodyPartExamined"),
        instance_number=number(ds, "InstanceNumber"),
    )


def _trimmed(ds: Dataset, keyword: str) -> str:
    return text_value(ds, keyword).strip()


def _as_decoded(ds: Dataset, keyword: str) -> str:
    return text_value(ds, keyword)


def _number_from_value(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _number_from_text(ds: Dataset, keyword: str) -> int | None:
    written = text_value(ds, keyword).strip()
    try:
        return int(written) if written else None
    except ValueError:
        return None
