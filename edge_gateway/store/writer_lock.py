"""The index writers' lock across the gateway's worker processes.

``serve --workers N`` runs N processes that all write the same SQLite index. SQLite
lets one writer in at a time and makes the others poll: a process that finds the
database locked sleeps 1, 2, 5, 10 … ms before it looks again, even when the writer
was done a fraction of a millisecond later. Writers of the index take this lock first:
``flock(2)`` blocks in the kernel and wakes the next process the moment the lock is
let go, so the workers never meet SQLite's busy wait among themselves. The lock is
advisory (other writers of the database, like the sync agent, still meet SQLite's own
locking) and the kernel lets it go when a process dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType


class WriterLock:
    """An exclusive lock for the threads of this process and for other processes that
    open the same file.

    Open it in the process that uses it, not before a fork: processes that share one
    open file share its ``flock``, and the lock would not keep them apart (it refuses
    to be taken in a process other than the one that opened it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._pid = os.getpid()

    def __enter__(self) -> WriterLock:
        self._threads.acquire()
        try:
            if os.getpid() != self._pid:
                raise RuntimeError(f"{self.path}: writer lock opened in another process")
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close the lock file (the lock must not be held)."""
        with self._threads:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
