"""Filling a hub database fast for the search benchmark.

``fill`` migrates with ``hub.migrate.upgrade``, imports the shipped catalogue through the
hub's service, then writes patients and orders directly: ``COPY`` on PostgreSQL,
multi-row INSERTs (executemany) on SQLite, and runs ``ANALYZE``.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, Engine, text

import hub.models.all  # noqa: F401  (every table in the metadata)
from bench.names import GeneratedOrder, GeneratedPatient, Procedure, make_name, make_orders
from hub.db import make_engine, session_scope
from hub.migrate import upgrade
from hub.models.base import HubModel
from hub.services.audit import Actor
from hub.services.catalogue import default_catalogue, import_catalogue, read_catalogue
from shared.dicom.uid import UidFactory

DEPARTMENTS = (
    "呼吸内科", "心血管内科", "神经内科", "消化内科", "肾内科", "内分泌科", "肿瘤科", "骨科",
    "普外科", "神经外科", "泌尿外科", "妇科", "儿科", "急诊科", "体检中心", "康复科", "针灸科",
)  # fmt: skip
CHUNK = 10_000


def _columns(table: str) -> list[str]:
    return [c.name for c in HubModel.metadata.tables[table].columns]


def patient_rows(patients: list[GeneratedPatient], seed: int = 1) -> Iterator[dict[str, Any]]:
    """Rows of ``patient`` with ids 1..N in list order."""
    rng = random.Random(seed)
    start = dt.datetime(2023, 11, 25, tzinfo=dt.UTC)
    for i, p in enumerate(patients, 1):
        created = start + dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        yield {
            "id": i,
            "patient_id": p.patient_id,
            "name": p.name,
            "pinyin": p.pinyin,
            "pinyin_initials": p.initials,
            "sex": p.sex,
            "birth_date": p.birth_date,
            "phone": p.phone,
            # an identity card is kept as a keyed hash: any 64 hex digits look the same
            "id_card_hash": f"{rng.getrandbits(256):064x}" if p.has_id_card else None,
            "id_card_last4": p.id_card_last4,
            "created_at": created,
            "updated_at": created,
        }


def order_rows(orders: Iterable[GeneratedOrder], seed: int = 2) -> Iterator[dict[str, Any]]:
    """Rows of ``exam_order`` with ids and change_seq 1..M in creation order."""
    rng = random.Random(seed)
    uids = UidFactory()
    doctors = [make_name(rng, rng.choice("MF")) for _ in range(200)]
    for i, o in enumerate(orders, 1):
        created = o.created_at.astimezone(dt.UTC)
        scheduled = o.scheduled_at.astimezone(dt.UTC) if o.scheduled_at else None
        yield {
            "id": i,
            "accession": o.accession,
            "campus": o.campus,
            "patient_pk": o.patient_index + 1,
            "procedure_code": o.procedure.code,
            "procedure_name": o.procedure.name,
            "modality": o.procedure.modality,
            "body_part": o.procedure.body_part,
            "category": o.category,
            "requesting_department": rng.choice(DEPARTMENTS),
            "requesting_doctor": rng.choice(doctors),
            "clinical_info": "",
            "status": o.status,
            "study_uid": uids.new(),
            "room": "",
            "station_ae": "",
            "scheduled_at": scheduled,
            "cancel_reason": "患者取消 / cancelled by the patient"
            if o.status == "cancelled"
            else "",
            "change_seq": i,
            "created_by": "registrar1",
            "created_at": created,
            "updated_at": scheduled or created,
        }


def fill(url: str, patients: list[GeneratedPatient], orders_per_patient: int) -> dict[str, Any]:
    """Migrate the empty database at ``url`` and fill it; what was done and how long it took."""
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        upgrade(engine)
        entries = read_catalogue(default_catalogue())
        with session_scope(engine) as session:
            import_catalogue(session=session, entries=entries, actor=Actor("bench", "cli"))
        procedures = [Procedure(e.code, e.name, e.modality, e.body_part) for e in entries]
        orders = order_rows(make_orders(len(patients), orders_per_patient, procedures))
        pg = engine.dialect.name == "postgresql"
        write = _copy if pg else _insert
        n_patients = write(engine, "patient", patient_rows(patients))
        n_orders = write(engine, "exam_order", orders)
        with engine.begin() as conn:
            _set_counters(conn, n_orders)
        if pg:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        seconds = time.perf_counter() - start
        with engine.connect() as conn:
            server = _server(conn)
        return {
            "seconds": round(seconds, 2),
            "method": "COPY + VACUUM ANALYZE" if pg else "executemany INSERT + ANALYZE",
            "patients": n_patients,
            "orders": n_orders,
            "procedures": len(procedures),
            "server": server,
        }
    finally:
        engine.dispose()


def _copy(engine: Engine, table: str, rows: Iterable[dict[str, Any]]) -> int:
    columns = _columns(table)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        count = 0
        with conn.cursor() as cur:
            with cur.copy(stmt) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
                    count += 1
            seq = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {max(count, 1)})"
            cur.execute(seq)
        conn.commit()
        return count
    finally:
        raw.close()


def _insert(engine: Engine, table: str, rows: Iterable[dict[str, Any]]) -> int:
    target = HubModel.metadata.tables[table]
    count = 0
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                conn.execute(target.insert(), batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(target.insert(), batch)
            count += len(batch)
    return count


def _set_counters(conn: Connection, orders: int) -> None:
    conn.execute(
        text(
            "INSERT INTO change_counter (id, last) VALUES (1, :n) "
            "ON CONFLICT (id) DO UPDATE SET last = excluded.last"
        ),
        {"n": orders},
    )


def _server(conn: Connection) -> str:
    if conn.dialect.name == "postgresql":
        version = conn.execute(text("SHOW server_version")).scalar()
        row = conn.execute(
            text(
                "SELECT datcollate, datlocprovider, daticulocale FROM pg_database "
                "WHERE datname = current_database()"
            )
        ).one()
        collation = f"ICU {row[2]}" if row[1] == "i" else str(row[0])
        return f"PostgreSQL {version}, default collation {collation}"
    version = conn.execute(text("SELECT sqlite_version()")).scalar()
    return f"SQLite {version}"
