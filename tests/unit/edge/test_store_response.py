"""C-STORE responses written directly have pynetdicom's exact bytes."""

from __future__ import annotations

import pytest
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_ECHO, C_STORE

from edge_gateway.dicom.store_response import encode_store_response, plain_store_response
from shared.dicom import status


def _response(sop_class: str, sop_instance: str, message_id: int, code: int) -> C_STORE:
    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.AffectedSOPClassUID = sop_class
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Status = code
    return primitive


def _pynetdicom_bytes(primitive: C_STORE) -> bytes:
    message = C_STORE_RSP()
    message.primitive_to_message(primitive)
    (pdata,) = list(message.encode_msg(1, 16382))
    ((context_id, pdv),) = pdata.presentation_data_value_list
    assert context_id == 1 and pdv[:1] == b"\x03"
    return bytes(pdv[1:])


@pytest.mark.parametrize(
    "sop_class",
    ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.1.2.1"],
)
@pytest.mark.parametrize(
    "sop_instance",
    ["1.2.3", "1.2.34", "2.25.329800735698586629295641978511506172918", "1." + "9" * 62],
)
@pytest.mark.parametrize("message_id", [1, 7, 65535])
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
def test_bytes_equal_pynetdicoms(
    sop_class: str, sop_instance: str, message_id: int, code: int
) -> None:
    primitive = _response(sop_class, sop_instance, message_id, code)
    ours = plain_store_response(primitive)
    assert ours is not None
    assert ours == _pynetdicom_bytes(primitive)
    assert ours == encode_store_response(
        sop_class_uid=sop_class, sop_instance_uid=sop_instance, message_id=message_id, status=code
    )


def test_responses_with_more_than_the_plain_fields_are_left_to_pynetdicom() -> None:
    with_comment = _response("1.2.840.10008.5.1.4.1.1.2", "1.2.3", 1, status.PROCESSING_FAILURE)
    with_comment.ErrorComment = "index unavailable"  # type: ignore[assignment]
    assert plain_store_response(with_comment) is None

    with_offending = _response("1.2.840.10008.5.1.4.1.1.2", "1.2.3", 1, 0xA900)
    with_offending.OffendingElement = [0x00080018]  # type: ignore[assignment]
    assert plain_store_response(with_offending) is None

    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    request.AffectedSOPInstanceUID = "1.2.3"
    assert plain_store_response(request) is None  # a request, not a response

    no_status = _response("1.2.840.10008.5.1.4.1.1.2", "1.2.3", 1, 0)
    no_status.Status = None
    assert plain_store_response(no_status) is None

    echo = C_ECHO()
    echo.MessageIDBeingRespondedTo = 1
    echo.Status = 0
    assert plain_store_response(echo) is None
