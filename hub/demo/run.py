"""``pacs-hub demo``: the hub on embedded defaults (SQLite in a data dir), seeded for both
campuses, registering demo patients once the campus edges are connected, then narrating
what comes back: orders checked in and completed (MPPS) and images held in the archive.

With ``PACS_DEMO_EXIT_AFTER_RUN=1`` it stops when every CT exam it registered is complete
at the hub with its images held (or after ``--timeout`` seconds, as a failure).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType

import uvicorn
from sqlalchemy import func
from sqlmodel import Session, col, select

from hub.app import create_app
from hub.config import HubSettings
from hub.context import HubContext, build_context
from hub.demo.seed import DemoAccess, seed
from hub.demo.story import DEMO_PATIENTS, Registered, Registrar, describe
from hub.migrate import upgrade
from hub.models.archive import ArchiveInstance, ArchiveStudy, EdgeSyncState, InstanceState
from hub.models.people import Device
from hub.models.registration import ORDER_STATUS_LABELS, Order, OrderStatus
from shared.settings import CAMPUSES

EXIT_AFTER_RUN_ENV = "PACS_DEMO_EXIT_AFTER_RUN"
BIND = "127.0.0.1"
EDGE_WAIT_S = 60.0
POLL_S = 0.5


def say(text: str = "") -> None:
    print(text, flush=True)


def run_hub_demo(
    *, data_dir: Path | None, port: int, token_dir: Path | None, timeout: float
) -> int:
    """Run the demo hub; 0 when the story completed (or was stopped by a signal after the
    registrations), 1 when it failed or timed out."""
    stop = threading.Event()
    with _stop_on_signals(stop), _folder(data_dir) as root:
        settings = HubSettings(data_dir=root, port=port, bind=BIND)
        ctx = build_context(settings)
        upgrade(ctx.engine)
        today = datetime.now(settings.zone).date()
        access = seed(ctx, token_dir or root / "tokens", today)
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, ctx), host=BIND, port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, name="hub-demo", daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.05)
        if not server.started:
            say("pacs-hub demo: 无法启动服务 / the hub could not start (port in use?)")
            return 1
        bound = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://{BIND}:{bound}"
        _banner(base, access, root)
        try:
            ok = _story(ctx, base, access, stop, timeout)
            if os.environ.get(EXIT_AFTER_RUN_ENV, "") != "1" and not stop.is_set():
                say("中心服务器继续运行，按 Ctrl-C 停止 / the hub keeps running; Ctrl-C stops it")
                stop.wait()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            ctx.engine.dispose()
        say("中心服务器已停止 / hub stopped")
        return 0 if ok else 1


def _banner(base: str, access: DemoAccess, root: Path) -> None:
    say("== 中心服务器演示 / hub demo ==")
    say(f"中心服务器 / hub: {base}  (接口文档 API docs: {base}/docs)")
    say(
        f"登记员网页 / registrar web UI: {base}/  用户 user {access.registrar} "
        f"密码 password {access.password}"
    )
    say(f"数据目录 / data dir: {root}")
    for campus, path in access.token_files.items():
        say(f"{CAMPUSES[campus]} 边缘网关令牌 / edge token for {campus}: {path}")
    say(f"READY {base}")


def _story(
    ctx: HubContext, base: str, access: DemoAccess, stop: threading.Event, timeout: float
) -> bool:
    _wait_for_edges(ctx, stop)
    if stop.is_set():
        return True
    registrar = Registrar(base, access.registrar, access.password)
    registered: list[Registered] = []
    try:
        for patient in DEMO_PATIENTS:
            reg = registrar.register(patient, datetime.now(ctx.settings.zone))
            registered.append(reg)
            say(describe(reg))
    finally:
        registrar.close()
    say("等待各院区完成CT检查并上传图像 / waiting for the campuses' CT exams and their images")
    return _watch(ctx, [r for r in registered if r.modality == "CT"], stop, timeout)


def _wait_for_edges(ctx: HubContext, stop: threading.Event) -> None:
    deadline = time.monotonic() + EDGE_WAIT_S
    seen: set[str] = set()
    while time.monotonic() < deadline and not stop.is_set():
        with Session(ctx.engine) as session:
            rows = session.exec(
                select(Device.campus).where(col(Device.last_seen_at).is_not(None))
            ).all()
        for campus in set(rows) - seen:
            say(f"[同步 sync] {CAMPUSES.get(campus, campus)} 边缘网关已连接 / edge connected")
        seen |= set(rows)
        if seen >= set(CAMPUSES):
            return
        time.sleep(POLL_S)
    if not stop.is_set():
        say("[同步 sync] 仍有院区未连接，照常登记 / not every campus connected; registering anyway")


def _watch(ctx: HubContext, exams: list[Registered], stop: threading.Event, timeout: float) -> bool:
    """Narrate order status changes and images held until every exam is complete with its
    images (True), or ``timeout``/a stop (False unless stopped)."""
    last: dict[str, tuple[str, int]] = {}
    deadline = time.monotonic() + timeout
    while not stop.is_set():
        done = True
        with Session(ctx.engine) as session:
            for exam in exams:
                status, held, announced = _progress(session, exam.accession)
                if last.get(exam.accession) != (status, held):
                    label = ORDER_STATUS_LABELS.get(OrderStatus(status), status)
                    say(
                        f"[状态 status] {CAMPUSES[exam.campus]} {exam.accession} {label} "
                        f"({status}), 中心已存图像 {held} 幅 / images held at the hub: {held}"
                    )
                    last[exam.accession] = (status, held)
                if status != OrderStatus.COMPLETED.value or held == 0 or held < announced:
                    done = False
            backlog = session.exec(select(func.coalesce(func.sum(EdgeSyncState.backlog), 0))).one()
        if done and int(backlog) == 0:
            say(
                f"== 演示完成：{len(exams)} 个CT检查已在中心完成并归档 / demo done: "
                f"{len(exams)} CT exams complete at the hub with their images =="
            )
            return True
        if time.monotonic() > deadline:
            say(f"pacs-hub demo: {timeout:.0f} 秒内未完成 / not finished within {timeout:.0f} s")
            return False
        time.sleep(POLL_S)
    return True


def _progress(session: Session, accession: str) -> tuple[str, int, int]:
    """(order status, instances held, instances known) of the order's studies."""
    order = session.exec(select(Order).where(Order.accession == accession)).one()
    held = announced = 0
    studies = session.exec(select(ArchiveStudy.id).where(ArchiveStudy.order_pk == order.id)).all()
    if studies:
        rows = session.exec(
            select(ArchiveInstance.state, func.count())
            .where(col(ArchiveInstance.study_pk).in_(studies))
            .group_by(ArchiveInstance.state)
        ).all()
        for state, count in rows:
            announced += int(count)
            if state == InstanceState.HELD.value:
                held += int(count)
    return order.status, held, announced


@contextmanager
def _folder(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="pacs-hub-demo-") as tmp:
        yield Path(tmp)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_hub_demo(data_dir=None, port=0, token_dir=None, timeout=180))
