"""``pacs-edge sync resend`` after the hub was restored from a backup (docs/backup.md §6.1):
the images the hub confirmed after the backup reach it again, and nothing is lost."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.edge.conftest import PACS_EDGE
from tests.integration.sync.conftest import Hub, SyncedEdge, running_hub, wait_until
from tests.integration.sync.test_sync_with_hub import (
    assert_hub_holds_edge_files,
    backlog_drained,
    edge_instances,
    hub_archive,
    store,
)
from tests.support.dicom_files import make_series
from tests.support.hub_orders import make_order


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """A hub on SQLite, whose database file the test backs up and restores."""
    with running_hub(tmp_path / "hub") as handle:
        yield handle


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (as a backup tool makes one)."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _resend(edge: SyncedEdge, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PACS_EDGE, "sync", "resend", "--data-dir", str(edge.settings.data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_restored_hub_gets_back_what_it_lost(hub: Hub, edge: SyncedEdge, tmp_path: Path) -> None:
    ref = make_order(hub.live.ctx, name="王五")
    make_series(tmp_path / "before", 3, patient_id=ref.patient_id, accession=ref.accession)
    store(edge, tmp_path / "before")
    wait_until(lambda: backlog_drained(edge), "the first images reaching the hub")

    # the nightly backup: the database, and the archive files it lists
    database = hub.data_dir / "hub.sqlite"
    hub.stop()
    backup_at = datetime.now(UTC)
    _copy_database(database, tmp_path / "backup.sqlite")
    hub.start()

    after = make_series(tmp_path / "after", 4, patient_id=ref.patient_id, accession=ref.accession)
    store(edge, tmp_path / "after")
    wait_until(lambda: backlog_drained(edge), "the later images reaching the hub")
    held = hub_archive(hub)
    assert set(edge_instances(edge)) == set(held)  # the hub holds all 7

    # the hub's disk fails; IT restores last night's backup: the database, and the archive
    # files it lists (the later ones are gone)
    archive = hub.live.ctx.settings.archive_dir
    hub.stop()
    for ds in after:
        (archive / held[str(ds.SOPInstanceUID)].rel_path).unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(tmp_path / "backup.sqlite", database)
    hub.start()
    assert len(hub_archive(hub)) == 3

    bad = _resend(edge, "--since", "last night")
    assert bad.returncode == 2 and "--since" in bad.stderr

    done = _resend(edge, "--since", backup_at.isoformat())
    assert done.returncode == 0, done.stderr
    assert "4 image(s) the hub confirmed since" in done.stdout
    wait_until(lambda: backlog_drained(edge), "the lost images reaching the hub again")
    assert len(hub_archive(hub)) == 7
    assert_hub_holds_edge_files(hub, edge)
