"""The streaming multipart/related parser behind STOW-RS, fed in every kind of chunking."""

from __future__ import annotations

import random

import pytest

from hub.services.multipart import MultipartError, MultipartParser, content_type_params

BOUNDARY = "0f3cf5c0-70e0"


class Sink:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.data = bytearray()
        self.ended = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data


def parse(body: bytes, chunk_sizes: list[int] | None = None) -> list[Sink]:
    sinks: list[Sink] = []

    def begin(headers: dict[str, str]) -> Sink:
        sinks.append(Sink(headers))
        return sinks[-1]

    def end(sink: object) -> None:
        assert isinstance(sink, Sink)
        sink.ended = True

    parser = MultipartParser(BOUNDARY, begin, end)
    at = 0
    for size in chunk_sizes or [len(body)]:
        parser.feed(body[at : at + size])
        at += size
    parser.feed(body[at:])
    parser.close()
    return sinks


PARTS = [
    b"\x00DICM" + bytes(range(256)) * 3,
    b"",  # an empty part
    # near misses of the delimiter (one inside must never occur: RFC 2046 §5.1.1)
    b"line\r\n--" + BOUNDARY[:-1].encode() + b"x\r\n-" + BOUNDARY.encode() + b"\r\n tail",
]
BODY = (
    b"preamble to ignore\r\n--" + BOUNDARY.encode() + b"  \t\r\n"  # transport padding
    b"Content-Type: application/dicom\r\nContent-Digest: sha-256=:abc=:\r\n\r\n"
    + PARTS[0]
    + b"\r\n--"
    + BOUNDARY.encode()
    + b"\r\n\r\n"  # no headers at all
    + PARTS[1]
    + b"\r\n--"
    + BOUNDARY.encode()
    + b"\r\nContent-Type: application/dicom;\r\n transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n"
    + PARTS[2]
    + b"\r\n--"
    + BOUNDARY.encode()
    + b"--\r\nepilogue --"
    + BOUNDARY.encode()
)


def test_whole_body() -> None:
    sinks = parse(BODY)
    assert [bytes(s.data) for s in sinks] == PARTS
    assert all(s.ended for s in sinks)
    assert sinks[0].headers == {
        "content-type": "application/dicom",
        "content-digest": "sha-256=:abc=:",
    }
    assert sinks[1].headers == {}
    assert sinks[2].headers["content-type"].endswith("transfer-syntax=1.2.840.10008.1.2.1")


@pytest.mark.parametrize("seed", range(40))
def test_any_chunking(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [rng.choice([1, 2, 3, 7, 16, 64, 500]) for _ in range(len(BODY))]
    assert [bytes(s.data) for s in parse(BODY, sizes)] == PARTS


def test_starts_with_the_boundary_without_crlf() -> None:
    body = b"--" + BOUNDARY.encode() + b"\r\n\r\nabc\r\n--" + BOUNDARY.encode() + b"--"
    assert [bytes(s.data) for s in parse(body)] == [b"abc"]


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary anywhere",
        b"--" + BOUNDARY.encode() + b"\r\n\r\nabc",  # never closed
        b"--" + BOUNDARY.encode() + b"junk\r\n\r\nabc\r\n--" + BOUNDARY.encode() + b"--",
        b"--" + BOUNDARY.encode() + b"\r\nno colon here\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--",
    ],
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(MultipartError):
        parse(body)


def test_content_type_params() -> None:
    media, params = content_type_params(
        'Multipart/Related; type="application/dicom"; Boundary="a b"'
    )
    assert media == "multipart/related"
    assert params == {"type": "application/dicom", "boundary": "a b"}
