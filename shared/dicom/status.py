"""Named DIMSE status codes (PS3.4 and PS3.7 Annex C).

Handlers return these names, never bare hex numbers, so a log line or a test reads
as what happened.
"""

from __future__ import annotations

from typing import Final

SUCCESS: Final = 0x0000

# General (PS3.7 C.4) — used by the N-services and as refusals.
PROCESSING_FAILURE: Final = 0x0110
DUPLICATE_SOP_INSTANCE: Final = 0x0111
NO_SUCH_SOP_INSTANCE: Final = 0x0112
INVALID_ATTRIBUTE_VALUE: Final = 0x0106
MISSING_ATTRIBUTE: Final = 0x0120
MISSING_ATTRIBUTE_VALUE: Final = 0x0121
SOP_CLASS_NOT_SUPPORTED: Final = 0x0122
NOT_AUTHORIZED: Final = 0x0124

# Storage service class (PS3.4 B.2.3).
STORE_OUT_OF_RESOURCES: Final = 0xA700
STORE_DATASET_MISMATCH: Final = 0xA900
STORE_CANNOT_UNDERSTAND: Final = 0xC000
STORE_COERCION: Final = 0xB000
STORE_ELEMENTS_DISCARDED: Final = 0xB006

# Query/Retrieve and Worklist C-FIND (PS3.4 C.4.1.1.4, K.4.1.1.4).
FIND_OUT_OF_RESOURCES: Final = 0xA700
FIND_IDENTIFIER_MISMATCH: Final = 0xA900
FIND_UNABLE_TO_PROCESS: Final = 0xC000
PENDING: Final = 0xFF00
PENDING_WARNING: Final = 0xFF01
CANCEL: Final = 0xFE00

# C-MOVE / C-GET (PS3.4 C.4.2.1.5, C.4.3.1.4).
MOVE_OUT_OF_RESOURCES_MATCHES: Final = 0xA701
MOVE_OUT_OF_RESOURCES_SUBOPS: Final = 0xA702
MOVE_DESTINATION_UNKNOWN: Final = 0xA801
RETRIEVE_IDENTIFIER_MISMATCH: Final = 0xA900
RETRIEVE_UNABLE_TO_PROCESS: Final = 0xC000
SUBOPS_COMPLETE_WITH_FAILURES: Final = 0xB000

# Modality Performed Procedure Step (PS3.4 F.7.2).
MPPS_MAY_NO_LONGER_BE_UPDATED: Final = 0xA710

NAMES: Final[dict[int, str]] = {
    SUCCESS: "Success",
    PROCESSING_FAILURE: "Processing failure",
    DUPLICATE_SOP_INSTANCE: "Duplicate SOP Instance",
    NO_SUCH_SOP_INSTANCE: "No such SOP Instance",
    INVALID_ATTRIBUTE_VALUE: "Invalid attribute value",
    MISSING_ATTRIBUTE: "Missing attribute",
    MISSING_ATTRIBUTE_VALUE: "Missing attribute value",
    SOP_CLASS_NOT_SUPPORTED: "SOP Class not supported",
    NOT_AUTHORIZED: "Refused: not authorized",
    STORE_OUT_OF_RESOURCES: "Refused: out of resources",
    STORE_DATASET_MISMATCH: "Data Set does not match SOP Class",
    STORE_CANNOT_UNDERSTAND: "Cannot understand",
    STORE_COERCION: "Coercion of data elements",
    PENDING: "Pending",
    PENDING_WARNING: "Pending (warning)",
    CANCEL: "Cancelled",
    MOVE_OUT_OF_RESOURCES_MATCHES: "Out of resources: unable to calculate number of matches",
    MOVE_OUT_OF_RESOURCES_SUBOPS: "Out of resources: unable to perform sub-operations",
    MOVE_DESTINATION_UNKNOWN: "Move destination unknown",
    MPPS_MAY_NO_LONGER_BE_UPDATED: "Performed Procedure Step may no longer be updated",
}


def status_name(code: int) -> str:
    """Return a readable name for a DIMSE status code, e.g. ``"0xA801 Move destination
    unknown"``; unnamed codes in a known range are described by their range."""
    name = NAMES.get(code)
    if name is None:
        if 0xC000 <= code <= 0xCFFF:
            name = "Cannot understand / unable to process"
        elif 0xA700 <= code <= 0xA7FF:
            name = "Out of resources"
        elif 0xA900 <= code <= 0xA9FF:
            name = "Does not match SOP Class"
        else:
            name = "Unknown status"
    return f"0x{code:04X} {name}"


def is_success(code: int) -> bool:
    """True for Success and for warnings that still mean the operation was done."""
    return code == SUCCESS or code in (STORE_COERCION, STORE_ELEMENTS_DISCARDED, 0xB007)
