"""A hub restored from a backup, with a real edge and its sync agent (SQLite, then
PostgreSQL): the edge tells the hub the highest accession numbers it holds, and the next
registration does not reuse one of them."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import delete, update
from sqlmodel import Session, select

from edge_gateway.sync.agent import build_agent
from edge_gateway.sync.state import read_cursor
from hub.db import session_scope
from hub.models.audit import AuditEvent
from hub.models.registration import AccessionCounter
from tests.integration.hub import factories
from tests.integration.sync.conftest import Hub, SyncedEdge, wait_until
from tests.integration.sync.test_sync_with_hub import steps
from tests.support.hub_orders import forget_orders_after


def number(sequence: int) -> str:
    return f"DG{factories.local_today():%y%m%d}{sequence:04d}"


def counter(hub: Hub) -> int:
    """The hub's accession counter of 东葛 today (0 without a row)."""
    with Session(hub.live.ctx.engine) as session:
        last = session.exec(
            select(AccessionCounter.last).where(
                AccessionCounter.campus == "dongge",
                AccessionCounter.day == factories.local_today(),
            )
        ).first()
    return last or 0


def edge_cursor(edge: SyncedEdge) -> int:
    with edge.gateway.engine.connect() as conn:
        return read_cursor(conn)


def restore(hub: Hub, seq: int) -> None:
    """What restoring a backup taken just after order change ``seq`` (the first order)
    does to the hub's database: the later orders are gone, the order-change counter and
    the accession counter are back where they were then."""
    with session_scope(hub.live.ctx.engine) as session:
        forget_orders_after(session, seq)
        session.exec(update(AccessionCounter).values(last=1))


def raises_audited(hub: Hub) -> list[str]:
    with Session(hub.live.ctx.engine) as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.resource == "accession_counter")
        ).all()
    return [r.detail for r in rows]


def test_after_a_restore_the_feed_restart_makes_the_edge_report(
    hub: Hub, edge: SyncedEdge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_gateway.sync")
    live = hub.live
    factories.load_catalogue(live)
    patient = factories.create_patient(live)
    orders = [factories.create_order(live, patient["patient_id"]) for _ in range(3)]
    assert [o["accession"] for o in orders] == [number(1), number(2), number(3)]
    wait_until(
        lambda: edge_cursor(edge) >= orders[-1]["change_seq"], "the orders reaching the edge"
    )
    assert {number(1), number(2), number(3)} <= steps(edge).keys()
    assert raises_audited(hub) == []  # the report at the agent's start found nothing

    restore(hub, orders[0]["change_seq"])
    assert counter(hub) == 1
    live.ctx.notifier.changed("dongge")  # as if a registrar touched an order: wake the poll
    wait_until(lambda: counter(hub) == 3, "the edge's report raising the hub's counter")
    assert any("restarted the order feed" in r.getMessage() for r in caplog.records)
    assert len(raises_audited(hub)) == 1 and number(3) in raises_audited(hub)[0]

    # the re-read did not bring orders 2 and 3 (lost with the restore): their steps leave
    # the worklist, so no technician performs an exam the hub has no order for
    wait_until(
        lambda: steps(edge).get(number(3)) == "DISCONTINUED", "the lost orders leaving the worklist"
    )
    new = factories.create_order(live, patient["patient_id"], procedure_code="MR-HEAD")
    assert new["accession"] == number(4)
    wait_until(lambda: number(4) in steps(edge), "the new order reaching the edge")
    held = steps(edge)
    assert {a: held[a] for a in (number(1), number(2), number(3), number(4))} == {
        number(1): "SCHEDULED",
        number(2): "DISCONTINUED",
        number(3): "DISCONTINUED",
        number(4): "SCHEDULED",
    }
    assert any("left the worklist" in r.getMessage() for r in caplog.records)


def test_a_restarted_agent_reports_at_its_start(hub: Hub, edge: SyncedEdge) -> None:
    live = hub.live
    factories.load_catalogue(live)
    patient = factories.create_patient(live)
    orders = [factories.create_order(live, patient["patient_id"]) for _ in range(2)]
    wait_until(lambda: {number(1), number(2)} <= steps(edge).keys(), "the orders at the edge")
    # the hub forgets its counter, the feed stays where it is (no restart to notice)
    with session_scope(live.ctx.engine) as session:
        session.exec(delete(AccessionCounter))
    edge.agent.stop()
    agent = build_agent(edge.settings)
    assert agent is not None
    edge.agent = agent
    agent.start()
    wait_until(lambda: counter(hub) == 2, "the report of the restarted agent")
    assert edge_cursor(edge) == orders[-1]["change_seq"]
    assert factories.create_order(live, patient["patient_id"])["accession"] == number(3)
