"""C-STORE and C-FIND responses encoded straight to bytes (pynetdicom 3.0.4, pinned in
pyproject.toml).

pynetdicom sends every response by filling a pydicom Dataset from the response
primitive and encoding it once to learn the group length and again to send it: about a
fifth of the gateway's Python time per received instance, and two fifths of a worklist
or query answer (one response per matching item). These responses' command sets are
small and fixed (PS3.7 9.3.1.2, 9.3.2.2): group length, Affected SOP Class UID, Command
Field, Message ID Being Responded To, Command Data Set Type, Status and, for C-STORE,
Affected SOP Instance UID — Implicit VR Little Endian (PS3.7 6.3.1), each UID padded
with a NUL to an even length. :class:`DirectResponder` writes those bytes itself and
sends a C-FIND identifier (already encoded by pynetdicom) in the same fragments as
pynetdicom would. Any response with an Error Comment or Offending Element, any other
message, and any association that has an ``EVT_DIMSE_SENT`` handler bound go through
pynetdicom as before. ``tests/unit/edge/test_responses.py`` checks the P-DATA against
pynetdicom's own encoding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pynetdicom import evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_FIND, C_STORE
from pynetdicom.pdu_primitives import P_DATA

_C_STORE_RSP = 0x8001
_C_FIND_RSP = 0x8020
_DATA_SET_PRESENT = 0x0001
_NO_DATA_SET = 0x0101
_LAST_COMMAND_FRAGMENT = b"\x03"
_DATA_FRAGMENT = b"\x00"
_LAST_DATA_FRAGMENT = b"\x02"
_PDV_OVERHEAD = 6  # PDV item length (4) + presentation context ID (1) + control header (1)

_P_DATA_TF = struct.Struct(">BBI")  # PDU type 0x04, reserved, PDU length
_PDV_ITEM = struct.Struct(">IB")  # item length, presentation context ID
_US = struct.Struct("<HHIH")  # tag group, tag element, value length 2, value
_UL = struct.Struct("<HHII")
_HEADER = struct.Struct("<HHI")


def _uid_element(element: int, uid: str) -> bytes:
    value = uid.encode("ascii")
    if len(value) % 2:
        value += b"\x00"
    return _HEADER.pack(0x0000, element, len(value)) + value


def _command_set(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return _UL.pack(0x0000, 0x0000, 4, len(body)) + body


def encode_store_response(
    *, sop_class_uid: str, sop_instance_uid: str, message_id: int, status: int
) -> bytes:
    """The command set of a C-STORE-RSP without Error Comment or Offending Element,
    Implicit VR Little Endian, as pynetdicom would encode it."""
    return _command_set(
        _uid_element(0x0002, sop_class_uid),
        _US.pack(0x0000, 0x0100, 2, _C_STORE_RSP),
        _US.pack(0x0000, 0x0120, 2, message_id),
        _US.pack(0x0000, 0x0800, 2, _NO_DATA_SET),
        _US.pack(0x0000, 0x0900, 2, status),
        _uid_element(0x1000, sop_instance_uid),
    )


def encode_find_response(
    *, sop_class_uid: str, message_id: int, status: int, has_identifier: bool
) -> bytes:
    """The command set of a C-FIND-RSP without Error Comment or Offending Element, as
    pynetdicom would encode it."""
    return _command_set(
        _uid_element(0x0002, sop_class_uid),
        _US.pack(0x0000, 0x0100, 2, _C_FIND_RSP),
        _US.pack(0x0000, 0x0120, 2, message_id),
        _US.pack(0x0000, 0x0800, 2, _DATA_SET_PRESENT if has_identifier else _NO_DATA_SET),
        _US.pack(0x0000, 0x0900, 2, status),
    )


@dataclass(frozen=True)
class PlainResponse:
    """An encoded response: its command set and its data set (empty: none sent)."""

    command: bytes
    data_set: bytes = b""


def plain_response(primitive: Any) -> PlainResponse | None:
    """The encoded response when ``primitive`` is a C-STORE or C-FIND response this
    module can write (its fields set, no Error Comment, no Offending Element), else None."""
    kind = type(primitive)
    if kind is not C_STORE and kind is not C_FIND:
        return None
    message_id = primitive.MessageIDBeingRespondedTo
    sop_class = primitive.AffectedSOPClassUID
    status = primitive.Status
    if message_id is None or sop_class is None or status is None:
        return None
    if primitive.ErrorComment is not None or primitive.OffendingElement is not None:
        return None
    if kind is C_STORE:
        sop_instance = primitive.AffectedSOPInstanceUID
        if sop_instance is None:
            return None
        return PlainResponse(
            encode_store_response(
                sop_class_uid=str(sop_class),
                sop_instance_uid=str(sop_instance),
                message_id=int(message_id),
                status=int(status),
            )
        )
    identifier = primitive.Identifier  # the encoded identifier (BytesIO) or None
    return PlainResponse(
        encode_find_response(
            sop_class_uid=str(sop_class),
            message_id=int(message_id),
            status=int(status),
            has_identifier=identifier is not None,
        ),
        identifier.getvalue() if identifier is not None else b"",
    )


def pdata_values(response: PlainResponse, max_pdu: int) -> list[bytes] | None:
    """The presentation data values (control header + fragment), one per P-DATA, in
    which pynetdicom would send ``response`` to a peer whose maximum PDU length is
    ``max_pdu`` (0: unlimited); None when the command set needs more than one."""
    if max_pdu and len(response.command) + _PDV_OVERHEAD > max_pdu:
        return None
    values = [_LAST_COMMAND_FRAGMENT + response.command]
    data = response.data_set
    if data:
        size = max_pdu - _PDV_OVERHEAD if max_pdu else len(data)
        starts = range(0, len(data), size)
        for start in starts:
            last = start + size >= len(data)
            header = _LAST_DATA_FRAGMENT if last else _DATA_FRAGMENT
            values.append(header + data[start : start + size])
    return values


def encode_pdata_pdus(context_id: int, values: list[bytes]) -> bytes:
    """The P-DATA-TF PDUs, one per presentation data value as pynetdicom sends them
    (PS3.8 9.3.5), back to back."""
    pdus = []
    for value in values:
        item_length = len(value) + 1
        pdus.append(_P_DATA_TF.pack(0x04, 0x00, item_length + 4))
        pdus.append(_PDV_ITEM.pack(item_length, context_id))
        pdus.append(value)
    return b"".join(pdus)


@runtime_checkable
class DirectSender(Protocol):
    """A DUL that can write encoded PDUs from the caller's thread
    (``edge_gateway.dicom.transport.TunedDUL``)."""

    def send_now(self, pdus: bytes) -> bool: ...


class DirectResponder(DIMSEServiceProvider):
    """pynetdicom's DIMSE provider, sending plain C-STORE and C-FIND responses from
    :func:`plain_response`. Installed on accepted associations by swapping the class in
    ``handle_conn_open`` (the provider is created by pynetdicom)."""

    def send_msg(self, primitive: Any, context_id: int) -> None:
        response = plain_response(primitive)
        values = None
        if response is not None and not self.assoc.get_handlers(evt.EVT_DIMSE_SENT):
            values = pdata_values(response, self.maximum_pdu_size)
        if values is None:
            super().send_msg(primitive, context_id)
            return
        dul = self.dul
        if (
            isinstance(dul, DirectSender)
            and not self.assoc.get_handlers(evt.EVT_PDU_SENT)
            and dul.send_now(encode_pdata_pdus(context_id, values))
        ):
            return
        for value in values:
            pdata = P_DATA()
            pdata.presentation_data_value_list.append((context_id, value))
            self.dul.send_pdu(pdata)
