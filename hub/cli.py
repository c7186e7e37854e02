"""``pacs-hub``: run the central hub and manage its database, people and devices.

pacs-hub db upgrade [--database-url URL] [--data-dir DIR]
pacs-hub user add --username U --password-file F --role registrar --campus dongge
pacs-hub device add --kind edge --campus dongge          (prints the device's token)
pacs-hub serve [--database-url URL] [--data-dir DIR] [--port 8000] [--bind 127.0.0.1]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.config import HubSettings
from hub.db import make_engine, session_scope
from hub.migrate import current_revision, head_revision, upgrade
from hub.security.passwords import Passwords, WeakPassword
from hub.security.roles import Role
from hub.services.devices import DeviceError, add_device
from hub.services.users import UserError, create_user

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
    uvicorn.run(app, host=settings.bind, port=settings.port, log_level=args.log_level.lower())
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


def _cmd_user_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(engine) as session:
            user = create_user(
                session=session,
                passwords=Passwords(),
                username=args.username,
                password=password,
                role=args.role,
                campuses=args.campus,
                display_name=args.display_name or "",
            )
            print(f"user {user.username} ({user.role}, {user.campuses}) added")
    except (UserError, WeakPassword) as exc:
        print(f"pacs-hub: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _cmd_device_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(engine) as session:
            device, token = add_device(
                session=session, kind=args.kind, campus=args.campus, device_id=args.device_id
            )
            print(token)
            print(
                f"device {device.device_id} ({device.kind}, {device.campus}) added; "
                "the token above is shown only once",
                file=sys.stderr,
            )
    except DeviceError as exc:
        print(f"pacs-hub: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


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

    device = sub.add_parser("device", help="devices").add_subparsers(
        dest="device_command", required=True
    )
    dadd = device.add_parser("add", help="register a device and print its token")
    _db_flags(dadd)
    dadd.add_argument("--kind", required=True, choices=["edge"])
    dadd.add_argument("--campus", required=True)
    dadd.add_argument("--device-id")
    dadd.set_defaults(func=_cmd_device_add)
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
