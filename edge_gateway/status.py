"""``pacs-edge status``: what an operator checks first — archive size and the outbox
backlog (events not yet confirmed by the hub)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func, select

from edge_gateway.config import EdgeSettings
from edge_gateway.store.database import open_index
from edge_gateway.store.models import Instance, Patient, ScheduledStep, Study
from edge_gateway.store.outbox import backlog


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
    finally:
        engine.dispose()
    print(f"数据目录 data dir:              {settings.data_dir}")
    print(f"患者/检查 patients/studies:     {patients} / {studies}")
    print(f"图像 instances:                 {instances} ({size / 1e6:.1f} MB)")
    print(f"未上传中心 not yet at the hub:  {unconfirmed}")
    print(f"工作列表 worklist steps:        {steps}")
    print("待发事件 outbox backlog:        " + ", ".join(f"{k}={v}" for k, v in outbox.items()))
    return 0
