"""Accession numbers (检查号): campus prefix, local date, sequence — ``DG2611250001``.

The sequence comes from the ``accession_counter`` row of (campus, day): the row is
created if missing (``INSERT … ON CONFLICT DO NOTHING``) and incremented with one
atomic ``UPDATE … RETURNING``. The row stays locked until the transaction ends
(PostgreSQL row lock; SQLite's single writer), so concurrent registrations get distinct,
gap-free numbers and a rolled-back registration gives its number back.

After the hub's database is restored from a backup, the counters are behind the numbers
already handed out; the edges report the highest numbers they hold and
:func:`raise_counter` moves a counter up to them (never down).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from hub.models.registration import AccessionCounter
from hub.services.campuses import check_campus
from shared.accession import format_accession

_TABLE = AccessionCounter.__table__  # type: ignore[attr-defined]


def next_accession(*, session: Session, campus: str, day: date) -> str:
    """Take the next accession number of ``campus`` for the local ``day`` in the
    session's transaction (the caller commits)."""
    check_campus(campus)
    conn = session.connection()
    _ensure_row(conn, campus, day)
    sequence = conn.execute(
        update(_TABLE)
        .where(_TABLE.c.campus == campus, _TABLE.c.day == day)
        .values(last=_TABLE.c.last + 1)
        .returning(_TABLE.c.last)
    ).scalar_one()
    return format_accession(campus, day, int(sequence))


def raise_counter(*, session: Session, campus: str, day: date, last: int) -> int | None:
    """Make the counter of (``campus``, ``day``) at least ``last`` in the session's
    transaction (the caller commits). Returns the value it had when it was lower (it
    was raised), None when it was already at ``last`` or above (nothing changed).

    The row is created if missing and locked before it is read (PostgreSQL:
    ``FOR UPDATE``; SQLite: the insert took the write lock), so a registration running
    at the same time takes its number either before (and the counter is raised past
    it) or after (and continues above ``last``)."""
    check_campus(campus)
    conn = session.connection()
    _ensure_row(conn, campus, day)
    where = (_TABLE.c.campus == campus) & (_TABLE.c.day == day)
    current = int(conn.execute(select(_TABLE.c.last).where(where).with_for_update()).scalar_one())
    if current >= last:
        return None
    conn.execute(update(_TABLE).where(where, _TABLE.c.last < last).values(last=last))
    return current


def _ensure_row(conn: Connection, campus: str, day: date) -> None:
    """``INSERT … ON CONFLICT DO NOTHING`` of the counter row at 0. On SQLite this
    first write takes the database's write lock for the rest of the transaction."""
    insert: Insert
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(_TABLE).on_conflict_do_nothing(index_elements=["campus", "day"])
    else:
        insert = sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=["campus", "day"])
    conn.execute(insert.values(campus=campus, day=day, last=0))
