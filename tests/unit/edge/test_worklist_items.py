"""Worklist items written straight to bytes equal pydicom's encoding of the Dataset the
worklist service builds otherwise, whatever the query asks for."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import decode, encode

from edge_gateway.dicom.encoded_identifiers import (
    EncodedIdentifier,
    encode_identifier,
    plain_syntax,
)
from edge_gateway.dicom.mwl import (
    STEP_KEYWORDS,
    TOP_KEYWORDS,
    WorklistService,
    step_values,
    top_values,
)
from edge_gateway.dicom.worklist_items import ItemLayout
from edge_gateway.store.models import StepStatus

# The fallback cases hand pydicom values it can only write with replacement characters,
# and it says so; that is the behaviour the fallback keeps.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Failed to encode value with encodings"),
    pytest.mark.filterwarnings("ignore:A value of type 'str' cannot be assigned"),
]

ROW: dict[str, Any] = {
    "patient_name": "张^三丰",
    "patient_id": "P0001",
    "birth_date": "19560101",
    "sex": "F",
    "accession": "A12345",  # even
    "referring_physician": "欧阳^娜娜",
    "study_uid": "1.2.826.0.1.3680043.8.498.1234567",  # odd: NUL-padded
    "requested_procedure_id": "RP1",
    "requested_procedure_description": "胸部CT平扫",
    "modality": "CT",
    "station_ae": "CT1",
    "station_name": "东葛CT一室",
    "start_date": "20261126",
    "start_time": "093000",
    "performing_physician": "",
    "sps_description": "胸部 平扫",
    "sps_id": "S1",
    "status": StepStatus.SCHEDULED,
}
EMPTY_ROW = {
    **ROW,
    "birth_date": "",
    "sex": "",
    "referring_physician": "",
    "station_name": "",
    "requested_procedure_description": "",
}


def _modality_query() -> Dataset:
    """What a modality typically asks: the bench's query (a)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword in sorted(TOP_KEYWORDS):
        setattr(ds, keyword, "")
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledStationAETitle = "CT1"
    step.ScheduledProcedureStepStartDate = "20261126"
    for keyword in ("ScheduledProcedureStepStartTime", "ScheduledProcedureStepDescription"):
        setattr(step, keyword, "")
    step.ScheduledPerformingPhysicianName = ""
    step.ScheduledProcedureStepID = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _name_only() -> Dataset:
    ds = Dataset()
    ds.PatientName = "张*"
    return ds


def _empty_step_item() -> Dataset:
    ds = Dataset()
    ds.PatientID = "P0001"
    ds.AccessionNumber = ""
    ds.ScheduledProcedureStepSequence = [Dataset()]
    return ds


def _empty_step_sequence() -> Dataset:
    ds = Dataset()
    ds.PatientID = "P0001"
    ds.ScheduledProcedureStepSequence = Sequence()
    return ds


def _unusual_keys() -> Dataset:
    """Attributes the steps have no value for, in VRs of every kind, and sequences."""
    ds = _modality_query()
    ds.PatientWeight = None  # DS
    ds.Rows = None  # US
    ds.SmallestImagePixelValue = None  # 'US or SS'
    ds.PatientComments = None  # LT (long text, charset)
    ds.OtherPatientIDsSequence = [Dataset()]  # SQ: left out
    ds.add_new(0x00090010, "LO", "PRIVATE CREATOR")
    ds.add_new(0x00091001, "UN", None)
    ds.AdmissionID = ""
    ds.RequestedProcedurePriority = ""
    ds.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence = [Dataset()]
    ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepLocation = ""
    ds.ScheduledProcedureStepSequence[0].ScheduledStationName = ""
    ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus = ""
    return ds


QUERIES = {
    "modality": _modality_query,
    "name-only": _name_only,
    "empty-step-item": _empty_step_item,
    "empty-step-sequence": _empty_step_sequence,
    "unusual": _unusual_keys,
}


def _received(query: Dataset, implicit: bool) -> Dataset:
    """The identifier as the gateway's handler gets it: decoded from the wire."""
    data = encode(query, implicit, True)
    assert data is not None
    return decode(BytesIO(data), implicit, True)


def _asked(identifier: Dataset) -> tuple[list[Any], bool, list[Any]]:
    """(top-level elements asked for, whether the step sequence is, its elements), as
    ``WorklistService.find`` lists them."""
    requested = [e for e in identifier if e.keyword != "SpecificCharacterSet"]
    sequence = identifier.get("ScheduledProcedureStepSequence")
    return requested, sequence is not None, list(sequence[0]) if sequence else []


def _ours(
    charset: str, implicit: bool, identifier: Dataset, row: dict[str, Any]
) -> tuple[ItemLayout | None, bytes | None]:
    requested, step_requested, wanted = _asked(identifier)
    layout = ItemLayout.for_query(
        charset=charset,
        implicit=implicit,
        requested=requested,
        top_keywords=TOP_KEYWORDS,
        step_requested=step_requested,
        step_wanted=wanted,
        step_keywords=STEP_KEYWORDS,
    )
    return layout, layout.encode(top_values(row), step_values(row)) if layout else None


def _both(
    charset: str, implicit: bool, query: Dataset, row: dict[str, Any]
) -> tuple[ItemLayout | None, bytes | None, bytes]:
    """(layout, our bytes, pydicom's bytes of the Dataset the service builds otherwise)."""
    identifier = _received(query, implicit)
    service = WorklistService(None, None, None, charset=charset)  # type: ignore[arg-type]
    expected = encode(service._item(*_asked(identifier), row), implicit, True)
    assert expected is not None
    return (*_ours(charset, implicit, identifier, row), expected)


@pytest.mark.parametrize("charset", ["ISO_IR 192", "GB18030", "GBK"])
@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
@pytest.mark.parametrize("query", sorted(QUERIES))
@pytest.mark.parametrize("row", [ROW, EMPTY_ROW], ids=["full", "sparse"])
def test_items_equal_pydicoms(
    charset: str, implicit: bool, query: str, row: dict[str, Any]
) -> None:
    layout, ours, expected = _both(charset, implicit, QUERIES[query](), row)
    assert layout is not None
    assert ours == expected
    # and it reads back as the answer the modality wants
    item = decode(BytesIO(ours), implicit, True)
    assert item.SpecificCharacterSet == charset
    if "PatientName" in item:
        assert str(item.PatientName) == row["patient_name"]


@pytest.mark.parametrize("charset", ["\\ISO 2022 IR 58", "ISO_IR 100", "ISO_IR 6"])
def test_charsets_with_code_extensions_or_no_chinese_are_left_to_pydicom(charset: str) -> None:
    layout, ours, _ = _both(charset, True, _modality_query(), ROW)
    assert layout is None and ours is None


def test_a_value_the_charset_cannot_hold_is_left_to_pydicom() -> None:
    row = {**ROW, "patient_name": "张^\U0001f600"}  # not in GBK
    layout, ours, _ = _both("GBK", False, _modality_query(), row)
    assert layout is not None
    assert ours is None


def test_a_value_in_a_binary_vr_is_left_to_pydicom() -> None:
    """A peer that sends PatientID as OB (explicit VR): the step has a value for it, and
    only pydicom knows how to write a str there."""
    query = _name_only()
    query.add_new(0x00100020, "OB", b"")
    layout, ours = _ours("ISO_IR 192", False, _received(query, False), ROW)
    assert layout is None and ours is None


@pytest.mark.parametrize(
    ("syntax", "implicit"),
    [(ImplicitVRLittleEndian, True), (ExplicitVRLittleEndian, False)],
)
def test_encoded_identifiers_pass_through_pynetdicoms_encode(syntax: str, implicit: bool) -> None:
    assert plain_syntax(syntax) is implicit
    identifier = EncodedIdentifier(b"\x08\x00\x05\x00", implicit_vr=implicit)
    assert encode_identifier(identifier, implicit, True) == b"\x08\x00\x05\x00"
    # another syntax: pydicom encodes it (an empty Dataset: nothing), never wrong bytes
    assert encode_identifier(identifier, not implicit, True) == b""
    assert encode_identifier(identifier, implicit, True, deflated=True) != b"\x08\x00\x05\x00"
    ds = Dataset()
    ds.PatientID = "P1"
    assert encode_identifier(ds, implicit, True) == encode(ds, implicit, True)


def test_deflated_and_big_endian_syntaxes_are_not_plain() -> None:
    assert plain_syntax("1.2.840.10008.1.2.1.99") is None
    assert plain_syntax("1.2.840.10008.1.2.2") is None
