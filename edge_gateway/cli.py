"""``pacs-edge``: run the campus edge gateway and manage its worklist.

    pacs-edge serve --campus dongge --data-dir /var/lib/pacs/edge --peers peers.toml
    pacs-edge worklist add --data-dir DIR --patient-id P1 --patient-name '张^三' \\
        --modality CT --accession A1 --station-ae CT1 --scheduled 2026-11-25T09:30 \\
        --procedure '胸部CT平扫'
    pacs-edge worklist list --data-dir DIR
    pacs-edge status --data-dir DIR
    pacs-edge serve ... --hub-url https://hub.example.org --hub-token-file /etc/pacs/edge.token
    pacs-edge sync status --data-dir DIR
    pacs-edge sync retry --data-dir DIR
    pacs-edge console-user add --data-dir DIR --username li --role technician
    pacs-edge demo
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Engine

from edge_gateway.config import EdgeSettings
from edge_gateway.console.users import ConsoleUsers
from edge_gateway.gateway import ConfigurationError, build_gateway
from edge_gateway.logs import configure_logging
from edge_gateway.peers import PeersFileError, load_peers
from edge_gateway.queue.config_file import load_queue_config
from edge_gateway.status import print_status, print_sync_status
from edge_gateway.store.database import open_index
from edge_gateway.store.outbox import resend_delivered, retry_failed
from edge_gateway.store.worklist import DuplicateStep, StepIn, add_step, find_steps
from edge_gateway.sync.agent import build_agent
from edge_gateway.workers import serve_workers
from shared.dicom.uid import UidFactory
from shared.settings import CAMPUSES

log = logging.getLogger("edge_gateway")


def _settings(args: argparse.Namespace) -> EdgeSettings:
    overrides: dict[str, Any] = {}
    for flag, key in (
        ("campus", "campus"),
        ("data_dir", "data_dir"),
        ("ae_title", "ae_title"),
        ("dicom_port", "dicom_port"),
        ("bind", "bind"),
        ("peers", "peers_file"),
        ("workers", "workers"),
        ("hub_url", "hub_url"),
        ("hub_token_file", "hub_token_file"),
        ("queue_config", "queue_config"),
        ("mqtt_url", "mqtt_url"),
        ("mqtt_embedded_port", "mqtt_embedded_port"),
        ("console_port", "console_port"),
        ("console_bind", "console_bind"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    if getattr(args, "accept_any_ae", False):
        overrides["accept_any_ae"] = True
    if getattr(args, "no_queue", False):
        overrides["queue"] = False
    return EdgeSettings(**overrides)


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    agent = build_agent(settings)
    if settings.queue:  # refuse a bad queue file before anything starts
        load_queue_config(settings.queue_config, campus=settings.campus, timezone=settings.timezone)
    runtimes: list[Any] = []  # the QueueRuntime, once started

    def background() -> None:
        """Started after the DICOM workers are forked (they must not inherit its sockets
        or database connections)."""
        if agent is not None:
            agent.start()
        if settings.queue:
            # imported here: the DICOM worker processes (forked before this runs) need
            # none of the console's web stack or the broker client
            from edge_gateway.queue_runtime import build_queue_runtime

            runtime = build_queue_runtime(settings)
            runtimes.append(runtime)
            runtime.start()

    try:
        if settings.effective_workers > 1:
            peers = load_peers(settings.peers_file, accept_any=settings.accept_any_ae)
            return serve_workers(settings, peers, stop, on_started=background)
        gateway = build_gateway(settings)
        try:
            gateway.start()
            background()
            stop.wait()
        finally:
            gateway.stop()
        return 0
    finally:
        for runtime in runtimes:
            runtime.stop()
        if agent is not None:
            agent.stop()


def _cmd_worklist_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    step = StepIn(
        patient_id=args.patient_id,
        patient_name=args.patient_name,
        modality=args.modality,
        accession=args.accession,
        station_ae=args.station_ae or "",
        scheduled=args.scheduled,
        procedure=args.procedure or "",
        birth_date=args.birth_date or "",
        sex=args.sex or "",
    )
    engine = open_index(settings.index_path)
    try:
        row_id = add_step(engine, step, UidFactory(settings.uid_root))
    finally:
        engine.dispose()
    print(
        f"added: accession {step.accession}, {step.modality} at "
        f"{step.scheduled:%Y-%m-%d %H:%M} for patient {step.patient_id} (step #{row_id})"
    )
    return 0


def _existing_index(settings: EdgeSettings) -> EdgeSettings:
    if not settings.index_path.exists():
        raise ConfigurationError(
            f"no gateway index at {settings.index_path}: give --data-dir of the gateway "
            "(or set PACS_EDGE_DATA_DIR)"
        )
    return settings


def _cmd_worklist_list(args: argparse.Namespace) -> int:
    settings = _existing_index(_settings(args))
    engine = open_index(settings.index_path)
    try:
        sps = {"ScheduledProcedureStepStartDate": args.date.replace("-", "")} if args.date else {}
        if args.all:
            sps["ScheduledProcedureStepStatus"] = "*"
        rows = find_steps(engine, {}, sps, 10_000)
    finally:
        engine.dispose()
    for r in rows:
        print(
            f"{r['start_date']} {r['start_time'][:4]}  {r['modality']:<3} {r['station_ae']:<16} "
            f"{r['accession']:<16} {r['patient_id']:<12} {r['patient_name']}  "
            f"{r['sps_description']}  [{r['status']}]"
        )
    print(f"{len(rows)} step(s)")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    return print_status(_existing_index(_settings(args)))


def _cmd_sync_status(args: argparse.Namespace) -> int:
    return print_sync_status(_existing_index(_settings(args)))


def _cmd_sync_retry(args: argparse.Namespace) -> int:
    settings = _existing_index(_settings(args))
    engine = open_index(settings.index_path)
    try:
        count = retry_failed(engine)
    finally:
        engine.dispose()
    print(f"{count} failed event(s) will be sent again")
    return 0


def _cmd_sync_resend(args: argparse.Namespace) -> int:
    settings = _existing_index(_settings(args))
    since = _moment(args.since, ZoneInfo(settings.timezone))
    if args.margin_hours < 0:
        raise ValueError("--margin-hours 不能为负数 / --margin-hours must not be negative")
    engine = open_index(settings.index_path)
    try:
        resent = resend_delivered(engine, since=since, margin=timedelta(hours=args.margin_hours))
    finally:
        engine.dispose()
    print(
        f"{resent.events} delivered event(s) will be sent again; {resent.images} image(s) the "
        f"hub confirmed since {since.isoformat(timespec='minutes')} are no longer counted as "
        "confirmed"
    )
    return 0


def _moment(value: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 time; without an offset, in the campus's time zone."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"--since 应为时间，如 2026-11-26T02:30 / --since must be a time like "
            f"2026-11-26T02:30 (campus time) or 2026-11-25T18:30Z, not {value!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _console_users(args: argparse.Namespace) -> tuple[ConsoleUsers, Engine]:
    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_index(settings.index_path)
    return ConsoleUsers(engine, settings.campus, None), engine


def _cmd_console_user_add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码 / password: ")
        if getpass.getpass("再输一次 / again: ") != password:
            print("pacs-edge: 两次密码不一致 / the passwords differ", file=sys.stderr)
            return 2
    users, engine = _console_users(args)
    try:
        users.add_local(args.username, password, args.role, args.display_name or "")
    finally:
        engine.dispose()
    print(f"console user {args.username} ({args.role}) added at this gateway")
    return 0


def _cmd_console_user_list(args: argparse.Namespace) -> int:
    users, engine = _console_users(args)
    try:
        for username, display, role, local, refreshed in users.listed():
            origin = "local" if local else f"from the hub, last sign-in {refreshed:%Y-%m-%d %H:%M}"
            print(f"{username}\t{display}\t{role}\t{origin}")
    finally:
        engine.dispose()
    return 0


def _cmd_console_user_remove(args: argparse.Namespace) -> int:
    users, engine = _console_users(args)
    try:
        found = users.remove(args.username)
    finally:
        engine.dispose()
    if not found:
        print(f"pacs-edge: no console user {args.username} here", file=sys.stderr)
        return 1
    print(f"console user {args.username} removed")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.hub_url:
        from edge_gateway.demo.synced import run_synced_demo

        if args.hub_token_file is None:
            print("pacs-edge demo: --hub-url needs --hub-token-file", file=sys.stderr)
            return 2
        return run_synced_demo(
            campus=args.campus,
            data_dir=args.data_dir,
            port=args.dicom_port or 0,
            images=args.images,
            hub_url=args.hub_url,
            hub_token_file=args.hub_token_file,
            expect=args.expect,
            timeout=args.timeout,
            mqtt_port=args.mqtt_port,
            console_port=args.console_port,
        )
    from edge_gateway.demo.run import run_demo

    return run_demo(data_dir=args.data_dir, port=args.dicom_port or 0, images=args.images)


def _scheduled(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date and time like 2026-11-25T09:30"
        ) from None


def _common(p: argparse.ArgumentParser, *, data_dir_only: bool = False) -> None:
    p.add_argument(
        "--data-dir", type=Path, help="archive, index and scratch space (PACS_EDGE_DATA_DIR)"
    )
    if data_dir_only:
        return
    p.add_argument("--campus", help="dongge or xianhu (PACS_EDGE_CAMPUS)")
    p.add_argument("--ae-title", help="the gateway's AE title (PACS_EDGE_AE_TITLE)")
    p.add_argument(
        "--dicom-port", type=int, help="DICOM port, 0 for any free one (PACS_EDGE_DICOM_PORT)"
    )
    p.add_argument("--bind", help="address to listen on (PACS_EDGE_BIND)")
    p.add_argument("--peers", type=Path, help="TOML file of known AEs (PACS_EDGE_PEERS_FILE)")
    p.add_argument(
        "--accept-any-ae",
        action="store_true",
        default=None,
        help="accept unknown calling AE titles (commissioning only; off by default)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pacs-edge", description="Campus PACS edge gateway")
    parser.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING or ERROR (default INFO; demo WARNING)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the DICOM services of one campus")
    _common(serve)
    serve.add_argument("--log-level", default=argparse.SUPPRESS, help="as above")
    serve.add_argument(
        "--workers",
        type=int,
        help="processes sharing the DICOM port (PACS_EDGE_WORKERS; default one per CPU core, "
        "at most 4)",
    )
    serve.add_argument(
        "--hub-url", help="the hub to sync with, e.g. https://hub.example.org (PACS_EDGE_HUB_URL)"
    )
    serve.add_argument(
        "--hub-token-file",
        type=Path,
        help="file with this edge's device token (PACS_EDGE_HUB_TOKEN_FILE)",
    )
    serve.add_argument(
        "--queue-config",
        type=Path,
        help="TOML file of rooms and queue rules (PACS_EDGE_QUEUE_CONFIG)",
    )
    serve.add_argument(
        "--no-queue", action="store_true", help="run without the queue, console and boards"
    )
    serve.add_argument(
        "--mqtt-url", help="campus broker, e.g. mqtt://127.0.0.1:1883 (PACS_EDGE_MQTT_URL)"
    )
    serve.add_argument(
        "--mqtt-embedded-port",
        type=int,
        help="run a small built-in broker on this port instead (PACS_EDGE_MQTT_EMBEDDED_PORT)",
    )
    serve.add_argument(
        "--console-port", type=int, help="technician console HTTP port (default 8080; 0: any)"
    )
    serve.add_argument("--console-bind", help="console listen address (default: --bind)")
    serve.set_defaults(func=_cmd_serve)

    wl = sub.add_parser("worklist", help="the campus's scheduled procedure steps")
    wl_sub = wl.add_subparsers(dest="worklist_command", required=True)
    add = wl_sub.add_parser("add", help="add a scheduled procedure step")
    _common(add, data_dir_only=True)
    add.add_argument("--patient-id", required=True)
    add.add_argument(
        "--patient-name", required=True, help="DICOM form, e.g. '张^三' or 'ZHANG^SAN=张^三'"
    )
    add.add_argument("--modality", required=True, help="CT, MR, DX, US, MG, XA …")
    add.add_argument("--accession", required=True)
    add.add_argument("--station-ae", default="", help="AE title of the modality that will do it")
    add.add_argument("--scheduled", required=True, type=_scheduled, help="e.g. 2026-11-25T09:30")
    add.add_argument("--procedure", default="", help="e.g. 胸部CT平扫")
    add.add_argument("--birth-date", default="", help="YYYY-MM-DD")
    add.add_argument("--sex", default="", help="M, F or O")
    add.set_defaults(func=_cmd_worklist_add)
    ls = wl_sub.add_parser("list", help="list open scheduled steps")
    _common(ls, data_dir_only=True)
    ls.add_argument("--date", default="", help="only this day, YYYY-MM-DD")
    ls.add_argument("--all", action="store_true", help="include completed and discontinued steps")
    ls.set_defaults(func=_cmd_worklist_list)

    cu = sub.add_parser(
        "console-user", help="console users of a gateway without a hub (技师控制台账号)"
    )
    cu_sub = cu.add_subparsers(dest="console_user_command", required=True)
    cu_add = cu_sub.add_parser("add", help="add or reset a console user kept at this gateway")
    _common(cu_add, data_dir_only=True)
    cu_add.add_argument("--campus", help="dongge or xianhu (PACS_EDGE_CAMPUS)")
    cu_add.add_argument("--username", required=True)
    cu_add.add_argument("--role", default="technician", choices=["technician", "registrar"])
    cu_add.add_argument("--display-name", default="", help="e.g. 李技师")
    cu_add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    cu_add.set_defaults(func=_cmd_console_user_add)
    cu_ls = cu_sub.add_parser("list", help="console users known here")
    _common(cu_ls, data_dir_only=True)
    cu_ls.set_defaults(func=_cmd_console_user_list)
    cu_rm = cu_sub.add_parser("remove", help="forget a console user here")
    _common(cu_rm, data_dir_only=True)
    cu_rm.add_argument("--username", required=True)
    cu_rm.set_defaults(func=_cmd_console_user_remove)

    st = sub.add_parser("status", help="archive size and outbox backlog")
    _common(st, data_dir_only=True)
    st.set_defaults(func=_cmd_status)

    sync = sub.add_parser("sync", help="the exchange with the hub")
    sync_sub = sync.add_subparsers(dest="sync_command", required=True)
    sync_st = sync_sub.add_parser("status", help="what still waits to go to the hub")
    _common(sync_st, data_dir_only=True)
    sync_st.set_defaults(func=_cmd_sync_status)
    sync_retry = sync_sub.add_parser("retry", help="send the FAILED events again")
    _common(sync_retry, data_dir_only=True)
    sync_retry.set_defaults(func=_cmd_sync_retry)
    sync_resend = sync_sub.add_parser(
        "resend",
        help="after a hub restore: send again what the hub confirmed since its backup",
    )
    _common(sync_resend, data_dir_only=True)
    sync_resend.add_argument(
        "--since",
        required=True,
        help="when the restored backup was taken (ISO 8601; campus time without an offset)",
    )
    sync_resend.add_argument(
        "--margin-hours",
        type=float,
        default=24.0,
        help="also events written this long before it (default 24)",
    )
    sync_resend.set_defaults(func=_cmd_sync_resend)

    demo = sub.add_parser(
        "demo", help="run the gateway with a demo worklist and a simulated modality"
    )
    demo.add_argument("--data-dir", type=Path, default=None, help="keep the demo data here")
    demo.add_argument("--dicom-port", type=int, default=0, help="default: any free port")
    demo.add_argument("--images", type=int, default=8, help="images per simulated exam")
    demo.add_argument("--campus", default="dongge", choices=sorted(CAMPUSES))
    demo.add_argument("--hub-url", help="join the hub's demo (pacs-hub demo), not alone")
    demo.add_argument("--hub-token-file", type=Path)
    demo.add_argument("--expect", type=int, default=2, help="CT orders to wait for from the hub")
    demo.add_argument("--timeout", type=float, default=180.0, help="seconds for the whole story")
    demo.add_argument(
        "--mqtt-port", type=int, default=None, help="run the queue's built-in broker on this port"
    )
    demo.add_argument(
        "--console-port", type=int, default=0, help="technician console port (default: any)"
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    default_level = "WARNING" if args.command == "demo" else "INFO"
    configure_logging(args.log_level or default_level)
    try:
        return int(args.func(args))
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"pacs-edge: {where}: {err['msg']}", file=sys.stderr)
        return 2
    except (ConfigurationError, PeersFileError, DuplicateStep, ValueError) as exc:
        print(f"pacs-edge: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pacs-edge: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
