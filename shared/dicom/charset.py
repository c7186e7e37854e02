"""Specific Character Set handling for Chinese text in DICOM.

Chinese hospitals see three encodings on the wire: ``ISO_IR 192`` (UTF-8),
``GB18030`` and ``ISO 2022 IR 58`` (GB2312 with ISO 2022 escape sequences). pydicom
decodes all three, but leaves ISO 2022 escape sequences inside the decoded text;
this module removes them, and lets a site give a default character set for devices
that send Chinese bytes without declaring any.
"""

from __future__ import annotations

import re
from typing import Final

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

UTF8: Final = "ISO_IR 192"
GB18030: Final = "GB18030"
GB2312_ISO2022: Final = "ISO 2022 IR 58"
SUPPORTED_CHARSETS: Final = (UTF8, GB18030, "GBK", GB2312_ISO2022, "ISO_IR 100", "ISO_IR 6")

_ESCAPE_RE = re.compile(r"\x1b[\x20-\x2f]+[\x30-\x7e]")


def strip_escapes(text: str) -> str:
    """Remove ISO 2022 escape sequences (e.g. ``ESC $ ) A``) left in decoded text."""
    return _ESCAPE_RE.sub("", text) if "\x1b" in text else text


def text_value(ds: Dataset, keyword: str) -> str:
    """Return the decoded text of ``keyword`` in ``ds`` ('' when absent or empty).

    Multi-valued elements are joined with a backslash, as they appear in DICOM.
    """
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(strip_escapes(str(v)) for v in value)
    return strip_escapes(str(value))


def person_name(ds: Dataset, keyword: str = "PatientName") -> str:
    """Return a Person Name as text: components joined by ``^``, component groups
    (alphabetic=ideographic=phonetic) by ``=``, trailing empty groups dropped."""
    text = text_value(ds, keyword)
    return text.rstrip("=")


def name_groups(pn: str) -> tuple[str, str, str]:
    """Split a PN string into its (alphabetic, ideographic, phonetic) groups."""
    groups = [*pn.split("="), "", ""][:3]
    return groups[0], groups[1], groups[2]


_TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC"})


def guess_charset(ds: Dataset, default: str | None) -> str | None:
    """For a data set that declares no Specific Character Set: ``ISO_IR 192`` when its
    non-ASCII text is valid UTF-8 (what terminals and many Chinese devices send),
    otherwise ``default``. Returns None when nothing needs declaring. Reads the raw,
    not yet decoded values only."""
    if ds.get("SpecificCharacterSet"):
        return None
    non_ascii: list[bytes] = []
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        value = getattr(raw, "value", None)
        if not isinstance(value, bytes) or value.isascii():
            continue
        vr = raw.VR  # None for implicit VR: take it from the dictionary
        if vr is None:
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                continue
        if vr in _TEXT_VRS:
            non_ascii.append(value)
    if not non_ascii:
        return None
    try:
        for value in non_ascii:
            value.decode("utf-8")
    except UnicodeDecodeError:
        return default
    return UTF8


def apply_default_charset(ds: Dataset, default: str | None) -> None:
    """Declare ``default`` as the Specific Character Set of a dataset that declares none,
    so that Chinese bytes from devices that omit the attribute decode correctly.

    Does nothing when ``default`` is None or the dataset already declares a set.
    """
    if default and not ds.get("SpecificCharacterSet"):
        ds.SpecificCharacterSet = default
        implicit, little = ds.original_encoding
        if implicit is not None and little is not None:
            # text not yet decoded is decoded with the read-time character set
            ds.set_original_encoding(implicit, little, convert_encodings(default))
