"""Fixtures of the edge unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from edge_gateway.store.database import open_index
from edge_gateway.sync.state import ensure_schema


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A new edge index (SQLite) with the sync agent's tables."""
    engine = open_index(tmp_path / "edge.sqlite")
    ensure_schema(engine)
    yield engine
    engine.dispose()
