"""The File Meta Information written directly has pydicom's exact bytes."""

from __future__ import annotations

import io

import pytest
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID
from pynetdicom.dsutils import create_file_meta

from edge_gateway.dicom.file_meta import (
    PlainFileMeta,
    _create_plain_file_meta,
    _write_plain_file_meta,
    encode_file_meta,
)

TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.5",
]


def _pydicom_bytes(sop_class: str, sop_instance: str, transfer_syntax: str, **kw: str) -> bytes:
    meta = create_file_meta(
        sop_class_uid=UID(sop_class),
        sop_instance_uid=UID(sop_instance),
        transfer_syntax=UID(transfer_syntax),
        **kw,  # type: ignore[arg-type]
    )
    out = io.BytesIO()
    write_file_meta_info(out, meta)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize("transfer_syntax", TRANSFER_SYNTAXES)
@pytest.mark.parametrize(
    "sop_class", ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1"]
)
@pytest.mark.parametrize(
    "sop_instance", ["1.2.3", "1.2.34", "2.25.329800735698586629295641978511506172918"]
)
def test_bytes_equal_pydicoms(transfer_syntax: str, sop_class: str, sop_instance: str) -> None:
    expected = _pydicom_bytes(sop_class, sop_instance, transfer_syntax)
    assert (
        encode_file_meta(
            sop_class_uid=sop_class, sop_instance_uid=sop_instance, transfer_syntax=transfer_syntax
        )
        == expected
    )
    out = io.BytesIO()
    _write_plain_file_meta(
        out,
        _create_plain_file_meta(
            sop_class_uid=UID(sop_class),
            sop_instance_uid=UID(sop_instance),
            transfer_syntax=UID(transfer_syntax),
        ),
    )
    assert out.getvalue() == expected


@pytest.mark.parametrize("version", ["PYNETDICOM_304", "EDGE_1", "X"])
def test_implementation_fields_are_padded_as_pydicom_pads_them(version: str) -> None:
    expected = _pydicom_bytes(
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.3",
        "1.2.840.10008.1.2.1",
        implementation_uid="1.2.826.0.1.3680043.9.3811.1",
        implementation_version=version,
    )
    ours = encode_file_meta(
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        sop_instance_uid="1.2.3",
        transfer_syntax="1.2.840.10008.1.2.1",
        implementation_uid="1.2.826.0.1.3680043.9.3811.1",
        implementation_version=version,
    )
    assert ours == expected


def test_other_file_meta_goes_to_pydicom() -> None:
    meta = create_file_meta(
        sop_class_uid=UID("1.2.840.10008.5.1.4.1.1.2"),
        sop_instance_uid=UID("1.2.3"),
        transfer_syntax=UID("1.2.840.10008.1.2.1"),
    )
    meta.SourceApplicationEntityTitle = "CT1"  # not in the fixed group
    out = io.BytesIO()
    _write_plain_file_meta(out, meta)
    assert b"CT1" in out.getvalue()
    assert not isinstance(meta, PlainFileMeta)
