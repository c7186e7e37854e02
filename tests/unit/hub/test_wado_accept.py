"""WADO-RS Accept negotiation: which media ranges the hub's retrieve honours."""

from __future__ import annotations

import pytest

from hub.services.wado_accept import (
    NotAcceptable,
    acceptable_syntaxes,
    media_ranges,
    require_syntaxes,
)

DICOM = 'multipart/related; type="application/dicom"'
EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG_LS = "1.2.840.10008.1.2.4.80"


def test_media_ranges_split_outside_quotes() -> None:
    assert media_ranges('a/b; x="1,2", c/d;q=0.5 ,, */*') == ['a/b; x="1,2"', "c/d;q=0.5", "*/*"]


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "multipart/*",
        "multipart/related",
        DICOM,
        f"{DICOM}; transfer-syntax=*",
        'Multipart/Related; Type="Application/DICOM"',
        f"application/json, {DICOM}; q=0.2",
        f"{DICOM}; transfer-syntax={EXPLICIT_LE}, */*; q=0.1",
    ],
)
def test_the_stored_bytes_are_acceptable(accept: str | None) -> None:
    assert acceptable_syntaxes(accept) is None


def test_named_transfer_syntaxes_are_collected() -> None:
    accept = f"{DICOM}; transfer-syntax={EXPLICIT_LE}, {DICOM}; transfer-syntax={JPEG_LS}"
    assert acceptable_syntaxes(accept) == frozenset({EXPLICIT_LE, JPEG_LS})


@pytest.mark.parametrize(
    "accept",
    [
        "application/dicom+json",
        "application/dicom",
        'multipart/related; type="image/jpeg"',
        f"{DICOM}; q=0",
        "*/*; q=0",
        f"{DICOM}; q=high",
        "not a media type",
    ],
)
def test_what_cannot_be_honoured(accept: str) -> None:
    with pytest.raises(NotAcceptable) as refused:
        acceptable_syntaxes(accept)
    assert "/" in refused.value.detail and "Accept" in refused.value.detail


def test_no_transcoding() -> None:
    require_syntaxes(None, [JPEG_LS])
    require_syntaxes(frozenset({EXPLICIT_LE, JPEG_LS}), [JPEG_LS, EXPLICIT_LE])
    with pytest.raises(NotAcceptable) as refused:
        require_syntaxes(frozenset({EXPLICIT_LE}), [EXPLICIT_LE, JPEG_LS])
    assert JPEG_LS in refused.value.detail and EXPLICIT_LE not in refused.value.detail
