"""C-STORE responses encoded straight to bytes (pynetdicom 3.0.4, pinned in pyproject.toml).

pynetdicom answers every C-STORE by filling a pydicom Dataset from the response
primitive, encoding it once to learn the group length and again to send it: about a
fifth of the gateway's Python time per received instance. The response's command set
is small and fixed (PS3.7 9.3.1.2): group length, Affected SOP Class UID, Command Field
0x8001, Message ID Being Responded To, Command Data Set Type 0x0101 (none), Status,
Affected SOP Instance UID — Implicit VR Little Endian (PS3.7 6.3.1), each UID padded
with a NUL to an even length. :class:`StoreResponder` writes those bytes directly;
any response with an Error Comment or Offending Element, any other message, and any
association that has an ``EVT_DIMSE_SENT`` handler bound go through pynetdicom as
before. ``tests/unit/edge/test_store_response.py`` checks the bytes against
pynetdicom's own encoding.
"""

from __future__ import annotations

import struct
from typing import Any

from pynetdicom import evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA

_C_STORE_RSP = 0x8001
_NO_DATA_SET = 0x0101
_LAST_COMMAND_FRAGMENT = b"\x03"
_PDV_OVERHEAD = 6  # PDV item length (4) + presentation context ID (1) + control header (1)

_US = struct.Struct("<HHIH")  # tag group, tag element, value length 2, value
_UL = struct.Struct("<HHII")
_HEADER = struct.Struct("<HHI")


def _uid_element(element: int, uid: str) -> bytes:
    value = uid.encode("ascii")
    if len(value) % 2:
        value += b"\x00"
    return _HEADER.pack(0x0000, element, len(value)) + value


def encode_store_response(
    *, sop_class_uid: str, sop_instance_uid: str, message_id: int, status: int
) -> bytes:
    """The command set of a C-STORE-RSP without Error Comment or Offending Element,
    Implicit VR Little Endian, as pynetdicom would encode it."""
    body = b"".join(
        (
            _uid_element(0x0002, sop_class_uid),
            _US.pack(0x0000, 0x0100, 2, _C_STORE_RSP),
            _US.pack(0x0000, 0x0120, 2, message_id),
            _US.pack(0x0000, 0x0800, 2, _NO_DATA_SET),
            _US.pack(0x0000, 0x0900, 2, status),
            _uid_element(0x1000, sop_instance_uid),
        )
    )
    return _UL.pack(0x0000, 0x0000, 4, len(body)) + body


def plain_store_response(primitive: Any) -> bytes | None:
    """The encoded command set when ``primitive`` is a C-STORE response this module
    can write (all four fields set, no Error Comment, no Offending Element), else None."""
    if type(primitive) is not C_STORE or primitive.MessageIDBeingRespondedTo is None:
        return None
    if primitive.ErrorComment is not None or primitive.OffendingElement is not None:
        return None
    sop_class = primitive.AffectedSOPClassUID
    sop_instance = primitive.AffectedSOPInstanceUID
    status = primitive.Status
    if sop_class is None or sop_instance is None or status is None:
        return None
    return encode_store_response(
        sop_class_uid=str(sop_class),
        sop_instance_uid=str(sop_instance),
        message_id=int(primitive.MessageIDBeingRespondedTo),
        status=int(status),
    )


class StoreResponder(DIMSEServiceProvider):
    """pynetdicom's DIMSE provider, sending plain C-STORE responses from
    :func:`plain_store_response`. Installed on accepted associations by swapping the
    class in ``handle_conn_open`` (the provider is created by pynetdicom)."""

    def send_msg(self, primitive: Any, context_id: int) -> None:
        command = plain_store_response(primitive)
        if command is None or self.assoc.get_handlers(evt.EVT_DIMSE_SENT):
            super().send_msg(primitive, context_id)
            return
        max_pdu = self.maximum_pdu_size
        if max_pdu and len(command) + _PDV_OVERHEAD > max_pdu:
            super().send_msg(primitive, context_id)
            return
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, _LAST_COMMAND_FRAGMENT + command))
        self.dul.send_pdu(pdata)
