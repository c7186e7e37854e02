"""The statements the hub's patient search runs, and what the database does with them.

``explain_all`` calls ``hub.services.patients.search_patients`` itself (in-process, on its
own engine) for one term per kind, captures the SQL it sends, times the call and each
statement alone, and asks for the plans: ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL,
``EXPLAIN QUERY PLAN`` on SQLite. Then it asks again with prefix-capable indexes on
``name``, ``pinyin`` and ``pinyin_initials`` where the schema lacks them, created inside
a transaction that is rolled back (nothing is kept):

- PostgreSQL: ``text_pattern_ops`` btree indexes, which serve ``LIKE 'x%'`` whatever the
  column's collation (a plain btree does so only under the "C" collation);
- SQLite: indexes ``COLLATE NOCASE``, which serve its case-insensitive ``LIKE 'x%'`` (a
  plain, BINARY, index does not).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from hub.db import make_engine
from hub.services.patients import search_patients

PREFIX_COLUMNS = ("name", "pinyin", "pinyin_initials")
SECRET = b"bench-secret-" * 3
Run = Callable[[str, Any], Sequence[Any]]
"""Executes one statement with its parameters and returns all rows."""

_PG_PATTERN_COLUMNS = """
SELECT a.attname FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
JOIN pg_opclass o ON o.oid = i.indclass[0]
WHERE t.relname = 'patient' AND o.opcname IN ('text_pattern_ops', 'varchar_pattern_ops')
"""


def fix_ddl(dialect: str, columns: Sequence[str]) -> list[str]:
    """The proposed index for each of ``columns``."""
    if dialect == "postgresql":
        return [
            f"CREATE INDEX ix_patient_{c}_pattern ON patient ({c} text_pattern_ops)"
            for c in columns
        ]
    return [f"CREATE INDEX ix_patient_{c}_nocase ON patient ({c} COLLATE NOCASE)" for c in columns]


def _capture(engine: Engine, params: dict[str, str]) -> tuple[list[tuple[str, Any]], float]:
    """The patient statements of one search and the service call's wall time (ms, the
    second of two calls, so caches are warm)."""
    captured: list[tuple[str, Any]] = []

    def listener(_c: Any, _cur: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        captured.append((statement, parameters))

    elapsed = 0.0
    for _ in range(2):
        captured.clear()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with Session(engine) as session:
                start = time.perf_counter()
                search_patients(session=session, secret=SECRET, **params)  # type: ignore[arg-type]
                elapsed = time.perf_counter() - start
                session.rollback()
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    statements = [(s, p) for s, p in captured if re.search(r"\bFROM patient\b", s)]
    return statements, elapsed * 1000


def _plan(run: Run, pg: bool, statement: str, parameters: Any) -> dict[str, Any]:
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        run(statement, parameters)
        runs.append((time.perf_counter() - start) * 1000)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
    rows = run(prefix + statement, parameters)
    return {
        "sql": statement,
        "sql_short": _short(statement),
        "parameters": _jsonable(parameters),
        "alone_ms": round(min(runs), 3),
        "plan": [str(r[0]) for r in rows] if pg else [str(r[-1]) for r in rows],
    }


def _plans(run: Run, pg: bool, captured: dict[str, list[tuple[str, Any]]]) -> dict[str, Any]:
    out = {}
    for key, statements in captured.items():
        plans = [_plan(run, pg, s, p) for s, p in statements]
        out[key] = {"statements": plans, "summary": _summary(plans, pg)}
    return out


def _pg_plans(
    engine: Engine, captured: dict[str, list[tuple[str, Any]]]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    with engine.connect() as conn:

        def run(statement: str, parameters: Any) -> Sequence[Any]:
            return conn.exec_driver_sql(statement, parameters).all()

        current = _plans(run, True, captured)
        covered = {str(r[0]) for r in conn.execute(text(_PG_PATTERN_COLUMNS))}
        conn.rollback()
        missing = [c for c in PREFIX_COLUMNS if c not in covered]
        if not missing:
            return (
                current,
                current,
                "text_pattern_ops indexes on name, pinyin, pinyin_initials: in the schema already",
            )
        with conn.begin() as trans:
            for ddl in fix_ddl("postgresql", missing):
                conn.exec_driver_sql(ddl)
            what_if = _plans(run, True, captured)
            trans.rollback()
    return current, what_if, f"text_pattern_ops indexes on {', '.join(missing)} (rolled back)"


def _sqlite_plans(
    url: str, captured: dict[str, list[tuple[str, Any]]]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    path = make_url(url).database
    # the sqlite3 module's own connection in autocommit mode: BEGIN … ROLLBACK are ours,
    # so the indexes tried are really rolled back
    raw = sqlite3.connect(str(path), isolation_level=None)
    try:

        def run(statement: str, parameters: Any) -> Sequence[Any]:
            return raw.execute(statement, parameters).fetchall()

        current = _plans(run, False, captured)
        nocase = set()
        for index in raw.execute("PRAGMA index_list(patient)").fetchall():
            for info in raw.execute(f"PRAGMA index_xinfo({index[1]})").fetchall():
                if info[5] == 1 and str(info[4]).upper() == "NOCASE" and info[2]:
                    nocase.add(str(info[2]))
        missing = [c for c in PREFIX_COLUMNS if c not in nocase]
        if not missing:
            return (
                current,
                current,
                "COLLATE NOCASE indexes on name, pinyin, pinyin_initials: in the schema already",
            )
        raw.execute("BEGIN")
        for ddl in fix_ddl("sqlite", missing):
            raw.execute(ddl)
        raw.execute("ANALYZE patient")
        what_if = _plans(run, False, captured)
        raw.execute("ROLLBACK")
    finally:
        raw.close()
    return current, what_if, f"COLLATE NOCASE indexes on {', '.join(missing)} (rolled back)"


def explain_all(url: str, terms: dict[str, dict[str, str]]) -> dict[str, Any]:
    """For each kind → search parameters: the service call's time, the statements with
    plans and times, a one-line summary; and the same with the proposed indexes
    (``what_if``, with a note saying what was tried). The hub must not be running on a
    SQLite database (the indexes are tried in a write transaction)."""
    engine = make_engine(url)
    try:
        captured: dict[str, list[tuple[str, Any]]] = {}
        service_ms: dict[str, float] = {}
        for key, params in terms.items():
            captured[key], service_ms[key] = _capture(engine, params)
        if engine.dialect.name == "postgresql":
            current, what_if, note = _pg_plans(engine, captured)
        else:
            current, what_if, note = _sqlite_plans(url, captured)
        return {
            key: {
                "params": terms[key],
                "service_ms": round(service_ms[key], 3),
                **current[key],
                "what_if": {"note": note, "same": what_if is current, **what_if[key]},
            }
            for key in terms
        }
    finally:
        engine.dispose()


def _short(statement: str) -> str:
    flat = " ".join(statement.split())
    select_list = re.match(r"SELECT (.*?) FROM", flat)
    what = "count(*)" if select_list and "count(" in select_list[1] else "page of patients"
    where = re.search(r"WHERE (.*?)( ORDER BY| LIMIT|$)", flat)
    order = re.search(r"ORDER BY (.*?)( LIMIT|$)", flat)
    short = f"{what} WHERE {where[1] if where else '-'}"
    return short + (f" ORDER BY {order[1]}" if order else "")


def _summary(statements: list[dict[str, Any]], pg: bool) -> str:
    """``count: <scans> [ms] | page: <scans> [ms]``."""
    parts = []
    for s in statements:
        label = "count" if s["sql_short"].startswith("count") else "page"
        if pg:
            nodes = [
                re.sub(r"\s+\(cost=.*", "", line.strip().removeprefix("->").strip())
                for line in s["plan"]
                if re.search(r"Scan|^\s*(->\s*)?Sort\b", line)
            ]
        else:
            nodes = list(s["plan"])
        parts.append(f"{label}: {'; '.join(nodes)} [{s['alone_ms']:.1f} ms]")
    return " | ".join(parts)


def _jsonable(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {k: str(v) for k, v in parameters.items()}
    if isinstance(parameters, list | tuple):
        return [str(v) for v in parameters]
    return str(parameters)
