"""``pacs-edge demo --hub-url URL --hub-token-file F``: one campus's gateway joined to the
hub. The worklist is fed by the hub's orders (nothing is added locally); the simulated CT
waits for them; each patient checks in to the campus queue and is called (on the queue
broker, which boards listen to), then the CT does the exam (worklist, MPPS, images) and its
MPPS completes the ticket; the demo narrates the images going up until the hub has
confirmed every one.

Names are printed masked only. ``PACS_DEMO_EXIT_AFTER_RUN=1`` stops it when the story is
told; otherwise it serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import col

from edge_gateway.config import EdgeSettings
from edge_gateway.demo.modality import ModalityError, SimulatedModality, WorklistItem
from edge_gateway.demo.queue_story import await_board, await_done, check_in_and_call
from edge_gateway.demo.run import (
    BIND,
    EXIT_AFTER_RUN_ENV,
    MODALITY,
    MODALITY_AE,
    _data_dir,
    _error,
    _perform,
    _prepare_stdout,
    _stop_on_signals,
    demo_peers,
    say,
)
from edge_gateway.gateway import build_gateway
from edge_gateway.queue_runtime import build_queue_runtime
from edge_gateway.store.models import Instance, OutboxEvent, OutboxStatus
from edge_gateway.sync.agent import build_agent
from shared.masking import mask_name
from shared.settings import CAMPUSES

POLL_S = 0.5


def run_synced_demo(
    *,
    campus: str,
    data_dir: Path | None,
    port: int,
    images: int,
    hub_url: str,
    hub_token_file: Path,
    expect: int,
    timeout: float,
    mqtt_port: int | None = None,
    console_port: int = 0,
) -> int:
    """Run one campus of the joined demo; 0 when every step succeeded, 1 otherwise."""
    _prepare_stdout()
    stop = threading.Event()
    tag = f"[{CAMPUSES[campus]} {campus}]"
    with _stop_on_signals(stop), _data_dir(data_dir) as root:
        settings = EdgeSettings(
            campus=campus,
            data_dir=root,
            dicom_port=port,
            bind=BIND,
            hub_url=hub_url,
            hub_token_file=hub_token_file,
            workers=1,
            mqtt_embedded_port=mqtt_port,
            console_port=console_port,
        )
        gateway = build_gateway(settings, demo_peers())
        agent = build_agent(settings)
        assert agent is not None  # hub_url is set
        queue = build_queue_runtime(settings)
        try:
            try:
                gateway.start()
            except OSError as exc:
                _error(f"无法在 {BIND}:{port} 监听 / cannot listen on {BIND}:{port} ({exc})")
                return 1
            agent.start()
            queue.start()
            say(
                f"{tag} 边缘网关 / edge gateway AE {settings.ae_title} @ {BIND}:{gateway.port}, "
                f"中心 / hub {hub_url}"
            )
            if queue.console is not None:
                say(
                    f"{tag} 技师叫号控制台 / technician console: "
                    f"http://{BIND}:{queue.console.port}/console"
                )
            if queue.embedded is not None:
                say(f"{tag} 叫号消息服务器 / queue broker: {queue.embedded.url}")
                await_board(queue.embedded.url, campus, tag)
            modality = SimulatedModality(
                ae_title=MODALITY_AE,
                host=BIND,
                port=gateway.port,
                gateway_ae=settings.ae_title,
                uids=gateway.uids,
                station_name="CT1",
                institution=f"{CAMPUSES[campus]}院区",
            )
            deadline = time.monotonic() + timeout
            items = _await_orders(modality, tag, expect, deadline, stop)
            ok = len(items) >= expect
            for item in items:
                if stop.is_set():
                    break
                number = check_in_and_call(queue, item, tag)
                ok = _perform(modality, item, images) and ok
                if number is not None:
                    await_done(queue, number, tag)
            ok = _await_upload(gateway.engine, tag, deadline, stop) and ok
            if os.environ.get(EXIT_AFTER_RUN_ENV, "") != "1" and not stop.is_set():
                say(f"{tag} 网关继续运行，按 Ctrl-C 停止 / the gateway keeps running; Ctrl-C stops")
                stop.wait()
        finally:
            queue.stop()
            agent.stop()
            gateway.stop()
        say(f"{tag} 网关已停止 / gateway stopped")
    return 0 if ok else 1


def _await_orders(
    modality: SimulatedModality, tag: str, expect: int, deadline: float, stop: threading.Event
) -> list[WorklistItem]:
    """Query the CT worklist (today and tomorrow, every station) until ``expect`` items
    have arrived from the hub, printing each as it appears."""
    seen: dict[str, WorklistItem] = {}
    say(f"{tag} 模拟CT等待中心下发的检查 / the simulated CT waits for orders from the hub")
    started = time.monotonic()
    while len(seen) < expect and time.monotonic() < deadline and not stop.is_set():
        today = date.today()
        span = f"{today:%Y%m%d}-{today + timedelta(days=1):%Y%m%d}"
        try:
            items = modality.query_worklist(modality=MODALITY, date=span, any_station=True)
        except ModalityError as exc:
            say(f"{tag} 查询工作列表失败 / worklist query failed: {exc}")
            items = []
        for item in items:
            if item.accession not in seen:
                seen[item.accession] = item
                say(
                    f"{tag} [工作列表 worklist] {item.accession} {mask_name(item.patient_name)} "
                    f"{item.procedure} 已到达 / arrived "
                    f"({time.monotonic() - started:.1f} s, {datetime.now():%H:%M:%S})"
                )
        time.sleep(POLL_S)
    if len(seen) < expect:
        say(f"{tag} 只收到 {len(seen)}/{expect} 个检查 / only {len(seen)} of {expect} orders came")
    return list(seen.values())


def _await_upload(engine: Engine, tag: str, deadline: float, stop: threading.Event) -> bool:
    """Wait until the hub has confirmed every instance and the outbox is drained."""
    last = (-1, -1)
    while not stop.is_set():
        with engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(Instance)) or 0
            confirmed = (
                conn.scalar(select(func.count()).where(col(Instance.hub_confirmed_at).is_not(None)))
                or 0
            )
            waiting = (  # the queue's statistics events may follow later
                conn.scalar(
                    select(func.count()).where(
                        col(OutboxEvent.status).in_([OutboxStatus.READY, OutboxStatus.LOCKED]),
                        col(OutboxEvent.kind).not_like("queue.%"),
                    )
                )
                or 0
            )
        if (confirmed, waiting) != last:
            say(
                f"{tag} [上传 upload] 中心已确认 {confirmed}/{total} 幅图像，"
                f"待发送事件 {waiting} / "
                f"hub confirmed {confirmed} of {total} images, {waiting} events waiting"
            )
            last = (confirmed, waiting)
        if total and confirmed == total and waiting == 0:
            return True
        if time.monotonic() > deadline:
            say(f"{tag} 上传未在时限内完成 / the upload did not finish in time")
            return False
        time.sleep(POLL_S)
    return True
