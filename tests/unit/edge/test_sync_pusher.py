"""The pusher when the hub cannot be reached or refuses the token, and the backlog
metrics file (real index; the "hub" is a closed port, so every request really fails)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge_gateway.store.outbox import claim_batch
from edge_gateway.sync.backoff import Backoff, BackoffPolicy
from edge_gateway.sync.client import HubClient
from edge_gateway.sync.metrics import read_backlog, render, write_textfile
from edge_gateway.sync.pusher import MISSING_FILE, Pusher
from edge_gateway.sync.state import record_contact
from tests.support.net import free_port
from tests.unit.edge.sync_index import EdgeIndex, edge_index


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeIndex]:
    e = edge_index(tmp_path / "edge")
    yield e
    e.close()


def pusher(edge: EdgeIndex, token_file: Path, cap: float = 60.0) -> Pusher:
    client = HubClient(f"http://127.0.0.1:{free_port()}", token_file, timeout=5)
    return Pusher(
        edge.engine,
        edge.archive.root,
        client,
        max_events=100,
        max_bytes=1 << 30,
        backoff=Backoff(BackoffPolicy(base=1.0, cap=cap), random.Random(1)),
    )


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "edge.token"
    path.write_text("  some-device-token\n", encoding="utf-8")
    return path


def test_unreachable_hub_gives_the_whole_batch_back_in_order(edge: EdgeIndex, token: Path) -> None:
    edge.ingest_series(3)
    p = pusher(edge, token)
    cycle = p.run_cycle()
    assert cycle is not None and cycle.claimed == cycle.retrying == 4
    assert 0.2 <= cycle.wait <= 1.0
    rows = edge.outbox()
    assert {r["status"] for r in rows} == {"READY"}
    assert {r["attempts"] for r in rows} == {1}
    assert len({r["next_attempt_at"] for r in rows}) == 1  # one shared retry time: order kept
    assert "ConnectError" in str(rows[0]["last_error"])
    later = datetime.now(UTC) + timedelta(seconds=cycle.wait + 1)
    again = claim_batch(edge.engine, max_events=100, max_bytes=1 << 30, now=later)
    assert [e.id for e in again] == [r["id"] for r in rows]
    # failures in a row back off further
    assert p.backoff.failures == 1


def test_refused_token_backs_off_long_and_says_what_to_do(
    edge: EdgeIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    edge.ingest_series(1)
    p = pusher(edge, tmp_path / "no-such.token", cap=120.0)
    with caplog.at_level(logging.ERROR, logger="edge_gateway.sync"):
        cycle = p.run_cycle()
    assert cycle is not None and cycle.wait == 120.0
    assert "pacs-hub device add" in caplog.text
    assert {r["status"] for r in edge.outbox()} == {"READY"}


def test_event_whose_archive_file_is_gone_is_failed_for_an_operator(
    edge: EdgeIndex, token: Path
) -> None:
    edge.ingest_series(2)
    lost = edge.outbox()[1]
    sop = str(lost["subject"])
    next(edge.archive.root.rglob(f"{sop}.dcm")).unlink()
    pusher(edge, token).run_cycle()
    rows = {r["id"]: r for r in edge.outbox()}
    assert rows[lost["id"]]["status"] == "FAILED"
    assert rows[lost["id"]]["last_error"] == MISSING_FILE
    assert [r["status"] for i, r in rows.items() if i != lost["id"]] == ["READY", "READY"]


def test_backlog_metrics_file(edge: EdgeIndex, tmp_path: Path) -> None:
    edge.ingest_series(2)
    claim_batch(edge.engine, max_events=1, max_bytes=1)
    contact = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    record_contact(edge.engine, contact)
    with edge.engine.connect() as conn:
        backlog = read_backlog(conn)
    assert backlog.events == {"READY": 2, "LOCKED": 1, "DONE": 0, "FAILED": 0}
    assert backlog.unconfirmed_instances == 2
    assert backlog.oldest_ready_at is not None
    now = backlog.oldest_ready_at + timedelta(seconds=90)
    text = render(backlog, now)
    assert 'pacs_edge_outbox_events{status="READY"} 2\n' in text
    assert 'pacs_edge_outbox_events{status="LOCKED"} 1\n' in text
    assert "pacs_edge_unconfirmed_instances 2\n" in text
    assert "pacs_edge_oldest_ready_seconds 90.000\n" in text
    assert f"pacs_edge_last_hub_contact_timestamp_seconds {contact.timestamp():.3f}\n" in text
    target = tmp_path / "metrics" / "edge_sync.prom"
    write_textfile(target, text)
    write_textfile(target, text.replace(" 2\n", " 3\n"))
    assert "pacs_edge_unconfirmed_instances 3\n" in target.read_text(encoding="utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["edge_sync.prom"]  # no leftovers
    assert target.stat().st_mode & 0o644 == 0o644
