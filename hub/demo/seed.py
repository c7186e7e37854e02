"""Seeding a demo hub: catalogue, rooms and today's slots at both campuses, a registrar,
and one device token per campus edge (written to files the edges read)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlmodel import Session, select

from hub.context import HubContext
from hub.db import session_scope
from hub.models.people import Device, User
from hub.models.scheduling import Room
from hub.security.roles import Role
from hub.services import audit
from hub.services.catalogue import default_catalogue, import_catalogue, read_catalogue
from hub.services.devices import add_device
from hub.services.scheduling import RoomCreate, SlotTemplate, create_room, generate_slots
from hub.services.users import create_user
from shared.settings import CAMPUSES

DEMO_MODALITY_AE = "DEMO_CT1"
"""The simulated CT of each campus's edge demo; the CT1 rooms name it as their station."""

DEMO_ROOMS: tuple[tuple[str, str, str, str], ...] = (
    ("CT1", "CT1室", "CT", DEMO_MODALITY_AE),
    ("MR1", "MR1室", "MR", "DEMO_MR1"),
    ("DR1", "DR1室", "DX", "DEMO_DR1"),
)
REGISTRAR = "demo_dengji"
SEEDER = audit.Actor(name="pacs-hub demo", role="system")


@dataclass(frozen=True)
class DemoAccess:
    registrar: str
    password: str
    token_files: dict[str, Path]


def seed(ctx: HubContext, token_dir: Path, today: date) -> DemoAccess:
    """Seed the demo hub (idempotent: a second run reuses what is there); return the
    registrar's credentials and each campus's edge token file."""
    with session_scope(ctx.engine) as session:
        import_catalogue(session=session, entries=read_catalogue(default_catalogue()), actor=SEEDER)
    with session_scope(ctx.engine) as session:
        for campus in CAMPUSES:
            _rooms_and_slots(session, ctx, campus, today)
    password = _registrar(ctx)
    token_dir.mkdir(parents=True, exist_ok=True)
    files = {campus: _edge_token(ctx, campus, token_dir) for campus in CAMPUSES}
    return DemoAccess(registrar=REGISTRAR, password=password, token_files=files)


def _rooms_and_slots(session: Session, ctx: HubContext, campus: str, today: date) -> None:
    for code, name, modality, station in DEMO_ROOMS:
        exists = session.exec(select(Room).where(Room.campus == campus, Room.code == code)).first()
        if exists is None:
            create_room(
                session=session,
                actor=SEEDER,
                data=RoomCreate(
                    campus=campus, code=code, name=name, modality=modality, station_ae=station
                ),
            )
            session.flush()
        generate_slots(
            session=session,
            actor=SEEDER,
            zone=ctx.settings.zone,
            data=SlotTemplate(
                campus=campus,
                room=code,
                from_date=today,
                to_date=today + timedelta(days=1),
                start=time(0, 0),
                end=time(23, 59),
                interval_minutes=30,
                capacity=4,
            ),
        )


def _registrar(ctx: HubContext) -> str:
    """The demo registrar's password: a fresh one each run (printed for the web UI)."""
    password = "Demo-" + secrets.token_hex(4) + "9"
    with session_scope(ctx.engine) as session:
        user = session.exec(select(User).where(User.username == REGISTRAR)).first()
        if user is None:
            create_user(
                session=session,
                passwords=ctx.passwords,
                username=REGISTRAR,
                password=password,
                role=Role.REGISTRAR.value,
                campuses="both",
                display_name="演示登记员",
            )
        else:
            user.password_hash = ctx.passwords.hash(password)
            user.locked_until = None
            user.failed_logins = 0
            session.add(user)
    return password


def _edge_token(ctx: HubContext, campus: str, token_dir: Path) -> Path:
    """Enrol (again) the demo edge of ``campus``; its token goes to a 0600 file."""
    device_id = f"edge-{campus}-demo"
    with session_scope(ctx.engine) as session:
        old = session.exec(select(Device).where(Device.device_id == device_id)).first()
        if old is not None:
            session.delete(old)
            session.flush()
        _device, token = add_device(
            session=session, kind="edge", campus=campus, device_id=device_id
        )
    path = token_dir / f"edge-{campus}.token"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    tmp.replace(path)
    return path


def local_now(ctx: HubContext) -> datetime:
    return datetime.now(ctx.settings.zone)
