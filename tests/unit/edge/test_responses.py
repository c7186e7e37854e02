"""C-STORE and C-FIND responses written directly have pynetdicom's exact P-DATA."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pynetdicom.dimse_messages import C_FIND_RSP, C_STORE_RSP
from pynetdicom.dimse_primitives import C_ECHO, C_FIND, C_GET, C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA

from edge_gateway.dicom.responses import (
    encode_pdata_pdus,
    encode_store_response,
    pdata_values,
    plain_response,
)
from shared.dicom import status

CT = "1.2.840.10008.5.1.4.1.1.2"
WORKLIST = "1.2.840.10008.5.1.4.31"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def _store_response(sop_instance: str, message_id: int, code: int) -> C_STORE:
    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.AffectedSOPClassUID = CT
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Status = code
    return primitive


def _find_response(sop_class: str, code: int, identifier: Dataset | None) -> C_FIND:
    """As pynetdicom's C-FIND SCP builds them: an encoded identifier for pending ones."""
    primitive = C_FIND()
    primitive.MessageIDBeingRespondedTo = 3
    primitive.AffectedSOPClassUID = sop_class
    primitive.Status = code
    if identifier is not None:
        primitive.Identifier = BytesIO(encode(identifier, True, True))  # type: ignore[arg-type]
    return primitive


def _pynetdicoms(message: C_STORE_RSP | C_FIND_RSP, primitive: object, max_pdu: int) -> list[bytes]:
    message.primitive_to_message(primitive)  # type: ignore[arg-type]
    values = []
    for pdata in message.encode_msg(1, max_pdu):
        ((context_id, value),) = pdata.presentation_data_value_list
        assert context_id == 1
        values.append(bytes(value))
    return values


def _ours(primitive: object, max_pdu: int) -> list[bytes]:
    response = plain_response(primitive)
    assert response is not None
    values = pdata_values(response, max_pdu)
    assert values is not None
    return values


def _identifier(items: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "张^三丰"
    ds.PatientID = "P0001"
    ds.AccessionNumber = "A123"
    steps = []
    for number in range(items):
        step = Dataset()
        step.Modality = "CT"
        step.ScheduledStationAETitle = "CT1"
        step.ScheduledProcedureStepDescription = f"胸部平扫 {number}"
        steps.append(step)
    ds.ScheduledProcedureStepSequence = steps
    return ds


@pytest.mark.parametrize(
    "sop_instance", ["1.2.3", "1.2.34", "2.25.329800735698586629295641978511506172918"]
)
@pytest.mark.parametrize("message_id", [1, 65535])
@pytest.mark.parametrize(
    "code",
    [
        status.SUCCESS,
        status.NOT_AUTHORIZED,
        status.STORE_CANNOT_UNDERSTAND,
        status.STORE_DATASET_MISMATCH,
        status.STORE_OUT_OF_RESOURCES,
        status.PROCESSING_FAILURE,
    ],
)
def test_store_responses_equal_pynetdicoms(sop_instance: str, message_id: int, code: int) -> None:
    primitive = _store_response(sop_instance, message_id, code)
    expected = _pynetdicoms(C_STORE_RSP(), primitive, 16382)
    assert _ours(primitive, 16382) == expected
    assert expected == [
        b"\x03"
        + encode_store_response(
            sop_class_uid=CT, sop_instance_uid=sop_instance, message_id=message_id, status=code
        )
    ]


@pytest.mark.parametrize("sop_class", [WORKLIST, STUDY_ROOT_FIND])
@pytest.mark.parametrize("code", [0xFF00, 0xFF01])
@pytest.mark.parametrize("items", [1, 40, 400])
@pytest.mark.parametrize("max_pdu", [0, 16382, 512])
def test_pending_find_responses_equal_pynetdicoms(
    sop_class: str, code: int, items: int, max_pdu: int
) -> None:
    primitive = _find_response(sop_class, code, _identifier(items))
    expected = _pynetdicoms(C_FIND_RSP(), primitive, max_pdu)
    assert _ours(primitive, max_pdu) == expected
    if max_pdu == 512 and items > 1:
        assert len(expected) > 2  # the identifier went in several fragments


@pytest.mark.parametrize("code", [status.SUCCESS, 0xFE00, 0xA700, 0xC000])
def test_final_find_responses_equal_pynetdicoms(code: int) -> None:
    primitive = _find_response(WORKLIST, code, None)
    assert _ours(primitive, 16382) == _pynetdicoms(C_FIND_RSP(), primitive, 16382)


def test_a_command_set_larger_than_the_peers_pdu_is_left_to_pynetdicom() -> None:
    response = plain_response(_store_response("1.2.3", 1, status.SUCCESS))
    assert response is not None
    assert pdata_values(response, 40) is None


def test_responses_with_more_than_the_plain_fields_are_left_to_pynetdicom() -> None:
    with_comment = _store_response("1.2.3", 1, status.PROCESSING_FAILURE)
    with_comment.ErrorComment = "index unavailable"  # type: ignore[assignment]
    assert plain_response(with_comment) is None

    with_offending = _find_response(WORKLIST, 0xA900, None)
    with_offending.OffendingElement = [0x00080018]  # type: ignore[assignment]
    assert plain_response(with_offending) is None

    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = CT
    request.AffectedSOPInstanceUID = "1.2.3"
    assert plain_response(request) is None  # a request, not a response

    no_status = _store_response("1.2.3", 1, 0)
    no_status.Status = None
    assert plain_response(no_status) is None

    echo = C_ECHO()
    echo.MessageIDBeingRespondedTo = 1
    echo.Status = 0
    assert plain_response(echo) is None

    get = C_GET()  # sub-operation counters: pynetdicom's way
    get.MessageIDBeingRespondedTo = 1
    get.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.3"
    get.Status = 0xFF00
    assert plain_response(get) is None


@pytest.mark.parametrize("context_id", [1, 255])
@pytest.mark.parametrize("max_pdu", [0, 512])
def test_pdus_written_directly_equal_pynetdicoms(context_id: int, max_pdu: int) -> None:
    primitive = _find_response(WORKLIST, status.PENDING, _identifier(40))
    values = _ours(primitive, max_pdu)
    expected = b""
    for value in values:
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, value))
        expected += P_DATA_TF(pdata).encode()
    assert encode_pdata_pdus(context_id, values) == expected
    assert len(values) == 2 if max_pdu == 0 else len(values) > 2  # fragmented at 512
