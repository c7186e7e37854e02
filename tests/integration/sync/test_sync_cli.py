"""``pacs-edge serve --hub-url … --hub-token-file …`` as operators run it (one process,
and a supervisor with worker processes), and the hub refusing a token."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_gateway.sync.client import HubClient, HubRefused
from tests.integration.edge.conftest import PACS_EDGE, peer_args, run, serve_edge, write_peers
from tests.integration.sync.conftest import wait_until
from tests.support.dicom_files import make_series
from tests.support.hub import RunningHub, start_hub
from tests.support.hub_orders import make_order
from tests.support.net import free_port
from tests.support.requirements import dcmtk_program


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """The subject here is the edge's process, not the hub's database: SQLite only."""
    running = start_hub(tmp_path / "hub")
    try:
        yield running
    finally:
        running.stop()


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(db, timeout=30)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_a_hub_syncs_and_stops_cleanly(
    sqlite_hub: RunningHub, tmp_path: Path, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dcmtk_program("storescu")
    # short long-polls and retries, from the environment as operators may set them
    monkeypatch.setenv("PACS_EDGE_SYNC_WAIT_SECONDS", "2")
    monkeypatch.setenv("PACS_EDGE_SYNC_POLL_SECONDS", "0.2")
    monkeypatch.setenv("PACS_EDGE_SYNC_RETRY_CAP_SECONDS", "2")
    token = tmp_path / "edge.token"
    token.write_text(sqlite_hub.device_token("dongge"), encoding="utf-8")
    data, port, log = tmp_path / "edge", free_port(), tmp_path / "edge.log"
    proc = serve_edge(
        data,
        write_peers(tmp_path / "peers.toml"),
        port,
        log,
        "--workers",
        workers,
        "--hub-url",
        sqlite_hub.base_url,
        "--hub-token-file",
        str(token),
    )
    index = data / "edge.sqlite"
    try:
        ref = make_order(sqlite_hub.ctx, name="孙七")
        wait_until(
            lambda: (
                _count(
                    index,
                    f"SELECT count(*) FROM scheduled_step WHERE accession = '{ref.accession}'",
                )
                == 1
            ),
            "the order reaching the edge",
        )
        make_series(tmp_path / "s", 6, patient_id=ref.patient_id, accession=ref.accession)
        result = run(["storescu", "+sd", *peer_args(port), str(tmp_path / "s")])
        assert result.returncode == 0, result.stdout
        wait_until(
            lambda: (
                _count(index, "SELECT count(*) FROM instance WHERE hub_confirmed_at IS NOT NULL")
                == 6
            ),
            "the images reaching the hub",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    assert "sync agent started" in output and "sync agent stopped" in output
    assert output.count("sync agent started") == 1  # once, in the supervisor
    assert (data / "metrics" / "edge_sync.prom").exists()


def test_hub_url_without_a_token_file_is_refused_with_a_sentence(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            PACS_EDGE,
            "serve",
            "--data-dir",
            str(tmp_path / "edge"),
            "--accept-any-ae",
            "--dicom-port",
            "0",
            "--hub-url",
            "https://hub.example.org",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--hub-token-file" in result.stderr and "pacs-hub device add" in result.stderr


def test_refused_token_says_to_re_enrol(sqlite_hub: RunningHub, tmp_path: Path) -> None:
    token = tmp_path / "edge.token"
    token.write_text("not-a-token-the-hub-gave", encoding="utf-8")
    client = HubClient(sqlite_hub.base_url, token, timeout=10)
    try:
        with pytest.raises(HubRefused, match="pacs-hub device add"):
            client.orders(0, wait=0, limit=10)
        token.write_text(sqlite_hub.device_token("dongge"), encoding="utf-8")
        feed = client.orders(0, wait=0, limit=10)  # the new token is read, no restart
        assert feed.orders == []
    finally:
        client.close()
