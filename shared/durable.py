"""Durable files: the steps by which a received file becomes an archive file that
survives a crash, shared by the edge's and the hub's archives.

The order is always: write the file in a temporary folder on the same file system,
fsync it, ``rename`` it to its final name (atomic: a reader sees the old file or the
new one, never part of one), fsync the folder that holds the new name — only then may
an index row point to it. Folders created on the way are fsynced through their
parents. Every function here raises ``OSError`` when the disk refuses and leaves
files where they were up to the step that failed.

Archive paths are ``<study uid>/<series uid>/<sop instance uid>.dcm``; a UID becomes a
path part only after :func:`is_safe_uid` accepted it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

_SAFE_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_MAX_UID = 64


def is_safe_uid(value: str) -> bool:
    """True for 1 to 64 characters of digit groups joined by single dots: a string
    that cannot climb out of a folder or name another one. Looser than
    ``shared.dicom.uid.is_valid_uid``, which also refuses leading zeros."""
    return 0 < len(value) <= _MAX_UID and _SAFE_UID.fullmatch(value) is not None


def instance_rel_path(study_uid: str, series_uid: str, sop_uid: str) -> str:
    """The archive path ``study/series/sop.dcm`` of an instance, relative to the
    archive root. Raises ``ValueError`` naming the first UID that is not safe."""
    for uid in (study_uid, series_uid, sop_uid):
        if not is_safe_uid(uid):
            raise ValueError(f"not a valid DICOM UID: {uid!r}")
    return f"{study_uid}/{series_uid}/{sop_uid}.dcm"


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by its path: its bytes, or its entries (names made
    by ``rename``/``mkdir``), are on disk when this returns."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dirs(directories: Iterable[Path]) -> None:
    """fsync each distinct folder once, in first-seen order (after many renames into
    few folders)."""
    for directory in dict.fromkeys(directories):
        fsync_path(directory)


def replace_synced(source: Path, target: Path, *, sync_dir: bool = True) -> Path:
    """Rename the complete, already fsynced ``source`` to ``target`` (same file
    system; a file at ``target`` is replaced atomically), then fsync ``target``'s
    folder. With ``sync_dir=False`` the caller fsyncs ``target.parent`` (once for
    many files: :func:`fsync_dirs`) before relying on the new name. Returns
    ``target``."""
    os.replace(source, target)
    if sync_dir:
        fsync_path(target.parent)
    return target


def move_aside(current: Path, into: Path, sop_uid: str) -> Path | None:
    """Move the archive file ``current`` into the folder ``into`` as
    ``<sop_uid>.<UTC time to the microsecond>.dcm`` and fsync both folders (the new
    entry first, then the removed one). Returns the new path, or None (nothing done)
    when ``current`` does not exist."""
    if not current.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = into / f"{sop_uid}.{stamp}.dcm"
    os.replace(current, target)
    fsync_path(into)
    fsync_path(current.parent)
    return target
