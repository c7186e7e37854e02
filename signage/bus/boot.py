"""The board's boot (session) counter, kept in a small file so it rises across restarts.

:class:`BootCounter` raises the number stored in ``{state_dir}/{device_id}.boot`` and
returns it; the device status birth and last will of one MQTT session carry it, so a
will from an older session is recognised as stale (``DeviceStatus.supersedes``).
The file is replaced atomically (write to a temporary file, fsync, rename).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from shared.mqtt.topics import check_segment


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/pacs-signage``, or ``~/.local/state/pacs-signage``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pacs-signage"


class BootCounter:
    """A persistent, rising counter for one device id (thread-safe)."""

    def __init__(self, state_dir: Path, device_id: str) -> None:
        self.path = state_dir / f"{check_segment(device_id, 'device id')}.boot"
        self._lock = threading.Lock()

    def current(self) -> int:
        """The last value handed out (0 when none yet, or the file is unreadable)."""
        try:
            return max(0, int(self.path.read_text(encoding="ascii").strip()))
        except (OSError, ValueError):
            return 0

    def next(self) -> int:
        """Raise the counter, store it and return the new value.

        Raises OSError when the state folder cannot be written (the message names it).
        """
        with self._lock:
            value = self.current() + 1
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".boot.tmp")
            with open(temporary, "w", encoding="ascii") as handle:
                handle.write(f"{value}\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            return value
