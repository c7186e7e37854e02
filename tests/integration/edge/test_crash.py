"""SIGKILL in the middle of several storescu associations: after a restart every
instance that was answered Success is archived, readable and indexed, and no partial
file is left where the archive keeps its files."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from pydicom import dcmread
from sqlalchemy import select

from edge_gateway.store.database import open_index
from edge_gateway.store.models import Instance
from tests.integration.edge.conftest import peer_args, run, serve_edge, write_peers
from tests.support.dicom_files import make_series
from tests.support.net import free_port
from tests.support.requirements import dcmtk_program

SENDERS = 3
PER_SENDER = 120
KILL_AFTER = 90  # Success answers seen before the kill


class Sender:
    """One storescu association, its output read as it comes."""

    def __init__(self, folder: Path, port: int, on_success: threading.Semaphore) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [dcmtk_program("storescu"), "-v", "+sd", *peer_args(port), str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._on_success = on_success
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Received Store Response (Success)" in line:
                self._on_success.release()

    def acknowledged(self) -> list[Path]:
        """Files whose C-STORE was answered Success."""
        done: list[Path] = []
        current: str | None = None
        for line in self.lines:
            if line.startswith("I: Sending file: "):
                current = line.removeprefix("I: Sending file: ")
            elif "Received Store Response (Success)" in line and current:
                done.append(Path(current))
                current = None
        return done


def test_sigkill_during_storage_loses_nothing_acknowledged(dcmtk: None, tmp_path: Path) -> None:
    peers = write_peers(tmp_path / "peers.toml")
    data_dir = tmp_path / "edge"
    folders = []
    for n in range(SENDERS):
        folder = tmp_path / f"send{n}"
        make_series(folder, PER_SENDER, patient_id=f"PK{n}", patient_name=f"KILL^{n}")
        folders.append(folder)
    port = free_port()
    log = tmp_path / "edge.log"
    edge = serve_edge(data_dir, peers, port, log)
    successes = threading.Semaphore(0)
    senders = [Sender(folder, port, successes) for folder in folders]
    deadline = time.monotonic() + 120
    for _ in range(KILL_AFTER):
        assert successes.acquire(timeout=max(0.1, deadline - time.monotonic())), log.read_text()
    os.kill(edge.pid, signal.SIGKILL)
    edge.wait(timeout=30)
    for sender in senders:
        sender.proc.wait(timeout=60)
        sender.thread.join(timeout=30)
    acknowledged = [p for s in senders for p in s.acknowledged()]
    assert len(acknowledged) >= KILL_AFTER
    assert len(acknowledged) < SENDERS * PER_SENDER, "the kill came too late to test anything"

    # Restart: partial files are cleared, the gateway serves again.
    port = free_port()
    edge = serve_edge(data_dir, peers, port, log)
    try:
        assert list((data_dir / "tmp").iterdir()) == []
        engine = open_index(data_dir / "edge.sqlite")
        table = Instance.__table__  # type: ignore[attr-defined]
        with engine.connect() as conn:
            rows = {r.sop_uid: r for r in conn.execute(select(table))}
        engine.dispose()
        for path in acknowledged:
            sent = dcmread(path)
            row = rows.get(sent.SOPInstanceUID)
            assert row is not None, f"acknowledged instance {sent.SOPInstanceUID} is not indexed"
            stored = data_dir / "archive" / row.rel_path
            data = stored.read_bytes()
            assert hashlib.sha256(data).hexdigest() == row.sha256
            assert dcmread(stored).PixelData == sent.PixelData
        # Nothing partial where the archive keeps its files: every file there is whole.
        for stored in (data_dir / "archive").rglob("*"):
            if stored.is_file():
                assert stored.suffix == ".dcm", stored
                ds = dcmread(stored)
                assert len(ds.PixelData) == ds.Rows * ds.Columns * 2
        assert run(["echoscu", *peer_args(port)]).returncode == 0
    finally:
        edge.send_signal(signal.SIGINT)
        edge.wait(timeout=30)
