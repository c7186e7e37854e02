"""The index writers' lock keeps worker processes apart, and threads of one process."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_gateway.store.writer_lock import WriterLock

_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


def _probe(path: Path) -> str:
    """Whether another process could take the lock right now."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_other_processes_wait_while_it_is_held(tmp_path: Path) -> None:
    path = tmp_path / "index.lock"
    lock = WriterLock(path)
    assert _probe(path) == "free"
    with lock:
        assert _probe(path) == "held"
    assert _probe(path) == "free"
    with pytest.raises(ValueError), lock:
        raise ValueError("a failed write")
    assert _probe(path) == "free"  # let go on the way out of an error too
    lock.close()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "index.lock")
    inside = 0
    most = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(200):
            with lock:
                with guard:
                    inside += 1
                    most = max(most, inside)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    lock.close()


def _take_in_child(lock: WriterLock, answers: multiprocessing.Queue[str]) -> None:
    try:
        with lock:
            answers.put("taken")
    except RuntimeError as exc:
        answers.put(str(exc))


def test_refuses_to_be_used_across_a_fork(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "index.lock")
    context = multiprocessing.get_context("fork")
    answers: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=_take_in_child, args=(lock, answers))
    child.start()
    child.join(timeout=60)
    assert "opened in another process" in answers.get(timeout=10)
    lock.close()
