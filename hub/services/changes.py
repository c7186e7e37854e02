"""Order changes: every write to an order takes the next ``change_seq`` and records its
status step, so edges following the feed see it and the history stays complete."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from hub.models.base import utcnow
from hub.models.registration import ChangeCounter, Order, OrderEvent


def next_change_seq(session: Session) -> int:
    """The next value of the order change counter (row-locked until the transaction ends,
    so change numbers are handed out in commit order on PostgreSQL and SQLite alike)."""
    table = ChangeCounter.__table__  # type: ignore[attr-defined]
    bump = update(table).where(table.c.id == 1).values(last=table.c.last + 1)
    conn = session.connection()
    value = conn.execute(bump.returning(table.c.last)).scalar_one_or_none()
    if value is None:
        # The very first change: create the row. Two first writers may race; ON CONFLICT
        # DO NOTHING lets the loser wait for the winner's row and then bump it.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(table).values(id=1, last=0).on_conflict_do_nothing(index_elements=["id"])
        )
        value = conn.execute(bump.returning(table.c.last)).scalar_one()
    return int(value)


def touch_order(
    session: Session,
    order: Order,
    *,
    actor: str,
    new_status: str | None = None,
    reason: str = "",
) -> None:
    """Mark ``order`` changed (new ``change_seq``, ``updated_at``); when ``new_status``
    differs from its status, move it and add the history step. The caller commits and
    then calls ``HubContext.notifier.changed(order.campus)``.

    Lock order: the order row is written (and so locked) before the change counter, in
    every caller, so two writers can never wait on each other in opposite order."""
    order.updated_at = utcnow()
    session.add(order)
    session.flush()  # the order row first: UPDATE takes its row lock now
    if new_status is not None and new_status != order.status:
        session.add(
            OrderEvent(
                order_pk=order.id,  # type: ignore[arg-type]
                from_status=order.status,
                to_status=new_status,
                reason=reason,
                actor=actor,
                at=utcnow(),
            )
        )
        order.status = new_status
    order.change_seq = next_change_seq(session)
    session.add(order)


def current_change_seq(session: Session) -> int:
    counter = session.exec(select(ChangeCounter).where(ChangeCounter.id == 1)).first()
    return counter.last if counter else 0
