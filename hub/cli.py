"""``pacs-hub``: run the central hub and manage its database, people and devices.

pacs-hub db upgrade [--database-url URL] [--data-dir DIR]
pacs-hub user add --username U --password-file F --role registrar --campus dongge
pacs-hub device add --kind edge --campus dongge          (prints the device's token)
pacs-hub catalogue import [FILE]                         (default: the shipped catalogue)
pacs-hub room add --campus dongge --code CT1 --name CT1室 --modality CT --station-ae CT1
pacs-hub serve [--database-url URL] [--data-dir DIR] [--port 8000] [--bind 127.0.0.1]
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from hub.config import HubSettings
from hub.db import make_engine, session_scope
from hub.migrate import current_revision, head_revision, upgrade
from hub.security.passwords import Passwords, WeakPassword
from hub.security.roles import Role
from hub.services import audit
from hub.services.audit import Actor
from hub.services.catalogue import default_catalogue, import_catalogue, read_catalogue
from hub.services.devices import DeviceError, add_device
from hub.services.errors import ServiceError
from hub.services.scheduling import RoomCreate, create_room
from hub.services.users import UserError, create_user, reset_password

log = logging.getLogger("hub")


def _settings(args: argparse.Namespace) -> HubSettings:
    overrides: dict[str, Any] = {}
    for flag in ("database_url", "data_dir", "port", "bind"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[flag] = value
    return HubSettings(**overrides)


def _require_schema(settings: HubSettings) -> None:
    engine = make_engine(settings.effective_database_url)
    try:
        if current_revision(engine) != head_revision():
            raise SystemExit(
                "pacs-hub: 数据库结构不是最新，请先运行 `pacs-hub db upgrade` / "
                "the database schema is not current: run `pacs-hub db upgrade` first"
            )
    finally:
        engine.dispose()


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app

    settings = _settings(args)
    _require_schema(settings)
    app = create_app(settings)
    log.info("hub listening on http://%s:%d (API docs at /docs)", settings.bind, settings.port)
    uvicorn.run(
        app,
        host=settings.bind,
        port=settings.port,
        log_level=args.log_level.lower(),
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
        proxy_headers=True,
    )
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


OperatorError = (UserError, WeakPassword, DeviceError, ServiceError, ValidationError)
"""Errors of an operator command that are the operator's to fix: one sentence, exit 2."""


def _in_session(args: argparse.Namespace, work: Callable[[Session], None]) -> int:
    """Run ``work`` in one committed session of the hub's database; 0, or 2 with the
    sentence of an ``OperatorError`` on stderr (nothing is committed then)."""
    engine = make_engine(_settings(args).effective_database_url)
    try:
        with session_scope(engine) as session:
            work(session)
    except OperatorError as exc:
        print(f"pacs-hub: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _password(args: argparse.Namespace) -> str:
    return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")


def _cli_actor() -> Actor:
    """Who acts from the command line: the operating-system account, for the audit trail."""
    return Actor(name=f"cli:{getpass.getuser()}"[:64], role="cli", client="localhost")


def _cmd_user_add(args: argparse.Namespace) -> int:
    password = _password(args)

    def work(session: Session) -> None:
        user = create_user(
            session=session,
            passwords=Passwords(),
            username=args.username,
            password=password,
            role=args.role,
            campuses=args.campus,
            display_name=args.display_name or "",
        )
        audit.record(
            session,
            _cli_actor(),
            action="create",
            resource="user",
            resource_id=user.username,
            detail={"role": user.role, "campuses": user.campuses},
        )
        print(f"user {user.username} ({user.role}, {user.campuses}) added")

    return _in_session(args, work)


def _cmd_user_password(args: argparse.Namespace) -> int:
    password = _password(args)

    def work(session: Session) -> None:
        user = reset_password(
            session=session, passwords=Passwords(), username=args.username, new=password
        )
        audit.record(
            session,
            _cli_actor(),
            action="update",
            resource="password",
            resource_id=user.username,
            detail="reset by an administrator",
        )
        print(f"password of {user.username} reset; the account is unlocked")

    return _in_session(args, work)


def _cmd_device_add(args: argparse.Namespace) -> int:
    def work(session: Session) -> None:
        device, token = add_device(
            session=session, kind=args.kind, campus=args.campus, device_id=args.device_id
        )
        audit.record(
            session, _cli_actor(), action="create", resource="device", resource_id=device.device_id
        )
        print(token)
        print(
            f"device {device.device_id} ({device.kind}, {device.campus}) added; "
            "the token above is shown only once",
            file=sys.stderr,
        )

    return _in_session(args, work)


def _cmd_catalogue_import(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else default_catalogue()

    def work(session: Session) -> None:
        result = import_catalogue(session=session, entries=read_catalogue(path), actor=_cli_actor())
        print(
            f"catalogue {path}: {result.created} added, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )

    return _in_session(args, work)


def _cmd_room_add(args: argparse.Namespace) -> int:
    def work(session: Session) -> None:
        data = RoomCreate(
            campus=args.campus,
            code=args.code,
            name=args.name or f"{args.code}室",
            modality=args.modality,
            station_ae=args.station_ae or "",
        )
        room = create_room(session=session, actor=_cli_actor(), data=data)
        print(f"room {room.campus}/{room.code} ({room.name}, {room.modality}) added")

    return _in_session(args, work)


def _cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo.run import run_hub_demo

    return run_hub_demo(
        data_dir=args.data_dir, port=args.port, token_dir=args.token_dir, timeout=args.timeout
    )


def _db_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in --data-dir)")
    parser.add_argument("--data-dir", type=Path, help="folder for the archive, SQLite, secret")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacs-hub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the hub (HTTP API and web UI)")
    _db_flags(serve)
    serve.add_argument("--port", type=int)
    serve.add_argument("--bind")
    serve.set_defaults(func=_cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    up = db.add_parser("upgrade", help="create or migrate the schema to the newest revision")
    _db_flags(up)
    up.set_defaults(func=_cmd_db_upgrade)

    user = sub.add_parser("user", help="people").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="add a person")
    _db_flags(add)
    add.add_argument("--username", required=True)
    add.add_argument("--password-file", required=True, help="file holding the password")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--campus", required=True, help="dongge, xianhu, 'dongge,xianhu' or both")
    add.add_argument("--display-name")
    add.set_defaults(func=_cmd_user_add)
    reset = user.add_parser("password", help="reset a person's password (also unlocks the account)")
    _db_flags(reset)
    reset.add_argument("--username", required=True)
    reset.add_argument("--password-file", required=True, help="file holding the new password")
    reset.set_defaults(func=_cmd_user_password)

    device = sub.add_parser("device", help="devices").add_subparsers(
        dest="device_command", required=True
    )
    dadd = device.add_parser("add", help="register a device and print its token")
    _db_flags(dadd)
    dadd.add_argument("--kind", required=True, choices=["edge"])
    dadd.add_argument("--campus", required=True)
    dadd.add_argument("--device-id")
    dadd.set_defaults(func=_cmd_device_add)

    cat = sub.add_parser("catalogue", help="procedure catalogue").add_subparsers(
        dest="catalogue_command", required=True
    )
    cimp = cat.add_parser("import", help="add or update procedures from a TOML file")
    _db_flags(cimp)
    cimp.add_argument("file", nargs="?", help="TOML file (default: the shipped catalogue)")
    cimp.set_defaults(func=_cmd_catalogue_import)

    room = sub.add_parser("room", help="exam rooms").add_subparsers(
        dest="room_command", required=True
    )
    radd = room.add_parser("add", help="add an exam room")
    _db_flags(radd)
    radd.add_argument("--campus", required=True)
    radd.add_argument("--code", required=True, help="e.g. CT1")
    radd.add_argument("--name", help="e.g. CT1室 (default: CODE室)")
    radd.add_argument("--modality", required=True, help="CT, MR, DX, US, MG …")
    radd.add_argument("--station-ae", help="AE title of the modality in the room")
    radd.set_defaults(func=_cmd_room_add)
    demo = sub.add_parser("demo", help="a seeded demo hub registering demo patients")
    demo.add_argument("--data-dir", type=Path, help="keep the demo data here (default: temporary)")
    demo.add_argument("--port", type=int, default=0, help="HTTP port (default: any free port)")
    demo.add_argument("--token-dir", type=Path, help="where the edges' token files go")
    demo.add_argument("--timeout", type=float, default=180.0, help="seconds for the whole story")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.func(args)
    except ValidationError as exc:
        print(f"pacs-hub: invalid setting: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
