"""shared.durable: safe UID path parts, and the order of rename and fsync steps that
makes an archive file survive a crash (recorded by wrapping the real calls)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import durable
from shared.dicom.uid import is_valid_uid


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("1.2.840.10008.5.1.4.1.1.2", True),
        ("1.02.3", True),  # leading zero: not PS3.5, still safe in a path
        ("7", True),
        ("1." + "2" * 62, True),  # 64 characters
        ("1." + "2" * 63, False),  # 65
        ("", False),
        ("1..2", False),
        (".1.2", False),
        ("1.2.", False),
        ("..", False),
        ("../1.2", False),
        ("1.2/3", False),
        ("1.2\\3", False),
        (" 1.2", False),
        ("1.2\n", False),
        ("１.2", False),  # full-width digit
    ],
)
def test_is_safe_uid(value: str, safe: bool) -> None:
    assert durable.is_safe_uid(value) is safe


def test_every_valid_uid_is_safe() -> None:
    for value in ("1.2.3", "0.0", "2.25.329800735698586629295641978511506172918", "1" * 64):
        assert is_valid_uid(value) and durable.is_safe_uid(value)


def test_instance_rel_path() -> None:
    assert durable.instance_rel_path("1.2", "1.2.3", "1.2.3.4") == "1.2/1.2.3/1.2.3.4.dcm"


@pytest.mark.parametrize(
    ("uids", "named"),
    [
        (("..", "1.2.3", "1.2.3.4"), "'..'"),
        (("1.2", "1.2/3", "../4"), "'1.2/3'"),
        (("1.2", "1.2.3", ""), "''"),
    ],
)
def test_instance_rel_path_refuses_unsafe_uids(uids: tuple[str, str, str], named: str) -> None:
    with pytest.raises(ValueError, match=f"^not a valid DICOM UID: {re.escape(named)}$"):
        durable.instance_rel_path(*uids)


def test_fsync_path_on_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    durable.fsync_path(tmp_path / "a")
    durable.fsync_path(tmp_path)
    with pytest.raises(FileNotFoundError):
        durable.fsync_path(tmp_path / "missing")


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Path]]]:
    """The renames and fsyncs done through shared.durable, in order (the real calls
    still run)."""
    log: list[tuple[str, Path]] = []
    real_fsync_path = durable.fsync_path
    real_replace = os.replace

    def fsync_path(path: Path) -> None:
        log.append(("fsync", Path(path)))
        real_fsync_path(path)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        log.append(("rename", Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(durable, "fsync_path", fsync_path)
    monkeypatch.setattr(os, "replace", replace)
    yield log


def test_fsync_dirs_once_each_in_order(tmp_path: Path, steps: list[tuple[str, Path]]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    durable.fsync_dirs([a, b, a, a, b])
    assert steps == [("fsync", a), ("fsync", b)]


def test_replace_synced_renames_then_syncs_the_folder(
    tmp_path: Path, steps: list[tuple[str, Path]]
) -> None:
    source, target = tmp_path / "tmp.part", tmp_path / "archive" / "x.dcm"
    target.parent.mkdir()
    target.write_bytes(b"older")
    source.write_bytes(b"newer")
    assert durable.replace_synced(source, target) == target
    assert target.read_bytes() == b"newer" and not source.exists()
    assert steps == [("rename", target), ("fsync", target.parent)]


def test_replace_synced_can_leave_the_folder_to_the_caller(
    tmp_path: Path, steps: list[tuple[str, Path]]
) -> None:
    source, target = tmp_path / "tmp.part", tmp_path / "x.dcm"
    source.write_bytes(b"bytes")
    durable.replace_synced(source, target, sync_dir=False)
    assert target.read_bytes() == b"bytes"
    assert steps == [("rename", target)]


def test_replace_synced_without_source_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x.dcm"
    target.write_bytes(b"kept")
    with pytest.raises(FileNotFoundError):
        durable.replace_synced(tmp_path / "gone.part", target)
    assert target.read_bytes() == b"kept"


def test_move_aside(tmp_path: Path, steps: list[tuple[str, Path]]) -> None:
    current = tmp_path / "archive" / "1.2" / "1.2.3" / "1.2.3.4.dcm"
    current.parent.mkdir(parents=True)
    current.write_bytes(b"older bytes")
    aside = tmp_path / "superseded"
    aside.mkdir()
    moved = durable.move_aside(current, aside, "1.2.3.4")
    assert moved is not None and moved.parent == aside
    assert re.fullmatch(r"1\.2\.3\.4\.\d{8}T\d{12}\.dcm", moved.name)
    assert moved.read_bytes() == b"older bytes" and not current.exists()
    assert steps == [("rename", moved), ("fsync", aside), ("fsync", current.parent)]


def test_move_aside_of_nothing(tmp_path: Path, steps: list[tuple[str, Path]]) -> None:
    aside = tmp_path / "superseded"
    aside.mkdir()
    assert durable.move_aside(tmp_path / "absent.dcm", aside, "1.2") is None
    assert steps == [] and list(aside.iterdir()) == []
