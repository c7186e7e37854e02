"""Opening the edge's SQLite index: WAL journal, ``synchronous=FULL``, foreign keys.

With WAL and ``synchronous=FULL`` a committed transaction is on disk when ``commit``
returns, which is what lets the gateway answer Success only after indexing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

import edge_gateway.queue.tables  # noqa: F401  (registers the queue tables for create_all)
from edge_gateway.store.models import EdgeModel

SCHEMA_VERSION = 2

ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("scheduled_step", "category", "VARCHAR NOT NULL DEFAULT ''"),
    ("scheduled_step", "booked", "BOOLEAN NOT NULL DEFAULT 1"),
)
"""Columns added to existing tables since version 1: ``create_all`` makes new tables only,
so an index made by an older release gets them here (SQLite ADD COLUMN, instant)."""


def open_index(path: Path) -> Engine:
    """Open (creating if needed) the index at ``path`` and return its engine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=8,
        max_overflow=32,
    )
    event.listen(engine, "connect", _on_connect)
    EdgeModel.metadata.create_all(engine)
    with engine.begin() as conn:
        for table, column, ddl in ADDED_COLUMNS:
            present = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")
        conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return engine


def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()
