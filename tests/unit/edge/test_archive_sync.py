"""A received file's fsync starts on a helper thread and is waited for before the rename."""

from __future__ import annotations

import errno
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from edge_gateway.store import archive as archive_module
from edge_gateway.store.archive import Archive
from shared.durable import fsync_path as durable_fsync


def _received(archive: Archive, name: str, data: bytes) -> Path:
    path = archive.tmp / name
    path.write_bytes(data)
    return path


def test_started_sync_is_waited_for_and_the_file_placed(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "data")
    try:
        source = _received(archive, "a.dcm", b"x" * 100_000)
        synced = archive.start_sync(source)
        final = archive.place(source, "1.2/1.2.3/1.2.3.4.dcm", synced)
        assert synced.done() and synced.exception() is None
        assert final.read_bytes() == b"x" * 100_000
        assert not source.exists()
    finally:
        archive.close()


def test_the_rename_waits_for_the_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = Archive(tmp_path / "data")
    release = threading.Event()
    synced_paths: list[Path] = []
    real_fsync = durable_fsync

    def slow_fsync(path: Path) -> None:
        if path.parent == archive.tmp:
            assert release.wait(10)
            synced_paths.append(path)
        real_fsync(path)

    monkeypatch.setattr(archive_module, "fsync_path", slow_fsync)
    try:
        source = _received(archive, "b.dcm", b"y" * 10)
        synced = archive.start_sync(source)
        placing = threading.Thread(
            target=archive.place, args=(source, "1.2/1.2.3/1.2.5.dcm", synced)
        )
        placing.start()
        placing.join(0.2)
        assert placing.is_alive()  # waiting for the fsync, nothing renamed yet
        assert source.exists()
        release.set()
        placing.join(10)
        assert synced_paths == [source]
        assert (archive.root / "1.2/1.2.3/1.2.5.dcm").read_bytes() == b"y" * 10
    finally:
        release.set()
        archive.close()


def test_a_failed_fsync_fails_the_placement_and_moves_nothing(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "data")
    try:
        source = _received(archive, "c.dcm", b"z" * 10)
        failed: Future[None] = Future()
        failed.set_exception(OSError(errno.EIO, "Input/output error"))
        with pytest.raises(OSError, match="Input/output error"):
            archive.place(source, "1.2/1.2.3/1.2.6.dcm", failed)
        assert source.exists()
        assert not (archive.root / "1.2/1.2.3/1.2.6.dcm").exists()
    finally:
        archive.close()
