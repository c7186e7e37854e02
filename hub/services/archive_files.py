"""The hub's archive files on disk: durable placement, moving older versions aside.

Layout under ``data_dir/archive``::

    <study uid>/<series uid>/<sop instance uid>.dcm   held instances
    superseded/<sop uid>.<utc time>.dcm               older bytes of a replaced instance
    tmp/                                              files being received

A file appears at its final name only by ``rename`` of a complete, fsynced file, and
its directory is fsynced before the index row is committed, so an instance the hub
lists as stored survives a crash. UIDs are checked before they become path parts.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
import zlib
from pathlib import Path
from typing import BinaryIO

from shared.durable import fsync_path, instance_rel_path, move_aside, replace_synced

_STRIPES = 64


class TempFile:
    """A file being received into ``tmp/``: written in order, hashed (sha256) as written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = path.open("wb")
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._fh is not None, "write after close"
        self._fh.write(data)
        self._sha.update(data)
        self.size += len(data)

    def close(self, *, sync: bool = True) -> None:
        """Close the file; with ``sync`` also fsync it (else call ``shared.durable.fsync_path``
        before relying on it)."""
        if self._fh is not None:
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.path.unlink(missing_ok=True)

    @property
    def digest(self) -> bytes:
        return self._sha.digest()

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class ArchiveFiles:
    """The file store. Thread-safe; the stripe locks (``lock(stripe_of(sop_uid))``)
    serialise work on one instance within this process (another hub process is
    settled by the index's unique SOP Instance UID)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.superseded = root / "superseded"
        for d in (self.root, self.tmp, self.superseded):
            d.mkdir(parents=True, exist_ok=True)
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]

    def stripe_of(self, sop_uid: str) -> int:
        return zlib.crc32(sop_uid.encode()) % _STRIPES

    def lock(self, stripe: int) -> threading.Lock:
        """The lock of one stripe of SOP Instance UIDs; take several in ascending order."""
        return self._stripes[stripe]

    def new_temp(self) -> TempFile:
        return TempFile(self.tmp / f"{uuid.uuid4().hex}.part")

    @staticmethod
    def relative_path(study_uid: str, series_uid: str, sop_uid: str) -> str:
        """``study/series/sop.dcm``; raises ValueError for anything but valid UIDs."""
        return instance_rel_path(study_uid, series_uid, sop_uid)

    def absolute(self, rel_path: str) -> Path:
        return self.root / rel_path

    def place(self, source: Path, rel_path: str, *, sync_dir: bool = True) -> Path:
        """Rename the complete, fsynced ``source`` (in ``tmp/``) to ``rel_path`` (an
        existing file there is replaced) and fsync the directory — unless ``sync_dir``
        is False: then the caller fsyncs ``final.parent`` (once for many files, with
        ``shared.durable.fsync_dirs``) before relying on it. Raises OSError."""
        final = self.root / rel_path
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            fsync_path(final.parent.parent)
            fsync_path(final.parent.parent.parent)
        return replace_synced(source, final, sync_dir=sync_dir)

    def move_aside(self, rel_path: str, sop_uid: str) -> Path | None:
        """Move ``rel_path`` to ``superseded/``; its new path, or None when absent."""
        return move_aside(self.root / rel_path, self.superseded, sop_uid)

    def undo(self, rel_path: str, superseded: Path | None, back_to: Path) -> None:
        """After a failed index write: move the new file back to ``back_to`` (its temp
        path, for a retry) and put the older file back, so disk and index agree again."""
        final = self.root / rel_path
        if final.exists():
            os.replace(final, back_to)
        if superseded is not None and superseded.exists():
            os.replace(superseded, final)
        fsync_path(final.parent)
