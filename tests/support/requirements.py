"""Tests that need a system tool or service call these.

Without ``PACS_STRICT=1`` a missing tool or service skips the test with a message
naming it; with ``PACS_STRICT=1`` (CI) the test fails with that message.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def strict() -> bool:
    return os.environ.get("PACS_STRICT", "") == "1"


def missing(message: str) -> None:
    """Fail (strict) or skip the current test with ``message``."""
    if strict():
        pytest.fail(f"PACS_STRICT=1 and {message}", pytrace=False)
    pytest.skip(message)


def require_tool(*names: str, package: str) -> None:
    """Require command-line tools, e.g. ``require_tool("storescu", package="dcmtk")``."""
    absent = [n for n in names if shutil.which(n) is None]
    if absent:
        missing(f"{', '.join(absent)} not found: install the Debian package '{package}'")


def require_service(host: str, port: int, what: str) -> None:
    """Require a TCP service, e.g. Mosquitto on 127.0.0.1:1883."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        missing(f"{what} does not answer on {host}:{port} ({exc})")
