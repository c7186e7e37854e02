"""``INSERT … ON CONFLICT`` for the hub's two databases (SQLite and PostgreSQL).

Concurrent writers (two identical event batches, two STOW requests for one study) race
to insert the same unique key; letting the database settle it is both correct and
cheaper than look-up-then-insert.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session


def table_of(model: type[Any]) -> Table:
    """The ``Table`` of a SQLModel table class."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    returning: str | None = None,
) -> list[Any]:
    """Insert ``rows``, skipping those whose ``keys`` (a unique constraint) exist already.

    Returns the ``returning`` column of the rows actually inserted (empty list when
    ``returning`` is None or nothing was new). One statement, inside the session's
    transaction.
    """
    if not rows:
        return []
    # executemany of one cached statement ("insertmanyvalues" batches it into multi-row
    # INSERTs on both databases); a statement with the rows inlined would be compiled
    # afresh each time, which costs more than the insert itself.
    stmt: Insert = _insert(session, table).on_conflict_do_nothing(index_elements=list(keys))
    if returning is None:
        session.connection().execute(stmt, list(rows))
        return []
    result = session.connection().execute(stmt.returning(table.c[returning]), list(rows))
    return list(result.scalars())


def upsert_add(
    session: Session,
    table: Table,
    row: Mapping[str, Any],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> None:
    """Insert ``row``; when its ``keys`` exist, add the ``add`` columns to the stored
    values and overwrite the ``replace`` columns (atomic counters and gauges)."""
    stmt = _insert(session, table).values(dict(row))
    updates: dict[str, Any] = {c: table.c[c] + stmt.excluded[c] for c in add}
    updates.update({c: stmt.excluded[c] for c in replace})
    session.connection().execute(
        stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
    )


def clip_row(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with each text value cut to its column's length (DICOM values can be
    longer than the index keeps; PostgreSQL would refuse them)."""
    lengths = _lengths(table)
    clipped = dict(row)
    for key, value in row.items():
        length = lengths.get(key)
        if length is not None and isinstance(value, str) and len(value) > length:
            clipped[key] = value[:length]
    return clipped


@functools.cache
def _lengths(table: Table) -> dict[str, int]:
    found = {c.name: getattr(c.type, "length", None) for c in table.columns}
    return {name: length for name, length in found.items() if isinstance(length, int)}
