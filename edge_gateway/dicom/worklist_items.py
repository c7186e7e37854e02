"""Worklist response items written straight to bytes.

A worklist query names the attributes it wants back (at the top level and inside the
Scheduled Procedure Step Sequence); every item of the answer has exactly those, in tag
order, each with the step's value or empty (PS3.4 K.6.1.2.2). :class:`ItemLayout` works out
once per query how each of those elements is written in the association's transfer
syntax, then writes each item from the step's values with a few ``bytes`` joins — the
same bytes pydicom writes for the Dataset ``WorklistService`` would otherwise build
(``tests/unit/edge/test_worklist_items.py`` compares them).

Only what is plain is written here: Implicit or Explicit VR Little Endian, a character
set one Python codec encodes without code extensions (UTF-8, GB18030, GBK), and values
for text VRs. For anything else :meth:`ItemLayout.for_query` or :meth:`ItemLayout.encode`
answers ``None`` and the caller builds a pydicom Dataset as before.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement

_CODECS = {"ISO_IR 192": "utf-8", "GB18030": "gb18030", "GBK": "gbk"}
_CHARSET_TAG = 0x00080005
_SEQUENCE_TAG = 0x00400100  # Scheduled Procedure Step Sequence

# VRs whose explicit-VR header has two reserved bytes and a 4-byte length (PS3.5 7.1.2)
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
# text VRs whose value is written in the Specific Character Set (PS3.5 6.1.2.3)
_CHARSET_VRS = frozenset({"SH", "LO", "ST", "PN", "LT", "UC", "UT"})
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})

_TAG = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_ITEM = _TAG.pack(0xFFFE, 0xE000)  # the item tag (PS3.5 7.5)


@dataclass(frozen=True)
class _Slot:
    """How one element is written: its header up to the length, the length's size,
    where its value comes from, how the value is encoded and padded."""

    tag: int
    head: bytes
    short_length: bool
    keyword: str | None
    codec: str
    pad: bytes
    omit_empty: bool = False
    fixed: bytes | None = None  # the whole element, when its value is the same in every item

    def encode(self, values: Mapping[str, object]) -> bytes | None:
        if self.fixed is not None:
            return self.fixed
        value = values.get(self.keyword) if self.keyword else None
        if value is None or value == "":
            if self.omit_empty:
                return b""
            data = b""
        else:
            if not isinstance(value, str):
                return None
            try:
                data = value.encode(self.codec)
            except UnicodeEncodeError:
                return None
            if len(data) % 2:
                data += self.pad
        if self.short_length:
            if len(data) > 0xFFFF:
                return None
            return self.head + _U16.pack(len(data)) + data
        return self.head + _U32.pack(len(data)) + data


def _plain_vr(vr: str) -> str:
    """A single VR for a zero-length element whose dictionary VR is ambiguous
    ('US or SS' → 'US'), as pydicom writes it."""
    return vr.split(" or ")[0] if " or " in vr else vr


def _slot(
    tag: int,
    vr: str,
    keyword: str | None,
    *,
    implicit: bool,
    codec: str,
    valued: bool,
    omit_empty: bool = False,
) -> _Slot | None:
    vr = _plain_vr(vr)
    if valued and vr not in _CHARSET_VRS and vr not in _ASCII_VRS:
        return None  # a value we hold in a VR that is not text: left to pydicom
    group_element = _TAG.pack(tag >> 16, tag & 0xFFFF)
    if implicit:
        head, short = group_element, False
    elif vr in _LONG_VRS:
        head, short = group_element + vr.encode("ascii") + b"\x00\x00", False
    else:
        head, short = group_element + vr.encode("ascii"), True
    return _Slot(
        tag=tag,
        head=head,
        short_length=short,
        keyword=keyword,
        codec=codec if vr in _CHARSET_VRS else "ascii",
        pad=b"\x00" if vr == "UI" else b" ",
        omit_empty=omit_empty,
    )


def _requested_slots(
    requested: Iterable[DataElement], known: frozenset[str], *, implicit: bool, codec: str
) -> list[_Slot] | None:
    """A slot per requested element, sequences left out (as ``fill_response`` does; the
    step sequence is written by :meth:`ItemLayout.encode`)."""
    slots = []
    for elem in requested:
        if elem.VR == "SQ" or elem.tag == _SEQUENCE_TAG:
            continue
        keyword = elem.keyword or None
        slot = _slot(
            int(elem.tag),
            elem.VR,
            keyword,
            implicit=implicit,
            codec=codec,
            valued=keyword in known,
        )
        if slot is None:
            return None
        slots.append(slot)
    return slots


@dataclass(frozen=True)
class ItemLayout:
    """The elements of every item of one worklist answer, in order, ready to write."""

    implicit: bool
    top: tuple[_Slot, ...]
    sequence_index: int | None  # where the Scheduled Procedure Step Sequence goes
    sequence_head: bytes
    step: tuple[_Slot, ...]

    @classmethod
    def for_query(
        cls,
        *,
        charset: str,
        implicit: bool,
        requested: Sequence[DataElement],
        top_keywords: frozenset[str],
        step_requested: bool,
        step_wanted: Sequence[DataElement],
        step_keywords: frozenset[str],
    ) -> ItemLayout | None:
        """The layout for a query that asked for ``requested`` at the top level (the
        Specific Character Set left out) and, when ``step_requested``, for
        ``step_wanted`` in the step item (nothing asked: those of ``step_keywords`` that
        have a value). ``top_keywords`` and ``step_keywords`` are the attributes the
        items have values for. None when this module cannot write it."""
        codec = _CODECS.get(charset)
        if codec is None:
            return None
        charset_slot = _slot(
            _CHARSET_TAG, "CS", "SpecificCharacterSet", implicit=implicit, codec=codec, valued=True
        )
        top = _requested_slots(requested, top_keywords, implicit=implicit, codec=codec)
        if top is None or charset_slot is None:
            return None
        charset_slot = replace(
            charset_slot, fixed=charset_slot.encode({"SpecificCharacterSet": charset})
        )
        top = sorted([charset_slot, *top], key=lambda s: s.tag)
        step: list[_Slot] | None = []
        if step_wanted:
            step = _requested_slots(step_wanted, step_keywords, implicit=implicit, codec=codec)
        else:
            for keyword in sorted(step_keywords):
                default = _slot(
                    _keyword_tag(keyword),
                    dictionary_VR(keyword),
                    keyword,
                    implicit=implicit,
                    codec=codec,
                    valued=True,
                    omit_empty=True,
                )
                if default is None or step is None:
                    return None
                step.append(default)
        if step is None:
            return None
        index = None
        if step_requested:
            index = sum(1 for s in top if s.tag < _SEQUENCE_TAG)
        sequence_head = _TAG.pack(_SEQUENCE_TAG >> 16, _SEQUENCE_TAG & 0xFFFF)
        if not implicit:
            sequence_head += b"SQ\x00\x00"
        return cls(
            implicit=implicit,
            top=tuple(top),
            sequence_index=index,
            sequence_head=sequence_head,
            step=tuple(sorted(step, key=lambda s: s.tag)),
        )

    def encode(
        self, top_values: Mapping[str, object], step_values: Mapping[str, object]
    ) -> bytes | None:
        """One item's bytes; None when a value cannot be written here (then the
        caller encodes that item with pydicom)."""
        parts: list[bytes] = []
        for slot in self.top:
            data = slot.encode(top_values)
            if data is None:
                return None
            parts.append(data)
        if self.sequence_index is not None:
            fields = []
            for slot in self.step:
                data = slot.encode(step_values)
                if data is None:
                    return None
                fields.append(data)
            item = b"".join(fields)
            sequence = _ITEM + _U32.pack(len(item)) + item
            parts.insert(
                self.sequence_index, self.sequence_head + _U32.pack(len(sequence)) + sequence
            )
        return b"".join(parts)


def _keyword_tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"{keyword} is not a DICOM keyword")
    return int(tag)
