"""C-FIND response identifiers handed to pynetdicom already encoded (pynetdicom 3.0.4,
pinned in pyproject.toml).

A C-FIND handler gives pynetdicom each matching identifier as a pydicom Dataset, which
pynetdicom's C-FIND SCP encodes with pydicom (``pynetdicom.dsutils.encode``, imported
by name into :mod:`pynetdicom.service_class`): for a worklist answer, building and
encoding those Datasets was half of what the gateway spent per query. A handler that
can write the bytes itself yields an :class:`EncodedIdentifier` instead, and
:func:`encode_identifiers_directly` makes pynetdicom's C-FIND SCP send those bytes as they
are; every other Dataset is encoded by pynetdicom as before. A handler asks
:func:`identifiers_encoded_directly` first, so if the name ever moves in pynetdicom it
goes on yielding Datasets (slower, not wrong).
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import encode as pydicom_encode


class EncodedIdentifier(Dataset):
    """A response identifier as bytes in one of the two plain little-endian transfer
    syntaxes; as a Dataset it is empty (nothing reads it but :func:`encode_identifier`)."""

    def __init__(self, encoded: bytes, *, implicit_vr: bool) -> None:
        super().__init__()
        self.encoded = encoded
        self.implicit_vr = implicit_vr


def encode_identifier(
    ds: Any, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False
) -> bytes | None:
    """Stands in for pynetdicom's ``encode`` in its service classes: the bytes of an
    :class:`EncodedIdentifier` made for this transfer syntax, anything else through
    pydicom (``None`` on failure, as pynetdicom's own ``encode``)."""
    if (
        isinstance(ds, EncodedIdentifier)
        and ds.implicit_vr == is_implicit_vr
        and is_little_endian
        and not deflated
    ):
        return ds.encoded
    return pydicom_encode(ds, is_implicit_vr, is_little_endian, deflated)


def encode_identifiers_directly() -> None:
    """Install :func:`encode_identifier` in :mod:`pynetdicom.service_class`. Process-wide;
    called from the gateway's ``configure_pynetdicom``, not at import."""
    import pynetdicom.service_class as service_class

    setattr(service_class, "encode", encode_identifier)  # noqa: B010


def identifiers_encoded_directly() -> bool:
    """Whether pynetdicom's C-FIND SCP passes :class:`EncodedIdentifier` bytes through."""
    import pynetdicom.service_class as service_class

    return getattr(service_class, "encode", None) is encode_identifier


def plain_syntax(transfer_syntax: str) -> bool | None:
    """True for Implicit VR Little Endian, False for Explicit VR Little Endian, None
    for any other transfer syntax (deflated, big endian: pydicom encodes those)."""
    if transfer_syntax == ImplicitVRLittleEndian:
        return True
    if transfer_syntax == ExplicitVRLittleEndian:
        return False
    return None
