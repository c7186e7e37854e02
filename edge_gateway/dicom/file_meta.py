"""The File Meta Information of received instances, written straight to bytes
(pynetdicom 3.0.4, pinned in pyproject.toml).

pynetdicom streams a received C-STORE data set to a file, and starts that file with a
File Meta Information group it builds as a pydicom Dataset (``create_file_meta``) and
encodes with pydicom (``write_file_meta_info``): a tenth of the gateway's Python time
per instance. The group is fixed (PS3.10 7.1): group length, version 00 01, Media
Storage SOP Class and Instance UIDs, Transfer Syntax UID, pynetdicom's Implementation
Class UID and Version Name, Explicit VR Little Endian. :func:`write_file_meta_directly`
makes pynetdicom's received-data path use :func:`encode_file_meta` for it;
``tests/unit/edge/test_file_meta.py`` checks the bytes against pydicom's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from pydicom.filewriter import write_file_meta_info
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

_SHORT = struct.Struct("<HH2sH")  # group, element, VR, 2-byte length
_LONG = struct.Struct("<HH2s2xI")  # group, element, VR, reserved, 4-byte length


def _short(element: int, vr: bytes, value: bytes) -> bytes:
    return _SHORT.pack(0x0002, element, vr, len(value)) + value


def _uid(element: int, uid: str) -> bytes:
    value = uid.encode("ascii")
    return _short(element, b"UI", value + b"\x00" if len(value) % 2 else value)


def encode_file_meta(
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    implementation_uid: str = PYNETDICOM_IMPLEMENTATION_UID,
    implementation_version: str = PYNETDICOM_IMPLEMENTATION_VERSION,
) -> bytes:
    """The File Meta Information group (without preamble and ``DICM``) as pydicom's
    ``write_file_meta_info`` writes pynetdicom's ``create_file_meta`` Dataset."""
    version = implementation_version.encode("ascii")
    if len(version) % 2:
        version += b" "
    body = b"".join(
        (
            _LONG.pack(0x0002, 0x0001, b"OB", 2) + b"\x00\x01",
            _uid(0x0002, sop_class_uid),
            _uid(0x0003, sop_instance_uid),
            _uid(0x0010, transfer_syntax),
            _uid(0x0012, implementation_uid),
            _short(0x0013, b"SH", version),
        )
    )
    return _SHORT.pack(0x0002, 0x0000, b"UL", 4) + struct.pack("<I", len(body)) + body


@dataclass(frozen=True)
class PlainFileMeta:
    """What pynetdicom's ``create_file_meta`` is asked for, already encoded."""

    encoded: bytes


def _create_plain_file_meta(**fields: str) -> PlainFileMeta:
    """Stands in for pynetdicom's ``create_file_meta`` (same keywords; its UIDs are
    pydicom ``UID`` values, which are ``str``)."""
    return PlainFileMeta(encode_file_meta(**fields))


def _write_plain_file_meta(fp: BinaryIO, file_meta: Any, enforce_standard: bool = True) -> None:
    if isinstance(file_meta, PlainFileMeta):
        fp.write(file_meta.encoded)
    else:
        write_file_meta_info(fp, file_meta, enforce_standard)  # type: ignore[arg-type]


def write_file_meta_directly() -> None:
    """Make pynetdicom's C-STORE receive path (``DIMSEMessage.decode_msg``, the only
    user of these two names in :mod:`pynetdicom.dimse_messages`) write the File Meta
    Information with :func:`encode_file_meta`. Process-wide; called from the gateway's
    ``configure_pynetdicom``, not at import."""
    import pynetdicom.dimse_messages as dimse_messages

    setattr(dimse_messages, "create_file_meta", _create_plain_file_meta)  # noqa: B010
    setattr(dimse_messages, "write_file_meta_info", _write_plain_file_meta)  # noqa: B010
