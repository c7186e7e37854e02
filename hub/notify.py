"""Wake long-polling order-feed requests when a campus's orders change."""

from __future__ import annotations

import asyncio
import threading


class ChangeNotifier:
    """Per-campus change counters that waiting coroutines can sleep on.

    Writers (request handlers, possibly in worker threads) call ``changed(campus)``;
    a long-poll calls ``wait(campus, seen, timeout)``. Changes made by another hub
    process are not seen here, which is why the feed also re-reads the database when
    the wait times out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def counter(self, campus: str) -> int:
        with self._lock:
            return self._counters.get(campus, 0)

    def changed(self, campus: str) -> None:
        with self._lock:
            self._counters[campus] = self._counters.get(campus, 0) + 1
            waiters = list(self._waiters)
        for loop, ev in waiters:
            loop.call_soon_threadsafe(ev.set)

    async def wait(self, campus: str, seen: int, timeout: float) -> bool:
        """Return True as soon as ``campus``'s counter differs from ``seen``, False after
        ``timeout`` seconds without a change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.counter(campus) == seen:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            ev = asyncio.Event()
            entry = (loop, ev)
            with self._lock:
                self._waiters.append(entry)
            try:
                if self.counter(campus) != seen:
                    return True
                try:
                    await asyncio.wait_for(ev.wait(), remaining)
                except TimeoutError:
                    return self.counter(campus) != seen
            finally:
                with self._lock:
                    self._waiters.remove(entry)
        return True
