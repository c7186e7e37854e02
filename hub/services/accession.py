"""Accession numbers (检查号): campus prefix, local date, sequence — ``DG2611250001``.

The sequence comes from the ``accession_counter`` row of (campus, day): the row is
created if missing (``INSERT … ON CONFLICT DO NOTHING``) and incremented with one
atomic ``UPDATE … RETURNING``. The row stays locked until the transaction ends
(PostgreSQL row lock; SQLite's single writer), so concurrent registrations get distinct,
gap-free numbers and a rolled-back registration gives its number back.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from hub.models.registration import AccessionCounter
from hub.services.campuses import ACCESSION_PREFIXES, check_campus


def format_accession(campus: str, day: date, sequence: int) -> str:
    """``DG`` + ``YYMMDD`` + the sequence, at least four digits (``DG2611250001``)."""
    prefix = ACCESSION_PREFIXES.get(campus) or campus[:2].upper()
    return f"{prefix}{day:%y%m%d}{sequence:04d}"


def next_accession(*, session: Session, campus: str, day: date) -> str:
    """Take the next accession number of ``campus`` for the local ``day`` in the
    session's transaction (the caller commits)."""
    check_campus(campus)
    table = AccessionCounter.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    insert: Insert
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(table).on_conflict_do_nothing(index_elements=["campus", "day"])
    else:
        insert = sqlite.insert(table).on_conflict_do_nothing(index_elements=["campus", "day"])
    conn.execute(insert.values(campus=campus, day=day, last=0))
    sequence = conn.execute(
        update(table)
        .where(table.c.campus == campus, table.c.day == day)
        .values(last=table.c.last + 1)
        .returning(table.c.last)
    ).scalar_one()
    return format_accession(campus, day, int(sequence))
