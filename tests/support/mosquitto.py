"""A private Mosquitto broker for a test: its own port, config and persistence folder.

Tests that stop and restart the broker must not touch the shared one on 127.0.0.1:1883;
they run their own with :func:`private_broker`. Persistence is on (as in production,
see docs/deployment.md), so persistent sessions and retained messages survive a restart.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.net import free_port, wait_for_port
from tests.support.requirements import missing


class PrivateBroker:
    """One Mosquitto process; :meth:`stop` and :meth:`start` keep its port and data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # started as root, Mosquitto would switch to the "mosquitto" user, which cannot
            # write in the test's folder: persistence would silently be off
            "user root\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "autosave_interval 1\n"
            f"log_dest file {folder}/mosquitto.log\n"
            "max_queued_messages 100000\n",
            encoding="utf-8",
        )

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        binary = _mosquitto_binary() or "mosquitto"
        self._process = subprocess.Popen(
            [binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self._process)

    def stop(self) -> None:
        """Stop the broker cleanly (it saves its persistence file on the way out)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=15)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


@contextmanager
def private_broker(folder: Path) -> Iterator[PrivateBroker]:
    """A started private broker under ``folder``; stopped on exit. Fails (PACS_STRICT=1)
    or skips when Mosquitto is not installed."""
    if _mosquitto_binary() is None:
        missing("mosquitto not found: install the Debian package 'mosquitto'")
    broker = PrivateBroker(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
