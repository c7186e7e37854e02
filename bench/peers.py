"""The receivers a benchmark sends to, each started fresh on free ports and always stopped.

- ``Storescp``: dcmtk ``storescp --fork`` writing files (the practical limit).
- ``Orthanc``: Debian's Orthanc with its default SQLite index and an own temporary config;
  stopped with ``POST /tools/shutdown`` and waited for, so the next one never meets a
  locked database.
- ``Edge``: the project's gateway through its CLI (``pacs-edge serve``), stopped with SIGINT.

Use a receiver as a context manager: ``with Orthanc(...) as rx: ...``. Entering starts it and
waits until its port accepts connections; leaving stops it, whatever happened inside.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, ClassVar, Self

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
EDGE_STOP_GRACE_S = 15.0
ORTHANC_STOP_TIMEOUT_S = 60.0
_POLL_S = 0.02  # interval between checks of a socket or a process that is not ready yet


def dcmtk_tool(name: str) -> str:
    """Absolute path of a dcmtk tool.

    pynetdicom installs ``storescu``/``storescp`` of its own into the virtualenv's ``bin``;
    those are skipped by keeping only programs that answer ``--version`` with ``dcmtk``.
    Raises ``FileNotFoundError`` with an install hint when none is found.
    """
    candidates = [f"/usr/bin/{name}"]
    candidates += [str(Path(d) / name) for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for path in dict.fromkeys(candidates):
        if not os.access(path, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if "dcmtk" in (out.stdout + out.stderr).lower():
            return path
    raise FileNotFoundError(f"dcmtk's {name} not found: install the Debian package 'dcmtk'")


def free_port() -> int:
    """A TCP port that was free a moment ago on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_exactly(process: subprocess.Popen[Any], timeout: float) -> bool:
    """Wait for ``process`` to exit and return True, or kill it after ``timeout`` seconds
    and return False.

    ``Popen.wait(timeout=...)`` polls with sleeps that grow to 50 ms, so a timed process is
    seen to end up to 50 ms late (a 65 ms ``findscu`` run measured 115 ms); a blocking
    ``wait()`` sees the exit at once, and a timer kills the process at the deadline.
    """
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(max(0.0, timeout), kill)
    timer.start()
    try:
        process.wait()
    finally:
        timer.cancel()
    return not expired.is_set()


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Block until ``port`` accepts a connection.

    Raises ``RuntimeError`` at once if ``process`` exits first, ``TimeoutError`` after
    ``START_TIMEOUT_S``.
    """
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} does not listen on {HOST}:{port}") from None
            time.sleep(_POLL_S)


def peak_rss_kib(pid: int) -> int | None:
    """``VmHWM`` (peak resident set size, KiB) of a live process, or None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def round_env(nodelay: bool) -> dict[str, str]:
    """The environment for every process of a round: ``TCP_NODELAY=1`` or none at all."""
    env = {k: v for k, v in os.environ.items() if k != "TCP_NODELAY"}
    if nodelay:
        env["TCP_NODELAY"] = "1"
    return env


def count_dicom_files(root: Path, min_size: int = 0) -> int:
    """Regular files under ``root`` of at least ``min_size`` bytes with the DICOM preamble."""
    count = 0
    for p in root.rglob("*"):
        if p.is_symlink() or not p.is_file() or p.stat().st_size < max(min_size, 132):
            continue
        try:
            with p.open("rb") as fh:
                fh.seek(128)
                if fh.read(4) == b"DICM":
                    count += 1
        except OSError:
            continue
    return count


class LoggedProcess(ABC):
    """What a benchmarked server process shares: start and stop as a context manager
    (stopped even when starting fails), and the end of its log for error messages.
    Subclasses provide ``start``, ``stop`` and ``logfile``."""

    logfile: Path

    @abstractmethod
    def start(self) -> None:
        """Start the process and return when it serves."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the process (safe to call when it never started)."""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.logfile.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Receiver(LoggedProcess):
    """A C-STORE SCP in its own process (own session, so Ctrl-C reaches the benchmark only).

    Subclasses fill in ``name``, ``ae_title``, ``_command`` and may override ``_stop``,
    ``stored_count`` and ``_extra_ports``.
    """

    name: ClassVar[str] = ""
    ae_title: ClassVar[str] = ""
    stored_count_exact: ClassVar[bool] = True
    # Exit codes of a normal stop (a negative code is the signal that ended the process).
    clean_exit_codes: ClassVar[frozenset[int]] = frozenset({0})
    # False when the process started is not the one holding the data (storescp --fork).
    rss_meaningful: ClassVar[bool] = True

    def __init__(
        self, storage: Path, logfile: Path, env: dict[str, str], min_instance_bytes: int = 0
    ) -> None:
        self.storage = storage
        self.logfile = logfile
        self.env = env
        self.min_instance_bytes = min_instance_bytes
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self._log: IO[bytes] | None = None

    # -- to be provided by subclasses ------------------------------------------------
    @abstractmethod
    def _command(self) -> list[str]:
        """The receiver's command line."""

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        _terminate(process, grace_s=10.0)

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        wait_for_port(self.port, process, self.name)

    def stored_count(self) -> int | None:
        """How many instances the receiver holds now (None when it cannot be told)."""
        return count_dicom_files(self.storage)

    # -- lifecycle --------------------------------------------------------------------
    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def peak_rss_kib(self) -> int | None:
        if self.process is None or not self.rss_meaningful:
            return None
        return peak_rss_kib(self.process.pid)

    def start(self) -> None:
        """Start on a new, empty storage directory and wait until it listens."""
        self.storage.mkdir(parents=True, exist_ok=False)
        self.launch()

    def launch(self) -> None:
        """Start the process (its storage must exist) and wait until it listens."""
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.logfile.open("wb")
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.storage.parent,
            start_new_session=True,
        )
        try:
            self._wait_ready(self.process)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; its log {self.logfile} ends:\n{self.log_tail()}") from exc

    def stop(self) -> None:
        process, self.process = self.process, None
        try:
            if process is not None:
                if process.poll() is None:
                    self._stop(process)
                self.exit_code = process.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None


def _terminate(process: subprocess.Popen[bytes], grace_s: float, group: bool = False) -> None:
    """SIGTERM (to the process, or to its process group), then SIGKILL after ``grace_s``."""
    _signal(process, signal.SIGTERM, group)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL, group)
        process.wait()


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals, group: bool) -> None:
    try:
        if group:
            # The group was created for this process (start_new_session): its id is the pid.
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass


class Storescp(Receiver):
    """dcmtk ``storescp`` writing one file per instance; ``--fork`` serves parallel associations."""

    name = "storescp"
    ae_title = "STORESCP"
    clean_exit_codes = frozenset({0, -signal.SIGTERM})
    rss_meaningful = False  # each association is served by a forked child

    def _command(self) -> list[str]:
        return [
            dcmtk_tool("storescp"),
            "--fork",
            "-aet",
            self.ae_title,
            "-od",
            str(self.storage),
            str(self.port),
        ]

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        # Forked children (one per association) share the group: end them with the parent.
        _terminate(process, grace_s=10.0, group=True)


class Orthanc(Receiver):
    """Debian's Orthanc with the default SQLite index, configured in a temporary JSON file."""

    name = "orthanc"
    ae_title = "ORTHANC"

    def __init__(
        self, storage: Path, logfile: Path, env: dict[str, str], min_instance_bytes: int = 0
    ) -> None:
        super().__init__(storage, logfile, env, min_instance_bytes)
        self.http_port = free_port()
        while self.http_port == self.port:
            self.http_port = free_port()
        self.config = storage.parent / f"{storage.name}-orthanc.json"

    @staticmethod
    def binary() -> str:
        for path in ("/usr/sbin/Orthanc", shutil.which("Orthanc")):
            if path and os.access(path, os.X_OK):
                return path
        raise FileNotFoundError("Orthanc not found: install the Debian package 'orthanc'")

    def _command(self) -> list[str]:
        config = {
            "Name": "bench-orthanc",
            "StorageDirectory": str(self.storage / "storage"),
            "IndexDirectory": str(self.storage / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.port,
            "DicomAet": self.ae_title,
            "DicomAlwaysAllowStore": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [],
        }
        self.config.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return [self.binary(), str(self.config)]

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        wait_for_port(self.http_port, process, "orthanc (HTTP)")
        wait_for_port(self.port, process, "orthanc (DICOM)")

    def _http(self, method: str, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(
            f"http://{HOST}:{self.http_port}{path}", data=body, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            data: bytes = response.read()
            return data

    def stored_count(self) -> int | None:
        stats = json.loads(self._http("GET", "/statistics"))
        return int(stats["CountInstances"])

    def version(self) -> str:
        return str(json.loads(self._http("GET", "/system")).get("Version", "?"))

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        try:
            self._http("POST", "/tools/shutdown", b"")
        except OSError:
            _terminate(process, grace_s=ORTHANC_STOP_TIMEOUT_S)
            return
        try:
            # Wait for the exit: a new Orthanc started meanwhile would find the index locked.
            process.wait(timeout=ORTHANC_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _terminate(process, grace_s=15.0)


class Edge(Receiver):
    """The edge gateway, started through its CLI contract (``pacs-edge serve``)."""

    name = "edge"
    ae_title = "EDGE"
    # Its storage layout is its own business: the count is of DICOM files (``DICM`` at byte
    # 128) at least ``min_instance_bytes`` big anywhere under its data dir, a check, not a proof.
    stored_count_exact = False
    clean_exit_codes = frozenset({0, -signal.SIGINT, 128 + signal.SIGINT})

    DEFAULT_EXECUTABLE: ClassVar[Path] = (
        Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pacs-edge"
    )

    def __init__(
        self,
        storage: Path,
        logfile: Path,
        env: dict[str, str],
        min_instance_bytes: int = 0,
        executable: Path | None = None,
    ) -> None:
        super().__init__(storage, logfile, env, min_instance_bytes)
        self.executable = executable or self.DEFAULT_EXECUTABLE
        self.console_port = free_port()
        while self.console_port == self.port:
            self.console_port = free_port()

    @staticmethod
    def available(executable: Path) -> tuple[bool, str]:
        """(True, "") when ``EXECUTABLE serve --help`` works, else (False, the reason)."""
        if not os.access(executable, os.X_OK):
            return False, f"{executable} does not exist or is not executable"
        try:
            out = subprocess.run(
                [str(executable), "serve", "--help"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"{executable} serve --help failed: {exc}"
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-1:]
            return (
                False,
                f"{executable} serve --help exited with {out.returncode}: {' '.join(tail)}",
            )
        return True, ""

    def _command(self) -> list[str]:
        return [
            str(self.executable),
            "serve",
            "--campus",
            "dongge",
            "--data-dir",
            str(self.storage),
            "--ae-title",
            self.ae_title,
            "--dicom-port",
            str(self.port),
            "--bind",
            HOST,
            "--accept-any-ae",
            "--console-port",
            str(self.console_port),
        ]

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        # Started, as Orthanc is once its HTTP and DICOM ports answer: the gateway opens
        # its DICOM port first and then starts its technician console (a web stack to
        # import), which would otherwise overlap the first second of a run.
        wait_for_port(self.port, process, "edge (DICOM)")
        wait_for_port(self.console_port, process, "edge (technician console)")

    def stored_count(self) -> int | None:
        return count_dicom_files(self.storage, self.min_instance_bytes)

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        _signal(process, signal.SIGINT, group=False)
        try:
            process.wait(timeout=EDGE_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL, group=False)
            process.wait()


RECEIVERS: dict[str, type[Receiver]] = {r.name: r for r in (Storescp, Orthanc, Edge)}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def progress(text: str) -> None:
    """A progress line on stderr (the tables go to stdout)."""
    print(text, file=sys.stderr, flush=True)


def run_in_workdir(
    body: Callable[[Path], int],
    *,
    prefix: str,
    workdir: Path | None,
    keep: bool,
    fresh: tuple[str, ...],
) -> int:
    """Run ``body(workdir)`` the way both benchmarks do: a temporary work directory
    unless one is given (then its ``fresh`` sub-folders are emptied first), every
    process stopped on Ctrl-C or SIGTERM (exit 130), errors reported (exit 2), the
    temporary directory removed unless ``keep``."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    own = workdir is None
    root = (Path(tempfile.mkdtemp(prefix=prefix)) if workdir is None else workdir).resolve()
    if not own:
        for sub in fresh:
            shutil.rmtree(root / sub, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    try:
        return body(root)
    except KeyboardInterrupt:
        progress("interrupted: every process the benchmark started has been stopped")
        return 130
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        progress(f"error: {exc}")
        return 2
    finally:
        if own and not keep:
            shutil.rmtree(root, ignore_errors=True)
        elif keep:
            progress(f"kept: {root}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON atomically (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
