"""The Alembic migrations build exactly the schema the models describe, on SQLite and
PostgreSQL, and ``pacs-hub db upgrade`` is safe to run again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import hub.models.all  # noqa: F401
from hub.db import make_engine
from hub.migrate import current_revision, head_revision, upgrade
from hub.models.base import HubModel
from tests.support.hub import postgres_database


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second run changes nothing
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), HubModel.metadata))
    finally:
        engine.dispose()


def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    assert _diff(f"sqlite:///{tmp_path / 'hub.sqlite'}") == []


def test_postgresql_schema_matches_models() -> None:
    with postgres_database() as url:
        assert _diff(url) == []


def test_cli_db_upgrade_and_serve_refuses_old_schema(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("pacs-hub")
    done = subprocess.run(
        [str(exe), "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"revision {head_revision()}" in done.stdout
    fresh = tmp_path / "other"
    refused = subprocess.run(
        [str(exe), "serve", "--data-dir", str(fresh), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0
    assert "pacs-hub db upgrade" in refused.stderr
