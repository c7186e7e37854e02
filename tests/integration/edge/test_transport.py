"""The gateway's associations wait for work instead of polling (``TunedDUL``)."""

from __future__ import annotations

import os
import queue
import socket
import threading
from pathlib import Path
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.sop_class import CTImageStorage, Verification

from edge_gateway.dicom.responses import DirectResponder
from edge_gateway.dicom.transport import TunedAssociationSocket, TunedDUL
from edge_gateway.gateway import Gateway
from tests.integration.edge.conftest import EDGE_AE, StartEdge
from tests.support.dicom_files import make_ct
from tests.support.waiting import wait_until


def _accepted(gateway: Gateway) -> Association:
    server = gateway._server
    assert server is not None
    wait_until(lambda: len(server.active_associations) == 1, "the gateway's association")
    return server.active_associations[0]


def _requestor() -> AE:
    ae = AE("MODALITY")
    ae.add_requested_context(Verification)
    return ae


def test_accepted_association_runs_the_event_driven_loop(start_edge: StartEdge) -> None:
    gateway = start_edge()
    assoc = _requestor().associate("127.0.0.1", gateway.port, ae_title=EDGE_AE)
    assert assoc.is_established
    accepted = _accepted(gateway)
    dul = accepted.dul
    assert isinstance(dul, TunedDUL)
    assert isinstance(dul.socket, TunedAssociationSocket)
    assert isinstance(accepted.dimse, DirectResponder)
    # pynetdicom's logging handlers are not bound (configure_pynetdicom), so C-STORE
    # and C-FIND responses take DirectResponder's direct path
    for event in (evt.EVT_PDU_RECV, evt.EVT_PDU_SENT, evt.EVT_DIMSE_RECV, evt.EVT_DIMSE_SENT):
        assert not accepted.get_handlers(event)
    assert dul._wake_fd >= 0  # its thread sleeps on this eventfd and the socket
    sock = dul.socket.socket
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    for _ in range(20):  # each answer is sent by the DUL thread, woken by send_pdu
        assert assoc.send_c_echo().Status == 0
    assoc.release()
    assert assoc.is_released
    wait_until(lambda: not dul.is_alive(), "the DUL thread to end after release")
    assert dul._wake_fd == -1  # closed with its thread
    dul.wake()  # a late wake-up is harmless: nothing is written to a closed descriptor


def test_peer_abort_and_kill_end_a_sleeping_association(start_edge: StartEdge) -> None:
    gateway = start_edge()
    first = _requestor().associate("127.0.0.1", gateway.port, ae_title=EDGE_AE)
    accepted = _accepted(gateway)
    first.abort()  # data on the socket wakes the sleeping DUL thread
    wait_until(lambda: not accepted.is_alive(), "the association to end after A-ABORT")
    assert accepted.is_aborted

    second = _requestor().associate("127.0.0.1", gateway.port, ae_title=EDGE_AE)
    assert second.is_established
    accepted = _accepted(gateway)
    accepted.abort()  # from the gateway's side: send_pdu and kill_dul wake the thread
    wait_until(lambda: second.is_aborted, "the peer to see the gateway's A-ABORT")
    wait_until(lambda: not accepted.dul.is_alive(), "the DUL thread to end")


def test_plain_responses_are_written_by_the_reactor_thread(
    start_edge: StartEdge, tmp_path: Path
) -> None:
    """A C-STORE response leaves without a hand-off to the DUL thread (``send_now``);
    a C-ECHO response still goes through pynetdicom's queue."""
    gateway = start_edge()
    ae = _requestor()
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title=EDGE_AE)
    assert assoc.is_established
    dul = _accepted(gateway).dul
    queued: list[object] = []
    handed_over = dul.send_pdu

    def record(primitive: Any) -> None:
        queued.append(primitive)
        handed_over(primitive)

    dul.send_pdu = record  # type: ignore[method-assign]
    ds = make_ct(tmp_path / "ct.dcm")
    assert assoc.send_c_store(ds).Status == 0
    assert not [p for p in queued if isinstance(p, P_DATA)]
    assert assoc.send_c_echo().Status == 0
    assert len([p for p in queued if isinstance(p, P_DATA)]) == 1
    assoc.release()
    assert assoc.is_released


class _Socket:
    _is_connected = True

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)


class _StateMachine:
    current_state = "Sta6"


def _idle_dul() -> tuple[TunedDUL, _Socket]:
    """A TunedDUL with just what ``send_now`` looks at (no thread, no association)."""
    dul = TunedDUL.__new__(TunedDUL)
    sock = _Socket()
    dul.socket = sock  # type: ignore[assignment]
    dul.to_provider_queue = queue.Queue()
    dul.event_queue = queue.Queue()
    dul.state_machine = _StateMachine()  # type: ignore[assignment]
    dul._kill_thread = False
    dul._send_lock = threading.Lock()
    return dul, sock


def test_send_now_never_overtakes_what_waits_for_the_dul_thread() -> None:
    dul, sock = _idle_dul()
    assert dul.send_now(b"first")
    dul.to_provider_queue.put(P_DATA())  # given to send_pdu, not yet sent
    assert not dul.send_now(b"second")
    dul.to_provider_queue.get()
    dul.state_machine.current_state = "Sta8"  # release requested
    assert not dul.send_now(b"third")
    dul.state_machine.current_state = "Sta6"
    dul._kill_thread = True
    assert not dul.send_now(b"fourth")
    assert sock.sent == [b"first"]


def test_a_failed_direct_send_wakes_the_dul_thread() -> None:
    """pynetdicom's socket queues Evt17 when a send fails; the sleeping DUL thread is
    woken to act on it at once."""
    dul, sock = _idle_dul()
    dul._wake_lock = threading.Lock()
    dul._wake_fd = os.eventfd(0, os.EFD_NONBLOCK)
    try:

        def broken(data: bytes) -> None:
            dul.event_queue.put("Evt17")

        sock.send = broken  # type: ignore[method-assign]
        assert dul.send_now(b"lost")
        assert os.eventfd_read(dul._wake_fd) == 1
    finally:
        os.close(dul._wake_fd)
