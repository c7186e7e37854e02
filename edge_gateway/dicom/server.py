"""The gateway's Application Entity: presentation contexts and handler wiring.

Handlers are bound here, once, with their dependencies; they run on each
association's thread and only touch the archive, the index and the outbox.
"""

from __future__ import annotations

import logging
import socket
import threading
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
from edge_gateway.dicom.transport import PollPolicy
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
    poll: PollPolicy


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
        (evt.EVT_CONN_OPEN, services.poll.on_conn_open),
        (evt.EVT_CONN_CLOSE, services.poll.on_conn_close),
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


class ReusePortServer(ThreadedAssociationServer):
    """Association server whose listening socket shares its port (``SO_REUSEPORT``)
    with the other worker processes of the gateway; the kernel spreads connections."""

    def server_bind(self) -> None:
        assert self.socket is not None
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def start_server(
    ae: AE, bind: str, port: int, services: DicomServices, reuse_port: bool = False
) -> ThreadedAssociationServer:
    """Start listening on ``bind:port`` in the background; return the server
    (``server.server_address`` gives the bound port when ``port`` was 0)."""
    if not reuse_port:
        server = ae.start_server((bind, port), block=False, evt_handlers=handlers(services))
        assert server is not None
        return server
    shared = ae.make_server(
        (bind, port), evt_handlers=handlers(services), server_class=ReusePortServer
    )
    assert isinstance(shared, ReusePortServer)
    threading.Thread(target=shared.serve_forever, name="AcceptorServer", daemon=True).start()
    ae._servers.append(shared)  # so that ae.shutdown() and active_associations see it
    return shared
