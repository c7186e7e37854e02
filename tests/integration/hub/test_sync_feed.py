"""The order feed the edges follow (GET /api/v1/sync/orders), through real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session, select

from hub.db import session_scope
from hub.models.archive import EdgeSyncState
from hub.models.registration import OrderStatus
from hub.security.roles import Role
from shared.sync import ORDERS_PATH, OrderFeed
from tests.support import waiting
from tests.support.hub import RunningHub
from tests.support.hub_orders import add_procedure, forget_orders_after, make_order, set_status


def feed(hub: RunningHub, token: str, **params: int | float) -> OrderFeed:
    with hub.client(token) as c:
        r = c.get(ORDERS_PATH, params=params)
        assert r.status_code == 200, r.text
        return OrderFeed.model_validate(r.json())


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` (a state inside the in-process hub) until it holds."""
    waiting.wait_until(condition, what, timeout, poll=0.01)


def parked_long_polls(hub: RunningHub) -> int:
    """Long-polls of the hub waiting on its change notifier right now."""
    return len(hub.ctx.notifier._waiters)


def test_cursor_paging_and_rendering(hub: RunningHub) -> None:
    add_procedure(hub.ctx, "CT001", preparation="检查前禁食4小时")
    slot = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
    refs = [make_order(hub.ctx, scheduled_at=slot) for _ in range(4)]
    refs.append(make_order(hub.ctx, procedure_code="DR009", name="欧阳娜娜", birth_date=None))
    token = hub.device_token("dongge")

    first = feed(hub, token, cursor=0, limit=2)
    assert [o.accession for o in first.orders] == [r.accession for r in refs[:2]]
    assert first.more and first.cursor == refs[1].change_seq
    second = feed(hub, token, cursor=first.cursor, limit=2)
    assert [o.accession for o in second.orders] == [r.accession for r in refs[2:4]]
    assert second.more
    last = feed(hub, token, cursor=second.cursor, limit=2)
    assert [o.accession for o in last.orders] == [refs[4].accession]
    assert not last.more and last.cursor == refs[4].change_seq
    idle = feed(hub, token, cursor=last.cursor, wait=0)
    assert idle.orders == [] and idle.cursor == last.cursor and not idle.more

    o = first.orders[0]
    assert o.patient_name == "Zhang^San=张^三"
    assert o.birth_date == "19800517" and o.sex == "M"
    assert o.preparation == "检查前禁食4小时"
    assert o.scheduled_at == slot
    assert o.status == "scheduled" and o.campus == "dongge"
    assert (o.referring_physician, o.requesting_department) == ("李医生", "呼吸内科")
    assert (o.study_uid, o.patient_id) == (refs[0].study_uid, refs[0].patient_id)
    other = last.orders[0]
    assert other.patient_name == "Ouyang^Nana=欧阳^娜娜"
    assert other.birth_date == "" and other.preparation == ""

    # A change to an order already seen brings it back, after the cursor.
    seq = set_status(hub.ctx, refs[0].accession, OrderStatus.ARRIVED)
    again = feed(hub, token, cursor=last.cursor)
    assert [(x.accession, x.status, x.change_seq) for x in again.orders] == [
        (refs[0].accession, "arrived", seq)
    ]


def test_campus_isolation_and_cancelled_orders(hub: RunningHub) -> None:
    mine = make_order(hub.ctx, campus="dongge")
    theirs = make_order(hub.ctx, campus="xianhu")
    dongge, xianhu = hub.device_token("dongge"), hub.device_token("xianhu")
    assert [o.accession for o in feed(hub, dongge).orders] == [mine.accession]
    assert [o.accession for o in feed(hub, xianhu).orders] == [theirs.accession]

    seq = set_status(hub.ctx, theirs.accession, OrderStatus.CANCELLED, "患者取消")
    seen = feed(hub, xianhu, cursor=theirs.change_seq).orders
    assert [(o.accession, o.status, o.change_seq) for o in seen] == [
        (theirs.accession, "cancelled", seq)
    ]
    assert feed(hub, dongge, cursor=mine.change_seq, wait=0).orders == []


def test_people_and_other_tokens_are_refused(hub: RunningHub) -> None:
    with hub.client(hub.token(Role.IT_ADMIN)) as c:
        assert c.get(ORDERS_PATH).status_code == 401
    with hub.client("pacsdev_not-a-real-token") as c:
        assert c.get(ORDERS_PATH).status_code == 401
    with hub.client(hub.device_token("dongge")) as c:
        assert c.get(ORDERS_PATH, params={"cursor": -1}).status_code == 422


def test_long_poll_returns_when_an_order_is_created(hub: RunningHub) -> None:
    token = hub.device_token("dongge")
    start = make_order(hub.ctx).change_seq
    with ThreadPoolExecutor(max_workers=2) as pool:
        poll = pool.submit(feed, hub, token, cursor=start, wait=20)
        wait_until(lambda: parked_long_polls(hub) >= 1, "the long-poll is parked")
        assert not poll.done()
        # Another campus's change wakes the notifier but must not answer this poll.
        make_order(hub.ctx, campus="xianhu")
        created = pool.submit(make_order, hub.ctx).result()
        got = poll.result(timeout=30)
    assert [o.accession for o in got.orders] == [created.accession]
    assert got.cursor == created.change_seq


def test_held_long_polls_do_not_stall_other_requests(hub: RunningHub) -> None:
    token = hub.device_token("dongge")
    admin = hub.token(Role.IT_ADMIN)
    start = make_order(hub.ctx).change_seq
    with ThreadPoolExecutor(max_workers=10) as pool:
        polls: list[Future[OrderFeed]] = [
            pool.submit(feed, hub, token, cursor=start, wait=20) for _ in range(10)
        ]
        wait_until(lambda: parked_long_polls(hub) >= 10, "10 long-polls are parked")
        with hub.client(admin) as c:
            edges = c.get("/api/v1/sync/edges")
            health = c.get("/api/v1/health")
        assert edges.status_code == 200 and health.status_code == 200
        assert edges.json()["data"][0]["feed_cursor"] == start
        assert not any(p.done() for p in polls), "the polls answered before the change"
        created = make_order(hub.ctx)
        results = [p.result(timeout=30) for p in polls]
    assert all([o.accession for o in r.orders] == [created.accession] for r in results)


def test_an_edge_ahead_of_a_restored_hub_reads_every_order_again(hub: RunningHub) -> None:
    """The hub's database is restored from a backup taken after the edge had read the first
    order; registrars then change orders before the edge asks again, so the restored hub's
    change numbers pass the edge's cursor. The edge must still get the orders whose
    numbers it has already passed (it reads the whole feed again)."""
    token = hub.device_token("dongge")
    first = make_order(hub.ctx)
    at_backup = feed(hub, token, cursor=0)
    assert at_backup.cursor == first.change_seq
    backup = _edge_sync_row(hub)  # what the backup holds of this edge
    lost = [make_order(hub.ctx) for _ in range(2)]
    ahead = feed(hub, token, cursor=at_backup.cursor)
    assert ahead.cursor == lost[-1].change_seq  # the edge has read them

    _restore(hub, first.change_seq, backup)
    again = [make_order(hub.ctx) for _ in range(3)]  # numbers the lost orders had, and one more
    assert again[-1].change_seq > ahead.cursor
    answer = feed(hub, token, cursor=ahead.cursor)
    assert [o.accession for o in answer.orders] == [first.accession] + [a.accession for a in again]
    assert answer.cursor == again[-1].change_seq and answer.restarted
    # from there on the edge follows as usual
    after = feed(hub, token, cursor=answer.cursor)
    assert after.orders == [] and not after.restarted


def _edge_sync_row(hub: RunningHub) -> dict[str, object]:
    with Session(hub.ctx.engine) as session:
        row = session.exec(select(EdgeSyncState)).one()
        return row.model_dump()


def _restore(hub: RunningHub, seq: int, edge_row: dict[str, object]) -> None:
    """What restoring the backup taken just after order change ``seq`` does: the later
    orders are gone, the change counter and the edge's sync row are as they were then."""
    with session_scope(hub.ctx.engine) as session:
        forget_orders_after(session, seq)
        session.exec(update(EdgeSyncState).values(**edge_row))  # type: ignore[call-overload]
