"""A fast reader of the first elements of a received Part 10 file.

The C-STORE handler needs about twenty attributes from the start of each data set
(patient, study and series identity). pydicom's ``dcmread`` spends most of the
handler's CPU time getting them; this scanner walks the raw bytes of the file meta and
of the data set up to (0020,0013) Instance Number, hands the wanted elements to pydicom
as raw elements (so character sets are decoded by pydicom as usual), and gives up —
returning None, so the caller falls back to ``dcmread`` — on anything it does not
handle: big endian, deflate, odd structure, or a header longer than its buffer.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from pathlib import Path

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

_BUFFER = 32 * 1024
_PREAMBLE = 128
_IMPLICIT_LE = "1.2.840.10008.1.2"
_UNSUPPORTED = ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")  # big endian, deflate
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")


class _GiveUp(Exception):
    pass


def scan_header(path: Path, wanted: Collection[int], last_tag: int) -> tuple[str, Dataset] | None:
    """Return (transfer syntax UID, data set holding the ``wanted`` top-level elements
    found before ``last_tag`` is passed), or None when the file needs pydicom's reader.
    """
    with path.open("rb") as fh:
        data = fh.read(_BUFFER)
    try:
        return _scan(data, frozenset(wanted), last_tag)
    except (_GiveUp, struct.error, UnicodeDecodeError):
        return None


def _scan(data: bytes, wanted: frozenset[int], last_tag: int) -> tuple[str, Dataset] | None:
    if data[_PREAMBLE : _PREAMBLE + 4] != b"DICM":
        return None
    pos = _PREAMBLE + 4
    transfer_syntax = None
    while pos + 8 <= len(data) and _U16.unpack_from(data, pos)[0] == 0x0002:
        tag, vr, length, header = _explicit_header(data, pos)
        if tag == 0x00020010:
            transfer_syntax = data[pos + header : pos + header + length].rstrip(b"\0 ").decode()
        pos += header + length
    if transfer_syntax is None or transfer_syntax in _UNSUPPORTED:
        return None
    implicit = transfer_syntax == _IMPLICIT_LE
    whole_file = len(data) < _BUFFER
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    while pos + 8 <= len(data):
        if implicit:
            tag, length, header, vr_text = _implicit_header(data, pos)
        else:
            tag, vr, length, header = _explicit_header(data, pos)
            vr_text = vr.decode("ascii")
        if tag > last_tag:
            break
        value_at = pos + header
        if length == _UNDEFINED:
            pos = _skip_undefined(data, value_at, implicit)
            continue
        end = value_at + length
        if end > len(data):
            raise _GiveUp
        if tag in wanted:
            key = BaseTag(tag)
            elements[key] = RawDataElement(
                key, vr_text, length, data[value_at:end], value_at, implicit, True
            )
        pos = end
    else:
        if not (whole_file and pos == len(data)):
            raise _GiveUp  # ran out of buffer before the last wanted tag
    ds = Dataset(elements)
    ds.set_original_encoding(implicit, True)
    return transfer_syntax, ds


def _explicit_header(data: bytes, pos: int) -> tuple[int, bytes, int, int]:
    group, element = _TAG.unpack_from(data, pos)
    tag = group << 16 | element
    if tag in (_ITEM, _ITEM_END, _SEQUENCE_END):
        return tag, b"", _U32.unpack_from(data, pos + 4)[0], 8
    vr = data[pos + 4 : pos + 6]
    if not vr.isalpha() or not vr.isupper():
        raise _GiveUp
    if vr in _LONG_VRS:
        return tag, vr, _U32.unpack_from(data, pos + 8)[0], 12
    return tag, vr, _U16.unpack_from(data, pos + 6)[0], 8


def _implicit_header(data: bytes, pos: int) -> tuple[int, int, int, str | None]:
    group, element = _TAG.unpack_from(data, pos)
    return group << 16 | element, _U32.unpack_from(data, pos + 4)[0], 8, None


def _skip_undefined(data: bytes, pos: int, implicit: bool) -> int:
    """Skip the items of an undefined-length sequence starting at ``pos``; return the
    position after its Sequence Delimitation Item."""
    while True:
        if pos + 8 > len(data):
            raise _GiveUp
        group, element = _TAG.unpack_from(data, pos)
        tag = group << 16 | element
        length = _U32.unpack_from(data, pos + 4)[0]
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise _GiveUp
        if length != _UNDEFINED:
            pos += length
            continue
        pos = _skip_item_elements(data, pos, implicit)


def _skip_item_elements(data: bytes, pos: int, implicit: bool) -> int:
    """Skip the elements of an undefined-length item; return the position after its
    Item Delimitation Item."""
    while True:
        if pos + 8 > len(data):
            raise _GiveUp
        if implicit:
            tag, length, header, _ = _implicit_header(data, pos)
        else:
            tag, _, length, header = _explicit_header(data, pos)
        if tag == _ITEM_END:
            return pos + 8
        if length == _UNDEFINED:
            pos = _skip_undefined(data, pos + header, implicit)
        else:
            pos += header + length
