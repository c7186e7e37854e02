"""Tests that need a system tool or service call these.

Without ``PACS_STRICT=1`` a missing tool or service skips the test with a message
naming it; with ``PACS_STRICT=1`` (CI) the test fails with that message.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
from pathlib import Path

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


def xvfb_run(screen: str = "1280x720x24") -> list[str]:
    """The ``xvfb-run`` command prefix for a program that needs an X display (fails or
    skips without Xvfb). Each pytest-xdist worker starts looking for a free display
    number at its own base, so two workers' ``xvfb-run -a`` never race for the same one."""
    if shutil.which("xvfb-run") is None:
        missing("xvfb-run not found: install the Debian packages 'xvfb' and 'xauth'")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = 99 + 20 * (int(worker) if worker.isdigit() else 0)
    return ["xvfb-run", "-a", "-n", str(base), "-s", f"-screen 0 {screen}"]


def require_service(host: str, port: int, what: str) -> None:
    """Require a TCP service, e.g. Mosquitto on 127.0.0.1:1883."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        missing(f"{what} does not answer on {host}:{port} ({exc})")


@functools.cache
def _find_dcmtk(name: str) -> str | None:
    folders = [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin", "/usr/local/bin"]
    for folder in dict.fromkeys(f for f in folders if f):
        candidate = Path(folder) / name
        if not os.access(candidate, os.X_OK):
            continue
        version = subprocess.run(
            [str(candidate), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        if "dcmtk" in (version.stdout + version.stderr).lower():
            return str(candidate)
    return None


def dcmtk_program(name: str) -> str:
    """Path of dcmtk's ``name``. The virtualenv also holds pynetdicom's programs of the
    same names (echoscu, storescu …), which take other options: they are skipped."""
    path = _find_dcmtk(name)
    if path is None:
        missing(f"dcmtk's {name} not found: install the Debian package 'dcmtk'")
        raise AssertionError("unreachable")
    return path
