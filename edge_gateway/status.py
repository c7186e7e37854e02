"""``pacs-edge status``: what an operator checks first — archive size and the outbox
backlog (events not yet confirmed by the hub); ``pacs-edge sync status``: the sync
backlog in detail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select

from edge_gateway.config import EdgeSettings
from edge_gateway.store.database import open_index
from edge_gateway.store.models import Instance, Patient, ScheduledStep, Study
from edge_gateway.store.outbox import backlog
from edge_gateway.sync.metrics import read_backlog, troubled_events
from edge_gateway.sync.state import HUB_URL, ensure_schema, last_contact, read_state


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _count(conn: Connection, model: Any, *where: Any) -> int:
    return int(conn.scalar(select(func.count()).select_from(_table(model)).where(*where)) or 0)


def print_status(settings: EdgeSettings) -> int:
    """Print counts; return 0."""
    instance = _table(Instance)
    engine = open_index(settings.index_path)
    try:
        with engine.connect() as conn:
            patients = _count(conn, Patient)
            studies = _count(conn, Study)
            instances = _count(conn, Instance)
            size = int(conn.scalar(select(func.coalesce(func.sum(instance.c.size_bytes), 0))) or 0)
            unconfirmed = _count(conn, Instance, instance.c.hub_confirmed_at.is_(None))
            steps = _count(conn, ScheduledStep)
            outbox = backlog(conn)
            contact = last_contact(conn)
    finally:
        engine.dispose()
    print(f"数据目录 data dir:              {settings.data_dir}")
    print(f"患者/检查 patients/studies:     {patients} / {studies}")
    print(f"图像 instances:                 {instances} ({size / 1e6:.1f} MB)")
    print(f"未上传中心 not yet at the hub:  {unconfirmed}")
    print(f"工作列表 worklist steps:        {steps}")
    print("待发事件 outbox backlog:        " + ", ".join(f"{k}={v}" for k, v in outbox.items()))
    print(f"中心联系 last hub contact:      {_ago(contact)}")
    return 0


def print_sync_status(settings: EdgeSettings) -> int:
    """Print the sync backlog: events by status, the oldest waiting event's age,
    instances the hub has not confirmed, the last hub contact, the order cursor, and
    the events that failed; return 0."""
    now = datetime.now(UTC)
    engine = open_index(settings.index_path)
    try:
        ensure_schema(engine)
        with engine.connect() as conn:
            b = read_backlog(conn)
            troubled = troubled_events(conn)
            hub_url = read_state(conn, HUB_URL)
    finally:
        engine.dispose()
    ev = b.events
    print(f"中心 hub:                         {hub_url or settings.hub_url or '(never synced)'}")
    print(
        f"待发 waiting (READY):             {ev.get('READY', 0)}"
        f"   发送中 LOCKED: {ev.get('LOCKED', 0)}   失败 FAILED: {ev.get('FAILED', 0)}"
        f"   已送达 DONE: {ev.get('DONE', 0)}"
    )
    oldest = f"{b.oldest_ready_seconds(now):.0f} s" if b.oldest_ready_at else "-"
    print(f"最早待发 oldest waiting event:    {oldest}")
    print(f"未确认图像 instances not at hub:  {b.unconfirmed_instances}")
    print(f"中心联系 last hub contact:        {_ago(b.last_contact, now)}")
    print(f"工作列表游标 order cursor:        {b.cursor}")
    if troubled:
        print("需要注意 events to look at (FAILED, or retried):")
    for e in troubled:
        print(
            f"  #{e.id} {e.kind} {e.status} attempts={e.attempts} "
            f"{e.created_at:%Y-%m-%d %H:%M:%S}Z: {e.last_error}"
        )
    return 0


def _ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S} ({seconds:.0f} s ago)"
