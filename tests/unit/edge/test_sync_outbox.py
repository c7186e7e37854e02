"""Claiming and settling outbox rows (real SQLite index with real ingested instances)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from edge_gateway.store.outbox import (
    Resent,
    add_event,
    claim_batch,
    mark_done,
    mark_failed,
    prune_done,
    recover_stale,
    release,
    resend_delivered,
    retry_failed,
    retry_later,
    sqlite_timestamp,
)
from tests.unit.edge.sync_index import EdgeIndex, edge_index

BIG = 1 << 40


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeIndex]:
    e = edge_index(tmp_path / "edge")
    yield e
    e.close()


def statuses(edge: EdgeIndex) -> list[str]:
    return [str(r["status"]) for r in edge.outbox()]


def test_claims_oldest_first_in_batches_and_locks_them(edge: EdgeIndex) -> None:
    edge.ingest_series(3)
    first = claim_batch(edge.engine, max_events=2, max_bytes=BIG)
    assert [e.kind for e in first] == ["study.new", "instance.new"]
    assert [e.id for e in first] == sorted(e.id for e in first)
    rows = edge.outbox()
    assert statuses(edge) == ["LOCKED", "LOCKED", "READY", "READY"]
    assert rows[0]["locked_at"] is not None
    second = claim_batch(edge.engine, max_events=2, max_bytes=BIG)
    assert [e.id for e in second] == [r["id"] for r in rows[2:]]
    assert claim_batch(edge.engine, max_events=2, max_bytes=BIG) == []
    assert first[1].payload["sha256"] and first[1].uploads_file


def test_batch_is_bounded_by_file_bytes_but_takes_at_least_one(edge: EdgeIndex) -> None:
    edge.ingest_series(3)
    size = int(claim_batch(edge.engine, max_events=2, max_bytes=BIG)[1].payload["size"])
    release(edge.engine, [int(str(r["id"])) for r in edge.outbox()])
    # study.new (no file) + two instances fit in 2 files' bytes, the third does not
    batch = claim_batch(edge.engine, max_events=100, max_bytes=2 * size)
    assert [e.kind for e in batch] == ["study.new", "instance.new", "instance.new"]
    mark_done(edge.engine, [e.id for e in batch])
    alone = claim_batch(edge.engine, max_events=100, max_bytes=1)
    assert len(alone) == 1 and alone[0].kind == "instance.new"


def test_a_later_event_of_the_same_subject_never_overtakes(edge: EdgeIndex) -> None:
    edge.ingest_series(2)
    rows = edge.outbox()
    held_sop = str(rows[1]["subject"])
    with edge.engine.begin() as conn:
        add_event(conn, kind="instance.replaced", subject=held_sop, payload={"sop_uid": held_sop})
    claimed = claim_batch(edge.engine, max_events=1, max_bytes=BIG)
    assert claimed[0].kind == "study.new"
    mark_done(edge.engine, [claimed[0].id])
    claimed = claim_batch(edge.engine, max_events=100, max_bytes=BIG)
    later = datetime.now(UTC) + timedelta(minutes=5)
    retry_later(edge.engine, [(claimed[0].id, later, "hub said no")])
    release(edge.engine, [e.id for e in claimed[1:]])
    # the first instance waits for its retry time: the other instance goes, but the
    # replacement of the waiting one stays behind it
    again = claim_batch(edge.engine, max_events=100, max_bytes=BIG)
    assert [e.subject for e in again] == [str(rows[2]["subject"])]
    row = edge.outbox()[1]
    assert (row["attempts"], row["last_error"]) == (1, "hub said no")
    # while the first is in flight, the replacement waits too
    now = later + timedelta(seconds=1)
    due = claim_batch(edge.engine, max_events=1, max_bytes=BIG, now=now)
    assert [(e.kind, e.subject) for e in due] == [("instance.new", held_sop)]
    assert claim_batch(edge.engine, max_events=100, max_bytes=BIG, now=now) == []
    # due together, both go in one batch, in order
    release(edge.engine, [due[0].id])
    both = claim_batch(edge.engine, max_events=100, max_bytes=BIG, now=now)
    assert [(e.kind, e.subject) for e in both] == [
        ("instance.new", held_sop),
        ("instance.replaced", held_sop),
    ]


def test_stale_claims_go_back_to_ready(edge: EdgeIndex) -> None:
    edge.ingest_series(2)
    claimed = claim_batch(edge.engine, max_events=100, max_bytes=BIG)
    assert len(claimed) == 3
    five_minutes_ago = datetime.now(UTC) - timedelta(minutes=5)
    assert recover_stale(edge.engine, locked_before=five_minutes_ago) == 0
    assert set(statuses(edge)) == {"LOCKED"}
    # after a crash the next start takes them back, and they go again in order
    assert recover_stale(edge.engine, locked_before=datetime.now(UTC)) == 3
    assert set(statuses(edge)) == {"READY"}
    again = claim_batch(edge.engine, max_events=100, max_bytes=BIG)
    assert [e.event_id for e in again] == [e.event_id for e in claimed]


def test_failed_events_are_kept_until_an_operator_retries(edge: EdgeIndex) -> None:
    edge.ingest_series(1)
    claimed = claim_batch(edge.engine, max_events=100, max_bytes=BIG)
    mark_done(edge.engine, [claimed[0].id])
    mark_failed(edge.engine, [(claimed[1].id, "unknown kind")])
    assert statuses(edge) == ["DONE", "FAILED"]
    assert edge.outbox()[1]["last_error"] == "unknown kind"
    assert claim_batch(edge.engine, max_events=100, max_bytes=BIG) == []
    assert retry_failed(edge.engine) == 1
    assert [e.id for e in claim_batch(edge.engine, max_events=100, max_bytes=BIG)] == [
        claimed[1].id
    ]


def test_old_delivered_events_are_pruned(edge: EdgeIndex) -> None:
    edge.ingest_series(2)
    claimed = claim_batch(edge.engine, max_events=2, max_bytes=BIG)
    mark_done(edge.engine, [e.id for e in claimed])
    assert prune_done(edge.engine, created_before=datetime.now(UTC) - timedelta(days=1)) == 0
    assert prune_done(edge.engine, created_before=datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert statuses(edge) == ["READY"]


def test_resend_delivered_takes_back_what_a_restored_hub_lost(edge: EdgeIndex) -> None:
    edge.ingest_series(2)  # study.new + 2 instance.new, delivered and confirmed long ago
    edge.ingest_series(1)  # study.new + 1 instance.new, delivered after the backup
    mark_done(edge.engine, [e.id for e in claim_batch(edge.engine, max_events=9, max_bytes=BIG)])
    now = datetime.now(UTC)
    long_ago, backup = now - timedelta(days=3), now - timedelta(hours=2)
    with edge.engine.begin() as conn:
        rows = edge.outbox()
        for row in rows[:3]:
            conn.execute(
                text("UPDATE outbox SET created_at = :t WHERE id = :id"),
                {"t": sqlite_timestamp(long_ago), "id": row["id"]},
            )
        for row, moment in zip(rows[1:], (long_ago, long_ago, now, now), strict=True):
            if row["kind"] == "instance.new":
                conn.execute(
                    text("UPDATE instance SET hub_confirmed_at = :t WHERE sop_uid = :sop"),
                    {"t": sqlite_timestamp(moment), "sop": row["subject"]},
                )
    resent = resend_delivered(edge.engine, since=backup, margin=timedelta(hours=24))
    assert resent == Resent(events=2, images=1)
    assert statuses(edge) == ["DONE", "DONE", "DONE", "READY", "READY"]
    with edge.engine.connect() as conn:
        unconfirmed = conn.scalar(
            text("SELECT count(*) FROM instance WHERE hub_confirmed_at IS NULL")
        )
    assert unconfirmed == 1
    # an image confirmed after the backup goes again even when its event is older than the margin
    with edge.engine.begin() as conn:
        conn.execute(
            text("UPDATE instance SET hub_confirmed_at = :t WHERE sop_uid = :sop"),
            {"t": sqlite_timestamp(now), "sop": rows[1]["subject"]},
        )
    assert resend_delivered(edge.engine, since=backup, margin=timedelta(0)) == Resent(1, 1)
    assert statuses(edge)[1] == "READY"
    # nothing delivered since: nothing to do
    assert resend_delivered(edge.engine, since=now, margin=timedelta(0)) == Resent(0, 0)
