"""STOW-RS request bodies: ``multipart/related; type="application/dicom"`` streamed
from archive files, and the DICOM JSON reply (PS3.18 §10.5) read back.

Each part carries ``Content-Type: application/dicom`` and
``Content-Digest: sha-256=:<base64 of the sha256>:`` (RFC 9530) so the hub can check
every file before it keeps it.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

_CHUNK = 1 << 20
CRLF = b"\r\n"

REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"

CANNOT_UNDERSTAND = 0xC000
"""Failure Reason the hub gives a file it cannot read as DICOM: sending it again cannot
help, so such events are kept as FAILED for an operator instead of being retried."""


@dataclass(frozen=True)
class UploadFile:
    """One archive file to send: the current file of ``sop_uid`` and its sha256 (hex)."""

    sop_uid: str
    path: Path
    sha256: str


def content_digest(sha256_hex: str) -> str:
    """The ``Content-Digest`` header value for a sha256 given in hex."""
    return "sha-256=:" + base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii") + ":"


@dataclass
class StowBody:
    """A multipart/related body over open files. Use as a context manager: entering
    opens every file (raising ``OSError`` before anything is sent), so ``length`` is
    exact and ``Content-Length`` can be given; leaving closes them."""

    files: Sequence[UploadFile]
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)
    _handles: list[IO[bytes]] = field(default_factory=list, repr=False)
    _sizes: list[int] = field(default_factory=list, repr=False)

    @property
    def content_type(self) -> str:
        return f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    def _head(self, item: UploadFile) -> bytes:
        return (
            b"--"
            + self.boundary.encode("ascii")
            + CRLF
            + b"Content-Type: application/dicom"
            + CRLF
            + b"Content-ID: <"
            + item.sop_uid.encode("ascii")
            + b">"
            + CRLF
            + b"Content-Digest: "
            + content_digest(item.sha256).encode("ascii")
            + CRLF
            + CRLF
        )

    def _tail(self) -> bytes:
        return b"--" + self.boundary.encode("ascii") + b"--" + CRLF

    def __enter__(self) -> StowBody:
        try:
            for item in self.files:
                handle = item.path.open("rb")
                self._handles.append(handle)
                self._sizes.append(os.fstat(handle.fileno()).st_size)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles.clear()

    @property
    def length(self) -> int:
        """Bytes of the whole body (after entering)."""
        heads = sum(len(self._head(f)) for f in self.files)
        return heads + sum(self._sizes) + len(CRLF) * len(self.files) + len(self._tail())

    def __iter__(self) -> Iterator[bytes]:
        for item, handle in zip(self.files, self._handles, strict=True):
            yield self._head(item)
            handle.seek(0)
            while chunk := handle.read(_CHUNK):
                yield chunk
            yield CRLF
        yield self._tail()


@dataclass(frozen=True)
class StowResult:
    """What the hub said about each instance: stored, or failed with a reason."""

    stored: frozenset[str]
    failed: dict[str, str]
    permanent: frozenset[str] = frozenset()
    """Of ``failed``: instances the hub cannot read at all (retrying cannot help)."""


def parse_stow_reply(body: Any) -> StowResult:
    """Read a STOW-RS DICOM JSON reply. Instances under Referenced SOP Sequence are
    stored; under Failed SOP Sequence they failed (reason: the Failure Reason code).
    Anything unreadable counts as nothing stored."""
    if not isinstance(body, dict):
        return StowResult(frozenset(), {})
    stored = {uid for uid, _ in _items(body, REFERENCED_SOP_SEQUENCE)}
    reasons = dict(_items(body, FAILED_SOP_SEQUENCE))
    failed = {uid: _failure_text(reason) for uid, reason in reasons.items()}
    permanent = {
        uid
        for uid, reason in reasons.items()
        if reason.isdigit() and int(reason) == CANNOT_UNDERSTAND
    }
    return StowResult(frozenset(stored - failed.keys()), failed, frozenset(permanent))


def _failure_text(reason: str) -> str:
    """``failure reason 0xA700`` for the Failure Reason (0008,1197) ``"42752"``."""
    if reason.isdigit():
        return f"中心未存储 / not stored at the hub: failure reason 0x{int(reason):04X}"
    return f"中心未存储 / not stored at the hub: {reason or 'no reason given'}"


def _items(body: dict[str, Any], tag: str) -> Iterator[tuple[str, str]]:
    element = body.get(tag)
    values = element.get("Value", []) if isinstance(element, dict) else []
    for item in values if isinstance(values, list) else []:
        if not isinstance(item, dict):
            continue
        uid = _first(item.get(REFERENCED_SOP_INSTANCE_UID))
        if uid:
            yield uid, _first(item.get(FAILURE_REASON))


def _first(element: Any) -> str:
    if isinstance(element, dict):
        values = element.get("Value")
        if isinstance(values, list) and values:
            return str(values[0])
    return ""
