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

SCHEMA_VERSION = 1


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
        conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return engine


def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()
