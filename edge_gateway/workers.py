"""Several gateway processes on one DICOM port (``--workers N``).

pynetdicom runs every association of a process under one interpreter lock, so one
process tops out near 300 small images/s whatever the number of associations. With
``workers`` > 1 a supervisor clears the partial files of a previous run, then starts N
worker processes; each opens the same data dir and index (SQLite WAL serialises their
writes) and accepts associations on the listening socket the supervisor opened before
forking them, the least busy worker first (see ``SharedListenerServer``). A worker that
dies is started again; the workers die with the supervisor (``PR_SET_PDEATHSIG``), so a
killed supervisor leaves nothing listening.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from edge_gateway.config import EdgeSettings
from edge_gateway.dicom.server import open_listener
from edge_gateway.gateway import ConfigurationError, build_gateway
from edge_gateway.peers import PeerTable
from edge_gateway.store.archive import Archive

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_RESTART_PAUSE = 1.0


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor still stops them
        log.warning("cannot tie worker processes to the supervisor on this system")


def _worker(settings: EdgeSettings, peers: PeerTable, listener: socket.socket, index: int) -> None:
    """Body of one worker process; never returns."""
    _die_with_parent()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    code = 0
    try:
        gateway = build_gateway(settings, peers, shared_index=True)
        gateway.start(clear_tmp=False, listener=listener)
        log.info("worker %d (pid %d) serving", index, os.getpid())
        try:
            stop.wait()
        finally:
            gateway.stop()
    except Exception:
        log.exception("worker %d failed", index)
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _spawn(target: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        target()
    return pid


def serve_workers(
    settings: EdgeSettings,
    peers: PeerTable,
    stop: threading.Event,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Run ``settings.effective_workers`` worker processes until ``stop`` is set;
    return 0. ``on_started`` runs in the supervisor once the first workers are forked
    (so threads it starts, like the sync agent's, are not running at that fork).

    Raises what ``build_gateway`` raises for bad settings, and ``ConfigurationError``
    when the port cannot be listened on, before any worker starts.
    """
    if settings.dicom_port == 0:
        raise ValueError("--workers needs a fixed --dicom-port: the workers must share it")
    build_gateway(settings, peers).stop()  # fail fast on bad settings, create the index
    try:
        listener = open_listener(settings.bind, settings.dicom_port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigurationError(
            f"cannot listen on {settings.bind}:{settings.dicom_port}: {reason} "
            "(is another gateway or program using this port?)"
        ) from exc
    try:
        return _supervise(settings, peers, listener, stop, on_started)
    finally:
        listener.close()


def _supervise(
    settings: EdgeSettings,
    peers: PeerTable,
    listener: socket.socket,
    stop: threading.Event,
    on_started: Callable[[], None] | None,
) -> int:
    removed = Archive(settings.data_dir).clear_tmp()
    if removed:
        log.warning("removed %d partial file(s) left by an interrupted run", removed)
    sys.stdout.flush()
    sys.stderr.flush()
    workers: dict[int, int] = {}
    for n in range(settings.effective_workers):
        workers[_spawn(lambda n=n: _worker(settings, peers, listener, n))] = n  # type: ignore[misc]
    log.info(
        "edge gateway: %d worker processes on %s:%d",
        settings.effective_workers,
        settings.bind,
        settings.dicom_port,
    )
    if on_started is not None:
        on_started()
    while not stop.is_set():
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            stop.wait(0.5)
            continue
        if pid not in workers:
            continue
        n = workers.pop(pid)
        if not stop.is_set():
            log.error("worker %d (pid %d) ended with status %d; starting it again", n, pid, status)
            time.sleep(_RESTART_PAUSE)
            workers[_spawn(lambda n=n: _worker(settings, peers, listener, n))] = n  # type: ignore[misc]
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in list(workers):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    log.info("edge gateway stopped (%d workers)", len(workers))
    return 0
