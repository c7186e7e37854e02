"""Turning C-FIND/C-MOVE/C-GET identifiers into matching keys, and index rows into
response data sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from shared.dicom.charset import apply_default_charset, guess_charset, strip_escapes
from shared.masking import mask_name

_SKIP = {"SpecificCharacterSet", "QueryRetrieveLevel"}


def element_text(elem: DataElement) -> str:
    """The matching value of an identifier element as text ('' when empty)."""
    value = elem.value
    if value is None or elem.VR == "SQ":
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip()
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(strip_escapes(str(v)) for v in value)
    return strip_escapes(str(value))


def matching_keys(identifier: Dataset, default_charset: str | None = None) -> dict[str, str]:
    """Keyword → matching value for every top-level element except the control ones.

    An identifier that declares no character set is read as UTF-8 when its bytes are
    valid UTF-8, else with ``default_charset`` (see ``guess_charset``).
    """
    apply_default_charset(identifier, guess_charset(identifier, default_charset))
    keys: dict[str, str] = {}
    for elem in identifier:
        keyword = elem.keyword
        if not keyword or keyword in _SKIP or elem.VR == "SQ":
            continue
        keys[keyword] = element_text(elem)
    return keys


def requested_elements(identifier: Dataset) -> list[DataElement]:
    return [e for e in identifier if e.keyword not in _SKIP]


def fill_response(
    response: Dataset, requested: Iterable[DataElement], values: Mapping[str, Any]
) -> None:
    """Copy each requested attribute into ``response``: its value from ``values`` when
    known, otherwise empty (zero length), as PS3.4 C.4.1.1.3.2 asks."""
    for elem in requested:
        keyword = elem.keyword
        if elem.VR == "SQ":
            continue
        value = values.get(keyword) if keyword else None
        if value is None or value == "":
            response.add_new(elem.tag, elem.VR, None)
        else:
            response.add_new(elem.tag, elem.VR, value)


_NAME_KEYS = frozenset({"PatientName", "PatientBirthName", "PatientMotherBirthName"})


def loggable(keys: dict[str, str]) -> dict[str, str]:
    """Matching keys fit for a log line: non-empty ones only, patient names masked
    (张三丰 → 张*丰; a wildcard query keeps its wildcard)."""
    shown: dict[str, str] = {}
    for keyword, value in keys.items():
        if not value:
            continue
        if keyword.rsplit(".", 1)[-1] in _NAME_KEYS and value.strip("*?"):
            value = mask_name(value.rstrip("*?")) + ("*" if value.endswith("*") else "")
        shown[keyword] = value
    return shown
