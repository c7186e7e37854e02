"""Reading what the index needs from a received file, without decoding pixel data.

The header is read by the fast scanner (``edge_gateway.dicom.header``), else by
pydicom; the fields of a plain-ASCII header are taken from its raw bytes
(``edge_gateway.dicom.quick_meta``), the others built by ``shared.dicom.instance``
(text trimmed, UIDs checked against PS3.5).
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from edge_gateway.dicom.header import scan_header
from edge_gateway.dicom.quick_meta import quick_meta
from shared.dicom.charset import apply_default_charset, guess_charset
from shared.dicom.instance import (
    INDEX_KEYWORDS,
    INDEX_TAGS,
    LAST_INDEX_TAG,
    InstanceMeta,
    InstanceUIDError,
    instance_meta,
)

_TAGS = list(INDEX_KEYWORDS)
_WANTED = INDEX_TAGS
_LAST_TAG = LAST_INDEX_TAG


class InvalidInstance(ValueError):
    """The received object cannot be archived; the message says why.

    ``unparsable`` is True when the bytes are not a readable data set, False when the
    data set reads but lacks what an archive needs (its UIDs).
    """

    def __init__(self, message: str, *, unparsable: bool = False) -> None:
        super().__init__(message)
        self.unparsable = unparsable


def read_instance_meta(path: Path, *, default_charset: str | None = None) -> InstanceMeta:
    """Read the index fields of the Part 10 file at ``path``.

    Raises ``InvalidInstance`` when the file cannot be parsed or lacks a valid SOP
    Instance, SOP Class, Study Instance or Series Instance UID.
    """
    try:
        scanned = scan_header(path, _WANTED, _LAST_TAG)
        if scanned is not None:
            transfer_syntax, ds = scanned
            quick = quick_meta(ds, transfer_syntax)
            if quick is not None:
                return quick
        else:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
            transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
        apply_default_charset(ds, guess_charset(ds, default_charset))
        return meta_from_dataset(ds, transfer_syntax)
    except InvalidInstance:
        raise
    except (InvalidDicomError, ValueError, KeyError, EOFError, OSError, AttributeError) as exc:
        raise InvalidInstance(f"cannot parse the data set: {exc}", unparsable=True) from exc


def meta_from_dataset(ds: Dataset, transfer_syntax: str) -> InstanceMeta:
    """Build :class:`InstanceMeta` from a decoded dataset (see ``read_instance_meta``):
    text trimmed, numbers as pydicom parses them. Raises ``InvalidInstance`` naming
    the first of SOP Instance, SOP Class, Study Instance and Series Instance UID that
    is missing or not a valid UID."""
    try:
        return instance_meta(ds, transfer_syntax)
    except InstanceUIDError as exc:
        raise InvalidInstance(str(exc)) from exc
