"""``pacs-edge serve --workers 2``: two processes on one port, one archive and index."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

from tests.integration.edge.conftest import peer_args, run, serve_edge, write_peers
from tests.support.dicom_files import make_series
from tests.support.net import free_port
from tests.support.requirements import dcmtk_program


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
