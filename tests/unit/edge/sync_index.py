"""A real edge index with archived CT instances, for the sync unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from sqlalchemy import Engine, text

from edge_gateway.dicom.metadata import read_instance_meta
from edge_gateway.store.archive import Archive
from edge_gateway.store.database import open_index
from edge_gateway.store.ingest import InstanceIndex
from edge_gateway.sync.state import ensure_schema
from tests.support.dicom_files import make_series


@dataclass
class EdgeIndex:
    engine: Engine
    archive: Archive
    index: InstanceIndex
    scratch: Path

    def ingest_series(self, count: int, **kw: object) -> list[Dataset]:
        """Archive ``count`` new CT instances of one new study (as C-STORE does)."""
        folder = self.scratch / f"s{len(list(self.scratch.iterdir()))}"
        datasets = make_series(folder, count, **kw)
        for path in sorted(folder.iterdir()):
            self.index.ingest(path, read_instance_meta(path), source_ae="MODALITY")
        return datasets

    def outbox(self) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM outbox ORDER BY id")).mappings().all()
        return [dict(r) for r in rows]

    def close(self) -> None:
        self.index.close()
        self.archive.close()
        self.engine.dispose()


def edge_index(data_dir: Path) -> EdgeIndex:
    engine = open_index(data_dir / "edge.sqlite")
    ensure_schema(engine)
    archive = Archive(data_dir)
    scratch = data_dir / "incoming"
    scratch.mkdir()
    return EdgeIndex(engine, archive, InstanceIndex(engine, archive), scratch)
