"""The gateway's Application Entity: presentation contexts and handler wiring.

Handlers are bound here, once, with their dependencies; they run on each
association's thread and only touch the archive, the index and the outbox.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from edge_gateway.dicom.activity import ActivityLog, calling_ae
from edge_gateway.dicom.find import QueryService
from edge_gateway.dicom.mpps import MppsService
from edge_gateway.dicom.mwl import WORKLIST_FIND, WorklistService
from edge_gateway.dicom.retrieve import RetrieveService
from edge_gateway.dicom.storage import StorageService
from edge_gateway.dicom.transport import OpenConnections
from edge_gateway.peers import PeerTable
from shared.dicom import status

log = logging.getLogger(__name__)

_QUERY_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
]

_QR_CONTEXTS = (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelGet,
    ModalityWorklistInformationFind,
    ModalityPerformedProcedureStep,
)


@dataclass
class DicomServices:
    storage: StorageService
    query: QueryService
    worklist: WorklistService
    retrieve: RetrieveService
    mpps: MppsService
    peers: PeerTable
    activity: ActivityLog
    connections: OpenConnections


def build_ae(
    ae_title: str, peers: PeerTable, *, max_associations: int, network_timeout: float, max_pdu: int
) -> AE:
    """An AE accepting Verification, Q/R, Worklist and MPPS in the uncompressed transfer
    syntaxes, and storage of any SOP class in the first transfer syntax the modality
    proposes (stored as received).

    Storage goes through pynetdicom's unrestricted storage service (set in
    ``configure_pynetdicom``) rather than ~170 supported contexts × every transfer
    syntax: pynetdicom deep-copies the supported contexts for every association, which
    cost 35-70 ms per association with the full list.
    """
    ae = AE(ae_title=ae_title)
    ae.maximum_associations = max_associations
    ae.network_timeout = network_timeout
    ae.acse_timeout = network_timeout
    ae.dimse_timeout = network_timeout
    ae.maximum_pdu_size = max_pdu
    if not peers.accept_any:
        ae.require_calling_aet = sorted(peers.peers)
    ae.add_supported_context(Verification, _QUERY_SYNTAXES)
    for sop_class in _QR_CONTEXTS:
        ae.add_supported_context(sop_class, _QUERY_SYNTAXES)
    return ae


class EchoService:
    def __init__(self, peers: PeerTable, activity: ActivityLog) -> None:
        self.peers = peers
        self.activity = activity

    def echo(self, event: Any) -> int:
        """C-ECHO: SUCCESS for every peer allowed to associate."""
        self.activity.count(event, "echo")
        log.info("C-ECHO from %s", calling_ae(event))
        return status.SUCCESS


def handlers(services: DicomServices) -> list[Any]:
    """The (event, handler) bindings of the gateway's SCP."""
    echo = EchoService(services.peers, services.activity)

    def dispatch_find(event: Any) -> Any:
        if str(event.request.AffectedSOPClassUID) == WORKLIST_FIND:
            return services.worklist.find(event)
        return services.query.find(event)

    activity = services.activity
    return [
        (evt.EVT_CONN_OPEN, services.connections.on_conn_open),
        (evt.EVT_CONN_CLOSE, services.connections.on_conn_close),
        (evt.EVT_ACCEPTED, activity.on_accepted),
        (evt.EVT_REJECTED, activity.on_rejected),
        (evt.EVT_RELEASED, activity.on_released),
        (evt.EVT_ABORTED, activity.on_aborted),
        (evt.EVT_C_ECHO, echo.echo),
        (evt.EVT_C_STORE, services.storage.handle_store),
        (evt.EVT_C_FIND, dispatch_find),
        (evt.EVT_C_MOVE, services.retrieve.move),
        (evt.EVT_C_GET, services.retrieve.get),
        (evt.EVT_N_CREATE, services.mpps.create),
        (evt.EVT_N_SET, services.mpps.set),
    ]


_ACCEPT_DEFERRAL = 0.005
"""Seconds a worker with open associations lets pass, per association, before it takes
a new connection, so that a less busy worker takes it first."""


def open_listener(bind: str, port: int, backlog: int = 128) -> socket.socket:
    """Bind and listen on ``bind:port`` for worker processes to share (they inherit it
    across ``fork``). Raises ``OSError`` when the address is in use or not local."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    return socket.create_server((bind, port), family=family, backlog=backlog)


class SharedListenerServer(ThreadedAssociationServer):
    """Association server on a listening socket opened by the supervisor and shared
    by all worker processes of the gateway.

    Every worker waits on the same socket; when a connection arrives the first worker
    to call ``accept`` takes it and the others find nothing (the socket is
    non-blocking) and go back to waiting. A worker that already serves associations
    waits :data:`_ACCEPT_DEFERRAL` per association before accepting, so new
    associations go to the least busy worker instead of where a hash of the peer's
    address puts them (``SO_REUSEPORT``), and a second gateway started on the same port
    by mistake fails to bind instead of silently sharing it.
    """

    def __init__(
        self,
        *args: Any,
        listener: socket.socket,
        load: Callable[[], int],
        **kwargs: Any,
    ) -> None:
        self._listener = listener
        self._load = load
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        """Adopt (a duplicate of) the shared socket instead of binding a new one."""
        if self.socket is not None:
            self.socket.close()  # the unbound socket TCPServer.__init__ made: not used
        self.socket = self._listener.dup()
        self.socket.settimeout(0)  # accept() must not wait for a connection another took
        self.server_address = self.socket.getsockname()

    def server_activate(self) -> None:
        """The supervisor already listens."""

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        busy = self._load()
        if busy:
            time.sleep(min(busy, 8) * _ACCEPT_DEFERRAL)
        assert self.socket is not None
        client, address = self.socket.accept()  # BlockingIOError: another worker took it
        client.setblocking(True)
        return client, address

    def server_close(self) -> None:
        """Close this worker's descriptor only: a ``shutdown`` would stop the socket
        for every worker."""
        if self.socket is not None:
            self.socket.close()


def start_server(
    ae: AE,
    bind: str,
    port: int,
    services: DicomServices,
    listener: socket.socket | None = None,
) -> ThreadedAssociationServer:
    """Start listening on ``bind:port`` in the background, or on the shared
    ``listener`` of a worker process; return the server (``server.server_address``
    gives the bound port when ``port`` was 0)."""
    if listener is None:
        server = ae.start_server((bind, port), block=False, evt_handlers=handlers(services))
        assert server is not None
        return server
    shared = ae.make_server(
        (bind, port),
        evt_handlers=handlers(services),
        server_class=SharedListenerServer,
        listener=listener,
        load=lambda: services.connections.open_connections,
    )
    assert isinstance(shared, SharedListenerServer)
    threading.Thread(target=shared.serve_forever, name="AcceptorServer", daemon=True).start()
    ae._servers.append(shared)  # so that ae.shutdown() and active_associations see it
    return shared
