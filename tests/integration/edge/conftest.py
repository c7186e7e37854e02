"""Fixtures: a real edge gateway on a free port, and dcmtk tools as its peers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_gateway.config import EdgeSettings
from edge_gateway.gateway import Gateway, build_gateway
from edge_gateway.peers import ALL_PERMISSIONS, Peer, PeerTable, Permission
from tests.support.net import wait_for_port
from tests.support.requirements import dcmtk_program

EDGE_AE = "EDGE"

DCMTK_TOOLS = ("echoscu", "storescu", "findscu", "movescu", "getscu", "storescp", "dcmcjpeg")


@pytest.fixture
def dcmtk() -> None:
    for tool in DCMTK_TOOLS:
        dcmtk_program(tool)


def default_peers(extra: list[Peer] | None = None) -> PeerTable:
    peers = {
        "MODALITY": Peer("MODALITY", allow=ALL_PERMISSIONS),
        "STOREONLY": Peer("STOREONLY", allow=frozenset({Permission.STORE})),
        "VIEWER": Peer("VIEWER", allow=frozenset({Permission.QUERY, Permission.RETRIEVE})),
    }
    for p in extra or []:
        peers[p.ae_title] = p
    return PeerTable(peers)


StartEdge = Callable[..., Gateway]


@pytest.fixture
def start_edge(tmp_path: Path) -> Iterator[StartEdge]:
    """Start gateways in this process; each is stopped at the end of the test."""
    running: list[Gateway] = []

    def _start(peers: PeerTable | None = None, **overrides: object) -> Gateway:
        values: dict[str, object] = {
            "campus": "dongge",
            "data_dir": tmp_path / f"edge{len(running)}",
            "ae_title": EDGE_AE,
            "dicom_port": 0,
            "bind": "127.0.0.1",
        }
        values.update(overrides)
        gateway = build_gateway(EdgeSettings(**values), peers or default_peers())  # type: ignore[arg-type]
        gateway.start()
        running.append(gateway)
        return gateway

    yield _start
    for gateway in running:
        gateway.stop()


@pytest.fixture
def edge(dcmtk: None, start_edge: StartEdge) -> Gateway:
    return start_edge()


def run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool; return its result (output in .stdout, stderr merged)."""
    if cmd[0] in DCMTK_TOOLS:
        cmd = [dcmtk_program(cmd[0]), *cmd[1:]]
    return subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def peer_args(target: Gateway | int, calling: str = "MODALITY") -> list[str]:
    """dcmtk's calling/called AE and address arguments for a gateway or a port."""
    port = target if isinstance(target, int) else target.port
    return ["-aet", calling, "-aec", EDGE_AE, "127.0.0.1", str(port)]


PACS_EDGE = str(Path(sys.executable).parent / "pacs-edge")


def write_peers(path: Path) -> Path:
    """A peers file allowing the test modality everything."""
    path.write_text('[[peer]]\nae_title = "MODALITY"\nallow = ["*"]\n', encoding="utf-8")
    return path


def serve_command(data_dir: Path, peers: Path, port: int, *extra: str) -> list[str]:
    """``pacs-edge serve`` for campus dongge on 127.0.0.1:``port``, as operators run it."""
    return [
        PACS_EDGE,
        "serve",
        "--campus",
        "dongge",
        "--data-dir",
        str(data_dir),
        "--ae-title",
        EDGE_AE,
        "--dicom-port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--peers",
        str(peers),
        *extra,
    ]


def serve_edge(
    data_dir: Path, peers: Path, port: int, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """Start ``pacs-edge serve`` as operators do; return once its port accepts."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            serve_command(data_dir, peers, port, *extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(port, process=proc)
    return proc
