"""Socket tuning and wake-ups for DICOM associations (pynetdicom 3.0.4, pinned in pyproject.toml).

Over a LAN or loopback, Nagle's algorithm combined with delayed ACKs stalls every
DIMSE exchange by 40-200 ms. The gateway protects itself whatever the peer does:

* ``TCP_NODELAY`` on every association socket, so its own replies leave at once;
* ``TCP_QUICKACK`` after every receive, so a sender that keeps Nagle on (most
  modalities) is not left waiting for our delayed ACK;
* PDUs are read with ``recv_into`` in as few system calls as the kernel allows,
  instead of pynetdicom's 4 KiB ``recv`` loop.

pynetdicom runs two threads per association that poll each other: the DUL thread looks
at its socket and at its queue of primitives to send every 1 ms, the association
reactor looks at its queue of decoded DIMSE messages every 1 ms, and every exchange
waits on those polls several times. On the gateway's own (acceptor) associations both
threads sleep until there is work instead:

* :class:`TunedDUL` blocks in ``poll(2)`` on the socket and on an eventfd that
  :meth:`TunedDUL.send_pdu` and :meth:`TunedDUL.kill_dul` signal, with the ARTIM timer
  (and at most :data:`_MAX_IDLE_WAIT`) as its time-out;
* :class:`ReactorClock` makes the reactor's 1 ms pause a wait on its message queue;
* the responses :class:`~edge_gateway.dicom.responses.DirectResponder` encodes itself
  (C-STORE, C-FIND) are written to the socket by the reactor thread
  (:meth:`TunedDUL.send_now`) instead of being handed to the DUL thread PDU by PDU — on
  two cores each hand-off cost more than building the response.

Associations the gateway requests itself (C-MOVE sub-associations) start their DUL
thread before the socket exists; they keep pynetdicom's loop, with a short poll while
data moves.

It is applied from an ``EVT_CONN_OPEN`` handler, which pynetdicom triggers after the
socket is connected and, for associations the gateway accepts, before their threads start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import socket
import ssl
import threading
import time
from typing import Any, cast

from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.transport import AssociationSocket
from pynetdicom.utils import make_target

from edge_gateway.dicom.responses import DirectResponder

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


class OpenConnections:
    """Counts the server's open connections (a worker with more of them defers taking a
    new one, see ``SharedListenerServer``) and tunes each as it opens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open_connections = 0

    def on_conn_open(self, event: Any) -> None:
        """``EVT_CONN_OPEN`` handler of the server: tune, and count the connection."""
        handle_conn_open(event)
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


_MAX_IDLE_WAIT = 0.05
"""Longest sleep of an event-driven DUL thread with nothing to do: a safety net only,
every source of work (peer data, a primitive to send, a kill) wakes it at once."""


class TunedDUL(DULServiceProvider):
    """DUL provider that sleeps until its socket or its caller has work for it.

    The thread's loop is pynetdicom's (one primitive to encode, or one PDU to decode, then
    one state-machine event per turn), except that a turn that finds nothing to do waits
    in ``poll(2)`` instead of sleeping a fixed interval. A DUL whose thread was already
    running pynetdicom's own loop when the class was changed (a requested association)
    keeps it, with :attr:`_run_loop_delay` short while data moves.
    """

    _wake_fd: int = -1
    _wake_lock: threading.Lock | None = None
    _send_lock: threading.Lock | None = None

    @property
    def _run_loop_delay(self) -> float:
        last = getattr(self.socket, "last_activity", 0.0)
        if time.monotonic() - last >= _BUSY_WINDOW:
            return _IDLE_POLL
        return _BUSY_POLL

    @_run_loop_delay.setter
    def _run_loop_delay(self, _value: float) -> None:
        """pynetdicom sets a fixed delay; the property above decides instead."""

    def prepare_wakeups(self) -> None:
        """Open the eventfd that wakes this DUL's thread, and point the thread (not yet
        started: pynetdicom bound its own ``run_reactor`` as the target) at ours."""
        if self._wake_lock is None:
            self._wake_lock = threading.Lock()
            self._send_lock = threading.Lock()
            self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            setattr(self, "_target", make_target(self.run_reactor))  # noqa: B010  (Thread's)

    def wake(self) -> None:
        """Wake the thread if it is waiting for work (any thread may call this)."""
        lock = self._wake_lock
        if lock is None:
            return
        with lock:
            if self._wake_fd >= 0:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_write(self._wake_fd, 1)

    def send_pdu(self, primitive: Any) -> None:
        super().send_pdu(primitive)
        self.wake()

    def send_now(self, pdus: bytes) -> bool:
        """Write encoded P-DATA-TF PDUs to the peer from the calling thread (the
        association's reactor), sparing the hand-off of each PDU to the DUL thread.

        Only while the association is established (Sta6) and nothing given to
        :meth:`send_pdu` earlier is still waiting, so PDUs leave in the order they were
        given; the DUL thread runs each state-machine action under the same lock, so
        none of its own sends can slip in between. False (nothing written) when the
        caller must go through :meth:`send_pdu` instead.
        """
        lock = self._send_lock
        if lock is None:
            return False
        with lock:
            sock = self.socket
            if (
                self._kill_thread
                or self.to_provider_queue.queue
                or self.state_machine.current_state != "Sta6"
                or sock is None
                or not sock._is_connected
            ):
                return False
            sock.send(pdus)
        if self.event_queue.queue:  # a failed send queued Evt17 (connection closed)
            self.wake()
        return True

    def kill_dul(self) -> None:
        super().kill_dul()
        self.wake()

    def run_reactor(self) -> None:
        if self._wake_lock is None:
            super().run_reactor()
            return
        try:
            self._run_event_driven()
        finally:
            with self._wake_lock:
                fd, self._wake_fd = self._wake_fd, -1
            os.close(fd)

    def _run_event_driven(self) -> None:
        assert self._send_lock is not None  # prepare_wakeups ran
        self._idle_timer.start()
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
            if self._kill_thread:
                return
            if self.artim_timer.expired:
                self.event_queue.put("Evt18")
            try:
                if self._process_recv_primitive():
                    pass
                elif self._is_transport_event():
                    self._idle_timer.restart()
            except Exception:
                log.exception("DUL failed; aborting the association")
                self._abort_now()
                return
            try:
                event = self.event_queue.get(block=False)
            except queue.Empty:
                self._wait_for_work()
                continue
            with self._send_lock:  # see send_now
                self.state_machine.do_action(event)

    def _abort_now(self) -> None:
        """Send an A-ABORT past the state machine, whose state can no longer be trusted,
        and stop both of the association's threads (what pynetdicom does in this case)."""
        pdu = A_ABORT_RQ()
        pdu.source = 0x02
        pdu.reason_diagnostic = 0x00
        if self.socket is not None and self._send_lock is not None:
            with self._send_lock, contextlib.suppress(OSError):
                self.socket.send(pdu.encode())
        self.assoc.is_aborted = True
        self.assoc.is_established = False
        self.assoc._kill = True
        self._kill_thread = True

    def _wait_for_work(self) -> None:
        """Sleep until the socket has data, somebody calls :meth:`wake`, or a timer is due."""
        timeout = _MAX_IDLE_WAIT
        artim = self.artim_timer
        if artim._start_time is not None and artim._end_time is None:  # running
            timeout = min(timeout, max(0.0, artim.remaining))
        poller = select.poll()
        poller.register(self._wake_fd, select.POLLIN)
        assoc_socket = self.socket
        raw = assoc_socket.socket if assoc_socket is not None else None
        if raw is not None and assoc_socket is not None and assoc_socket._is_connected:
            if isinstance(raw, ssl.SSLSocket) and raw.pending():
                return
            with contextlib.suppress(OSError, ValueError):
                poller.register(raw, select.POLLIN)
        with contextlib.suppress(InterruptedError):
            poller.poll(timeout * 1000.0)
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._wake_fd)


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
    """``EVT_CONN_OPEN`` handler: tune the association's socket, and let its DIMSE
    provider write C-STORE and C-FIND responses directly (:mod:`edge_gateway.dicom.responses`)."""
    assoc_socket = event.assoc.dul.socket
    if assoc_socket is None or assoc_socket.socket is None:
        return
    if type(assoc_socket) is AssociationSocket:
        assoc_socket.__class__ = TunedAssociationSocket
    if type(event.assoc.dimse) is DIMSEServiceProvider:
        event.assoc.dimse.__class__ = DirectResponder
    dul = event.assoc.dul
    if type(dul) is DULServiceProvider:
        dul.__class__ = TunedDUL
        if not dul.is_alive():
            cast(TunedDUL, dul).prepare_wakeups()
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
