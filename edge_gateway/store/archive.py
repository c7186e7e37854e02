"""Archive files on disk: durable placement, content hashes, moving files aside.

Layout under the data dir::

    archive/<study uid>/<series uid>/<sop instance uid>.dcm   the archive
    superseded/<sop uid>.<utc time>.dcm                       older versions kept aside
    tmp/                                                      partial files (cleared at start)

A file appears in ``archive/`` only by ``rename`` of a complete, fsynced file, and the
directory entry is fsynced too, so a crash never leaves a partial file there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from shared.durable import fsync_path, instance_rel_path, move_aside

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SYNC_THREADS = 4  # fsyncs of received files under way at once (one per association)


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Archive:
    """The gateway's file store. Thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "archive"
        self.tmp = data_dir / "tmp"
        self.superseded = data_dir / "superseded"
        for d in (data_dir, self.root, self.tmp, self.superseded):
            d.mkdir(parents=True, exist_ok=True)
        fsync_path(data_dir)
        self._known_dirs: set[Path] = {self.root}
        self._dir_lock = threading.Lock()
        self._device = os.stat(self.root).st_dev
        self._syncer = ThreadPoolExecutor(max_workers=_SYNC_THREADS, thread_name_prefix="fsync")

    def start_sync(self, source: Path) -> Future[None]:
        """Begin to fsync the received file ``source`` on a helper thread, so that its
        bytes travel to disk while the caller reads its header and hashes it; hand the
        result to :meth:`place`. A failure is raised there (and ignored if the file is
        not placed)."""
        return self._syncer.submit(fsync_path, source)

    def close(self) -> None:
        """Wait for the fsyncs under way and stop their threads."""
        self._syncer.shutdown(wait=True)

    def clear_tmp(self) -> int:
        """Delete partial files left by a crash; return how many were removed."""
        removed = 0
        for entry in self.tmp.iterdir():
            if entry.is_file():
                entry.unlink()
                removed += 1
        return removed

    def same_device(self, path: Path) -> bool:
        """True when ``path`` is on the archive's file system (so a rename is enough)."""
        return os.stat(path).st_dev == self._device

    def relative_path(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        """``study/series/sop.dcm``; raises ValueError for a UID unsafe in a path."""
        return instance_rel_path(study_uid, series_uid, sop_uid)

    def absolute(self, rel_path: str) -> Path:
        return self.root / rel_path

    def place(self, source: Path, rel_path: str, synced: Future[None] | None = None) -> Path:
        """Durably move the complete file ``source`` to ``archive/rel_path``.

        The file is fsynced, renamed into place (copied through ``tmp/`` first when it
        is on another file system) and its directory entry fsynced. An existing file at
        the destination is replaced. ``synced``: an fsync of ``source`` already under
        way (:meth:`start_sync`), waited for instead of a new one. Returns the final
        path. Raises ``OSError``.
        """
        final = self.root / rel_path
        self._ensure_dir(final.parent)
        if self.same_device(source):
            if synced is not None:
                synced.result()
            else:
                fsync_path(source)
            try:
                os.replace(source, final)
            except FileNotFoundError:
                if not source.exists():
                    raise
                # its folder was removed behind our back: make it again, once
                self._forget_dir(final.parent)
                self._ensure_dir(final.parent)
                os.replace(source, final)
        else:
            staged = self.tmp / f"{uuid.uuid4().hex}.part"
            with source.open("rb") as src, staged.open("wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(staged, final)
        fsync_path(final.parent)
        return final

    def move_aside(self, rel_path: str, sop_uid: str) -> Path | None:
        """Move the file at ``archive/rel_path`` to ``superseded/``; return its new path,
        or None when there was no file."""
        return move_aside(self.root / rel_path, self.superseded, sop_uid)

    def _forget_dir(self, directory: Path) -> None:
        with self._dir_lock:
            self._known_dirs = {
                d for d in self._known_dirs if not d.is_relative_to(directory.parent)
            }
            self._known_dirs.add(self.root)

    def _ensure_dir(self, directory: Path) -> None:
        if directory in self._known_dirs:
            return
        with self._dir_lock:
            missing: list[Path] = []
            d = directory
            while d not in self._known_dirs and not d.exists():
                missing.append(d)
                d = d.parent
            for new_dir in reversed(missing):
                new_dir.mkdir(exist_ok=True)
                fsync_path(new_dir.parent)
            self._known_dirs.add(directory)
