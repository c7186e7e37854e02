"""Logging a hub outage without flooding the log: a warning when it starts or its reason
changes, a reminder every few minutes, and one line when the hub answers again."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass


@dataclass
class Outage:
    """The failure state of one loop talking to the hub. Not thread-safe (one per loop)."""

    what: str
    """What the loop does, for the log (e.g. "order feed")."""
    log: logging.Logger
    remind_every: float = 600.0
    since: float | None = None
    reason: str = ""
    _last_warning: float = 0.0

    def failed(self, reason: str, retry_in: float, level: int = logging.WARNING) -> None:
        now = time.monotonic()
        first = self.since is None
        if first:
            self.since = now
        if first or reason != self.reason or now - self._last_warning >= self.remind_every:
            down = 0.0 if self.since is None else now - self.since
            self.log.log(
                level,
                "sync: %s: %s; retrying in %.1f s%s",
                self.what,
                reason,
                retry_in,
                "" if first else f" (failing for {down / 60:.0f} min)",
            )
            self._last_warning = now
            self.reason = reason
        else:
            self.log.debug("sync: %s: still failing (%s)", self.what, reason)

    def succeeded(self) -> None:
        if self.since is not None:
            self.log.info(
                "sync: %s: the hub answers again after %.0f s",
                self.what,
                time.monotonic() - self.since,
            )
        self.since = None
        self.reason = ""
