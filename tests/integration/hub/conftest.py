"""Fixtures: a running hub on SQLite and on PostgreSQL (each test gets a fresh database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub import RunningHub, postgres_database, start_hub


@pytest.fixture(params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningHub]:
    """A hub on SQLite, then the same test on PostgreSQL."""
    if request.param == "sqlite":
        running = start_hub(tmp_path / "hub")
        try:
            yield running
        finally:
            running.stop()
        return
    with postgres_database() as url:
        running = start_hub(tmp_path / "hub", url)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """A hub on SQLite only (for tests whose subject is not the database)."""
    running = start_hub(tmp_path / "hub")
    try:
        yield running
    finally:
        running.stop()
