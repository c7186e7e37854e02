"""STOW-RS bodies (multipart/related with Content-Digest per part) and replies."""

from __future__ import annotations

import base64
import hashlib
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

from edge_gateway.sync.multipart import (
    StowBody,
    UploadFile,
    content_digest,
    parse_stow_reply,
)


def _files(tmp_path: Path, sizes: list[int]) -> list[UploadFile]:
    out = []
    for i, size in enumerate(sizes):
        data = bytes((i * 7 + j) % 251 for j in range(size))
        path = tmp_path / f"f{i}.dcm"
        path.write_bytes(data)
        out.append(UploadFile(f"1.2.3.{i}", path, hashlib.sha256(data).hexdigest()))
    return out


def _parse(body: StowBody) -> Message:
    raw = b"".join(body)
    head = f"Content-Type: {body.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    return message_from_bytes(head + raw)


def test_digest_is_rfc9530_base64_of_the_sha256() -> None:
    sha = hashlib.sha256(b"hello").hexdigest()
    expected = base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    assert content_digest(sha) == f"sha-256=:{expected}:"


def test_body_has_one_dicom_part_per_file_with_its_digest(tmp_path: Path) -> None:
    files = _files(tmp_path, [0, 1, 3000, (1 << 20) + 17])
    with StowBody(files) as body:
        assert body.content_type.startswith('multipart/related; type="application/dicom"; ')
        raw = b"".join(body)
        assert len(raw) == body.length
        message = _parse(body)
    parts = message.get_payload()
    assert isinstance(parts, list) and len(parts) == len(files)
    for part, item in zip(parts, files, strict=True):
        assert part["Content-Type"] == "application/dicom"
        assert part["Content-Digest"] == content_digest(item.sha256)
        payload = part.get_payload(decode=True)
        assert payload == item.path.read_bytes()


def test_body_can_be_sent_twice_and_closes_its_files(tmp_path: Path) -> None:
    files = _files(tmp_path, [10, 20])
    with StowBody(files) as body:
        assert b"".join(body) == b"".join(body)
    assert body._handles == []


def test_missing_file_fails_before_anything_is_sent(tmp_path: Path) -> None:
    files = _files(tmp_path, [10])
    files.append(UploadFile("1.2.9", tmp_path / "gone.dcm", "00" * 32))
    with pytest.raises(FileNotFoundError), StowBody(files):
        pass


def _seq(*items: dict[str, object]) -> dict[str, object]:
    return {"vr": "SQ", "Value": list(items)}


def _ref(uid: str, reason: int | None = None) -> dict[str, object]:
    item: dict[str, object] = {"00081155": {"vr": "UI", "Value": [uid]}}
    if reason is not None:
        item["00081197"] = {"vr": "US", "Value": [reason]}
    return item


def test_reply_lists_stored_and_failed_instances() -> None:
    reply = {
        "00081199": _seq(_ref("1.1"), _ref("1.2")),
        "00081198": _seq(_ref("1.3", 0xA700), _ref("1.4")),
    }
    result = parse_stow_reply(reply)
    assert result.stored == {"1.1", "1.2"}
    assert result.failed["1.3"].endswith("failure reason 0xA700")
    assert result.failed["1.4"].endswith("no reason given")
    assert set(result.failed) == {"1.3", "1.4"}


@pytest.mark.parametrize(
    "reply",
    [None, [], "x", {}, {"00081199": {"vr": "SQ"}}, {"00081199": {"Value": ["junk", {}]}}],
)
def test_unreadable_reply_counts_as_nothing_stored(reply: object) -> None:
    result = parse_stow_reply(reply)
    assert result.stored == frozenset()


def test_instance_listed_both_ways_is_not_stored() -> None:
    reply = {"00081199": _seq(_ref("1.1")), "00081198": _seq(_ref("1.1", 272))}
    assert parse_stow_reply(reply).stored == frozenset()
