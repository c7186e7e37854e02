"""Fixtures: a real hub (SQLite, then PostgreSQL) that can be stopped and started again
on the same port and database, and a real edge gateway with its sync agent pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_gateway.config import EdgeSettings
from edge_gateway.gateway import Gateway, build_gateway
from edge_gateway.sync.agent import SyncAgent, build_agent
from tests.integration.edge.conftest import EDGE_AE, default_peers
from tests.support import waiting
from tests.support.hub import RunningHub, postgres_database, start_hub
from tests.support.requirements import dcmtk_program


@dataclass
class Hub:
    """A hub that keeps its data dir, database and port across ``stop``/``start``."""

    data_dir: Path
    database_url: str | None
    running: RunningHub | None = None
    port: int | None = None

    def start(self) -> RunningHub:
        self.running = start_hub(self.data_dir, self.database_url, port=self.port)
        self.port = int(self.running.base_url.rsplit(":", 1)[1])
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    @property
    def live(self) -> RunningHub:
        assert self.running is not None, "the hub is stopped"
        return self.running


@contextmanager
def running_hub(data_dir: Path, database_url: str | None = None) -> Iterator[Hub]:
    """A started :class:`Hub` (SQLite without ``database_url``), stopped on exit."""
    handle = Hub(data_dir, database_url)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """A running hub on SQLite, then the same test on PostgreSQL."""
    if request.param == "sqlite":
        with running_hub(tmp_path / "hub") as handle:
            yield handle
        return
    with postgres_database() as url, running_hub(tmp_path / "hub", url) as handle:
        yield handle


@dataclass
class SyncedEdge:
    gateway: Gateway
    agent: SyncAgent
    settings: EdgeSettings

    @property
    def port(self) -> int:
        return self.gateway.port


@pytest.fixture
def edge(hub: Hub, tmp_path: Path) -> Iterator[SyncedEdge]:
    """An edge of campus dongge enrolled at ``hub``, DICOM on a free port, agent running
    with short waits (long-poll 2 s, retries at most every 2 s)."""
    for tool in ("storescu", "findscu"):
        dcmtk_program(tool)
    token_file = tmp_path / "edge.token"
    token_file.write_text(hub.live.device_token("dongge") + "\n", encoding="utf-8")
    settings = EdgeSettings(
        campus="dongge",
        data_dir=tmp_path / "edge",
        ae_title=EDGE_AE,
        dicom_port=0,
        bind="127.0.0.1",
        hub_url=hub.live.base_url,
        hub_token_file=token_file,
        sync_wait_seconds=2,
        sync_poll_seconds=0.2,
        sync_retry_cap_seconds=2,
        sync_batch_events=50,
    )
    gateway = build_gateway(settings, default_peers())
    gateway.start()
    agent = build_agent(settings)
    assert agent is not None
    agent.start()
    synced = SyncedEdge(gateway, agent, settings)
    try:
        yield synced
    finally:
        synced.agent.stop()  # the test may have replaced it
        gateway.stop()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds saying ``what``
    did not happen."""
    waiting.wait_until(check, what, timeout, poll=0.1)
