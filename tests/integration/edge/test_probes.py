"""Connections that never ask for an association (port probes, load-balancer health
checks) must not hold association slots (before the fix each held one for the whole ACSE
timeout, and a gateway with two slots refused the next modality)."""

from __future__ import annotations

import socket

from tests.integration.edge.conftest import StartEdge, peer_args, run


def test_bare_connections_free_their_slot_at_once(dcmtk: None, start_edge: StartEdge) -> None:
    gateway = start_edge(max_associations=2)
    for _ in range(10):
        with socket.create_connection(("127.0.0.1", gateway.port)):
            pass
    # With only two slots, a C-ECHO right after ten probes is accepted.
    result = run(["echoscu", *peer_args(gateway)])
    assert result.returncode == 0, result.stdout
