"""Socket tuning for DICOM associations (pynetdicom 3.0.4, pinned in pyproject.toml).

Over a LAN or loopback, Nagle's algorithm combined with delayed ACKs stalls every
DIMSE exchange by 40-200 ms. The gateway protects itself whatever the peer does:

* ``TCP_NODELAY`` on every association socket, so its own replies leave at once;
* ``TCP_QUICKACK`` after every receive, so a sender that keeps Nagle on (most
  modalities) is not left waiting for our delayed ACK;
* PDUs are read with ``recv_into`` in as few system calls as the kernel allows,
  instead of pynetdicom's 4 KiB ``recv`` loop;
* pynetdicom's DUL thread polls its queues every 1 ms when it has nothing to do, and
  every exchange waits on that poll several times. While the association is busy
  (data moved in the last 50 ms) it polls every 0.1 ms per open connection (0.4 ms
  with four, so the pollers do not starve the handlers of the GIL), never slower than
  pynetdicom's 1 ms; an idle association keeps the 1 ms poll.

It is applied from an ``EVT_CONN_OPEN`` handler, which pynetdicom triggers after
the socket is connected and before the association thread starts (for both
acceptor and requestor associations).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

from pynetdicom.dul import DULServiceProvider
from pynetdicom.transport import AssociationSocket

log = logging.getLogger(__name__)

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


_BUSY_POLL = 0.0001
_IDLE_POLL = 0.001
_BUSY_WINDOW = 0.05


class TunedAssociationSocket(AssociationSocket):
    """AssociationSocket whose ``recv`` reads a whole PDU with few system calls and
    re-arms TCP_QUICKACK after each receive; it records when data last moved."""

    last_activity: float = 0.0

    def send(self, bytestream: bytes) -> None:
        super().send(bytestream)
        self.last_activity = time.monotonic()

    def recv(self, nr_bytes: int) -> bytearray:
        sock = self.socket
        assert sock is not None
        self.last_activity = time.monotonic()
        buffer = bytearray(nr_bytes)
        view = memoryview(buffer)
        received = 0
        while received < nr_bytes:
            count = sock.recv_into(view[received:], nr_bytes - received)
            if _QUICKACK is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            if count == 0:
                # Connection closed: return what arrived, as pynetdicom expects.
                del view
                return buffer[:received]
            received += count
        return buffer


class PollPolicy:
    """Counts the server's open connections, for the DUL poll interval."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open_connections = 0

    def on_conn_open(self, event: Any) -> None:
        """``EVT_CONN_OPEN`` handler of the server: tune, and count the connection."""
        handle_conn_open(event)
        event.assoc.dul._poll_policy = self
        with self._lock:
            self.open_connections += 1

    def on_conn_close(self, event: Any) -> None:
        """``EVT_CONN_CLOSE`` handler: uncount the connection. A connection closed before
        it asked for an association (a port probe, a health check) frees its slot now:
        pynetdicom would otherwise wait the whole ACSE timeout for an A-ASSOCIATE-RQ that
        cannot come (``None`` on its queue is what it reads as that time-out)."""
        with self._lock:
            self.open_connections = max(0, self.open_connections - 1)
        assoc = event.assoc
        if not (assoc.is_established or assoc.is_released or assoc.is_aborted or assoc.is_rejected):
            assoc.dul.to_user_queue.put(None)

    def busy_poll(self) -> float:
        return min(_IDLE_POLL, _BUSY_POLL * max(1, self.open_connections))


class TunedDUL(DULServiceProvider):
    """DUL provider whose idle poll is short while its association is busy."""

    _poll_policy: PollPolicy | None = None

    @property
    def _run_loop_delay(self) -> float:
        last = getattr(self.socket, "last_activity", 0.0)
        if time.monotonic() - last >= _BUSY_WINDOW:
            return _IDLE_POLL
        return self._poll_policy.busy_poll() if self._poll_policy is not None else _BUSY_POLL

    @_run_loop_delay.setter
    def _run_loop_delay(self, _value: float) -> None:
        """pynetdicom sets a fixed delay; the property above decides instead."""


def tune_socket(sock: socket.socket) -> None:
    """Set TCP_NODELAY (and TCP_QUICKACK where Linux has it) on a connected socket."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _QUICKACK is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    except OSError as exc:  # pragma: no cover - depends on the platform
        log.debug("could not tune socket: %s", exc)


def handle_conn_open(event: Any) -> None:
    """``EVT_CONN_OPEN`` handler: tune the association's socket."""
    assoc_socket = event.assoc.dul.socket
    if assoc_socket is None or assoc_socket.socket is None:
        return
    if type(assoc_socket) is AssociationSocket:
        assoc_socket.__class__ = TunedAssociationSocket
    dul = event.assoc.dul
    if type(dul) is DULServiceProvider:
        dul.__class__ = TunedDUL
    tune_socket(assoc_socket.socket)


_REACTOR_POLL = 0.001
"""The pause pynetdicom's association reactor takes between looks at its DIMSE queue."""


class ReactorClock:
    """Stands in for the ``time`` module inside :mod:`pynetdicom.association`.

    pynetdicom's association reactor sleeps a fixed 1 ms before every look at its queue
    of decoded DIMSE messages, so each C-STORE request waits up to 1 ms (more under the
    GIL) before its handler runs. :meth:`sleep` waits for that 1 ms on the queue's own
    condition instead, so the reactor wakes the moment a message is queued; every other
    sleep, and every other attribute, is the real ``time`` module's.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds == _REACTOR_POLL:
            messages = getattr(
                getattr(threading.current_thread(), "dimse", None), "msg_queue", None
            )
            if messages is not None:
                with messages.not_empty:  # holds the queue's (non-reentrant) mutex
                    if not messages.queue:
                        messages.not_empty.wait(seconds)
                return
        time.sleep(seconds)


def wake_reactors_on_messages() -> None:
    """Install :class:`ReactorClock` in pynetdicom's association module (process-wide;
    called from the gateway's ``configure_pynetdicom``, not at import)."""
    import pynetdicom.association as association_module

    if not isinstance(getattr(association_module, "time", None), ReactorClock):
        setattr(association_module, "time", ReactorClock())  # noqa: B010  (not exported)
