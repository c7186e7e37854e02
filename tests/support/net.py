"""Free ports and waiting for a server's socket, instead of fixed ports and sleeps."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None,
) -> None:
    """Block until something accepts connections on ``host:port``.

    Raises ``TimeoutError`` after ``timeout`` seconds, or ``RuntimeError`` at once when
    ``process`` (the server being waited for) has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server process exited with {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.02)  # poll interval between connection attempts
