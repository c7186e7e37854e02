"""The body of a WADO-RS answer: ``multipart/related; type="application/dicom"`` with
each instance's archive file as it was received, read in chunks one file at a time,
so a study of any size costs one chunk of memory.

Each file is opened while holding its stripe lock of :class:`ArchiveFiles`, the lock
STOW-RS holds while it replaces a file; so a retrieve never sees an instance's path
in the instant between the older file moving aside and the newer taking its place.
An open file stays readable even if it is replaced afterwards.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from hub.services.archive_files import ArchiveFiles
from hub.services.wado import StoredInstance
from hub.services.wado_accept import DICOM

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


class ArchiveFileMissing(Exception):
    """The index lists an instance as held but its file is not in the archive."""


def new_boundary() -> str:
    return uuid.uuid4().hex


def answer_content_type(boundary: str) -> str:
    """The ``Content-Type`` of a WADO-RS answer with ``boundary``."""
    return f'multipart/related; type="{DICOM}"; boundary={boundary}'


def _open(files: ArchiveFiles, item: StoredInstance) -> BinaryIO:
    """The instance's file, opened for reading. Raises :class:`ArchiveFileMissing`."""
    with files.lock(files.stripe_of(item.sop_uid)):
        try:
            return files.absolute(item.rel_path).open("rb")
        except FileNotFoundError as exc:
            raise ArchiveFileMissing(_missing(item)) from exc


def _missing(item: StoredInstance) -> str:
    return (
        f"图像 {item.sop_uid} 的文件不在中心归档中，请联系信息科 / the archive file of "
        f"instance {item.sop_uid} ({item.rel_path}) is missing: tell IT (信息科)"
    )


def check_present(files: ArchiveFiles, instances: Sequence[StoredInstance]) -> None:
    """Raise :class:`ArchiveFileMissing` for the first instance whose file is absent
    (checked before the answer starts, so the caller can still send an error)."""
    for item in instances:
        with files.lock(files.stripe_of(item.sop_uid)):
            if not files.absolute(item.rel_path).is_file():
                raise ArchiveFileMissing(_missing(item))


def _part_headers(item: StoredInstance, size: int, boundary: str) -> bytes:
    media = f"{DICOM}; transfer-syntax={item.transfer_syntax}" if item.transfer_syntax else DICOM
    return (
        f"--{boundary}\r\n"
        f"Content-Type: {media}\r\n"
        f"Content-Length: {size}\r\n"
        f"Content-ID: <{item.sop_uid}>\r\n"
        "\r\n"
    ).encode("ascii")


def multipart_body(
    files: ArchiveFiles, instances: Sequence[StoredInstance], boundary: str
) -> Iterator[bytes]:
    """The answer's body, chunk by chunk (blocking reads: iterate it in a worker
    thread). A file that vanished since :func:`check_present` ends the body early,
    with an error logged and :class:`ArchiveFileMissing` raised, so the client sees a
    truncated answer rather than a complete one lacking an instance."""
    for item in instances:
        try:
            fh = _open(files, item)
        except ArchiveFileMissing as exc:
            log.error("WADO-RS: %s", exc)
            raise
        with fh:
            yield _part_headers(item, os.fstat(fh.fileno()).st_size, boundary)
            while chunk := fh.read(CHUNK_BYTES):
                yield chunk
            yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")
