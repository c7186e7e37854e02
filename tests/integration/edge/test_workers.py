"""``pacs-edge serve --workers 2``: two processes on one port, one archive and index."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.integration.edge.conftest import (
    EDGE_AE,
    peer_args,
    run,
    serve_command,
    serve_edge,
    write_peers,
)
from tests.support.dicom_files import make_series
from tests.support.net import free_port
from tests.support.requirements import dcmtk_program
from tests.support.waiting import wait_until


def test_two_workers_share_port_archive_and_index(dcmtk: None, tmp_path: Path) -> None:
    peers = write_peers(tmp_path / "peers.toml")
    folders = []
    for n in range(4):
        folder = tmp_path / f"s{n}"
        make_series(folder, 25, patient_id=f"PW{n}")
        folders.append(folder)
    # the same series twice, from two associations at once: still one copy
    port = free_port()
    data = tmp_path / "edge"
    log = tmp_path / "edge.log"
    edge = serve_edge(data, peers, port, log, "--workers", "2")
    try:
        storescu = dcmtk_program("storescu")
        senders = [
            subprocess.Popen(
                [storescu, "+sd", *peer_args(port), str(folder)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for folder in [*folders, folders[0]]
        ]
        for sender in senders:
            out, _ = sender.communicate(timeout=120)
            assert sender.returncode == 0, out.decode(errors="replace")
        result = run(
            [
                "findscu",
                "-v",
                "-S",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                "PatientID=PW*",
                "-k",
                "NumberOfStudyRelatedInstances",
                *peer_args(port),
            ]
        )
        assert result.stdout.count("(Pending)") == 4, result.stdout
    finally:
        edge.send_signal(signal.SIGINT)
        assert edge.wait(timeout=60) == 0
    db = sqlite3.connect(data / "edge.sqlite")
    instances = db.execute("SELECT count(*), count(DISTINCT sop_uid) FROM instance").fetchone()
    counted = db.execute("SELECT sum(num_instances), count(*) FROM study").fetchone()
    db.close()
    assert instances == (100, 100)
    assert counted == (100, 4)
    files = [p for p in (data / "archive").rglob("*.dcm")]
    assert len(files) == 100
    text = (tmp_path / "edge.log").read_text(encoding="utf-8", errors="replace")
    assert "2 worker processes" in text
    assert "Traceback" not in text


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids.extend(int(p) for p in (task / "children").read_text().split())
    return pids


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    return inodes


def _established_per_worker(edge: subprocess.Popen[bytes], port: int) -> list[int]:
    """How many connections to ``port`` each worker process of ``edge`` holds, sorted."""
    inodes = _established_inodes(port)
    counts = []
    for worker in _children(edge.pid):
        held = 0
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    held += 1
        counts.append(held)
    return sorted(counts)


def test_new_associations_go_to_the_less_busy_worker(dcmtk: None, tmp_path: Path) -> None:
    peers = write_peers(tmp_path / "peers.toml")
    port = free_port()
    edge = serve_edge(tmp_path / "edge", peers, port, tmp_path / "edge.log", "--workers", "2")
    ae = AE("MODALITY")
    ae.add_requested_context(Verification)
    held = []
    try:
        for n in range(1, 5):
            assoc = ae.associate("127.0.0.1", port, ae_title=EDGE_AE)
            assert assoc.is_established
            held.append(assoc)
            wait_until(
                lambda n=n: sum(_established_per_worker(edge, port)) == n,  # type: ignore[misc]
                f"{n} associations held by the workers",
            )
        # one worker does not take them all (as a hash of the peer's port could)
        assert _established_per_worker(edge, port) == [2, 2]
        assert all(assoc.send_c_echo().Status == 0 for assoc in held)
    finally:
        for assoc in held:
            assoc.release()
        edge.send_signal(signal.SIGINT)
        assert edge.wait(timeout=60) == 0


def test_a_second_gateway_cannot_take_the_port(dcmtk: None, tmp_path: Path) -> None:
    peers = write_peers(tmp_path / "peers.toml")
    port = free_port()
    edge = serve_edge(tmp_path / "edge", peers, port, tmp_path / "edge.log", "--workers", "2")
    try:
        second = subprocess.run(
            serve_command(tmp_path / "second", peers, port, "--workers", "2", "--no-queue"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in second.stderr
        # the first gateway still answers
        echo = run(["echoscu", *peer_args(port)])
        assert echo.returncode == 0, echo.stdout
    finally:
        edge.send_signal(signal.SIGINT)
        assert edge.wait(timeout=60) == 0
