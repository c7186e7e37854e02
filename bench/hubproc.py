"""The hub as benchmarks run it: ``pacs-hub`` subprocesses (``db upgrade``, ``device add``,
``user add``, ``serve``) on a SQLite file or on a fresh PostgreSQL database that the
benchmark creates and always drops.

    with database("postgresql", workdir) as url:
        hub = HubProcess(workdir / "hub", url, workdir / "hub.log")
        hub.upgrade()
        token = hub.add_device("dongge")
        with hub:            # serve on a free port; stopped on leaving, whatever happened
            ...
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import psycopg
from psycopg import sql

from bench.peers import HOST, LoggedProcess, free_port, wait_for_port

VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"
PG_ADMIN_DEFAULT = "host=127.0.0.1 port=5432 user=postgres dbname=test"
BENCH_PASSWORD = "Bench-Passw0rd-2026!"
HUB_STOP_GRACE_S = 15.0
PROFILED = Path(__file__).resolve().parent / "profiled.py"
DATABASES = ("sqlite", "postgresql")
ICU_LOCALE = "zh-Hans-CN"
"""Collation of the ``postgresql-icu`` database kind (a non-C collation, as in production)."""


def pg_admin() -> str:
    """libpq connection string of a PostgreSQL role that may create databases
    (``PACS_BENCH_PG``, default ``host=127.0.0.1 port=5432 user=postgres dbname=test``)."""
    return os.environ.get("PACS_BENCH_PG", PG_ADMIN_DEFAULT)


def pg_params(conninfo: str) -> dict[str, str]:
    """The ``key=value`` pairs of a libpq connection string."""
    return dict(item.split("=", 1) for item in conninfo.split())


@contextmanager
def postgres_database(prefix: str = "pacs_bench", icu_locale: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards, also on Ctrl-C); its
    SQLAlchemy URL. With ``icu_locale`` (e.g. ``zh-Hans-CN``) its default collation is
    that ICU locale instead of the server's default, as a database created on a system
    with ``LANG=zh_CN.UTF-8`` or ``en_US.UTF-8`` has a non-C collation. Raises
    ``RuntimeError`` when PostgreSQL cannot be reached."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conninfo = pg_admin()
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(f"PostgreSQL is not reachable with {conninfo!r}: {exc}") from exc
    try:
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if icu_locale:
            create += sql.SQL(
                " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE {} LOCALE {}"
            ).format(sql.Literal(icu_locale), sql.Literal("C.UTF-8"))
        admin.execute(create)
        p = pg_params(conninfo)
        user, host, port = p.get("user", "postgres"), p.get("host", HOST), p.get("port", "5432")
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.close()


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a fresh hub database of ``kind`` (``sqlite``: a file in ``folder``)."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / 'hub.sqlite'}"
    elif kind == "postgresql":
        with postgres_database() as url:
            yield url
    elif kind == "postgresql-icu":
        with postgres_database(icu_locale=ICU_LOCALE) as url:
            yield url
    else:
        raise ValueError(f"unknown database {kind!r}: expected one of {', '.join(DATABASES)}")


def hub_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every hub command: no inherited ``PACS_HUB_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACS_HUB_")}
    env.update(extra or {})
    return env


class HubProcess(LoggedProcess):
    """``pacs-hub`` on one database and data directory; ``serve`` in its own session.

    Enter to start serving on ``port`` (free, chosen at construction, so clients can be
    pointed at it before the hub runs); leave to stop it (SIGINT, SIGKILL after 15 s).
    """

    def __init__(
        self,
        data_dir: Path,
        database_url: str,
        logfile: Path,
        *,
        executable: Path | None = None,
        settings: dict[str, str] | None = None,
        log_level: str = "INFO",
        wrapper: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.logfile = logfile
        self.executable = executable or VENV_BIN / "pacs-hub"
        self.port = free_port()
        self.log_level = log_level
        self.wrapper = wrapper
        """Options of ``bench/profiled.py`` to run ``serve`` under (timers, cProfile)."""
        self.env = hub_env({"PACS_HUB_SECRET_KEY": secrets.token_urlsafe(40), **(settings or {})})
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _db_flags(self) -> list[str]:
        return ["--database-url", self.database_url, "--data-dir", str(self.data_dir)]

    def run(self, *args: str) -> str:
        """Run ``pacs-hub ARGS --database-url … --data-dir …``; its stdout. Raises
        ``RuntimeError`` with stderr when it fails."""
        cmd = [str(self.executable), "--log-level", "WARNING", *args, *self._db_flags()]
        out = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env, timeout=300, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd[:4])} failed ({out.returncode}): {out.stderr[-800:]}"
            )
        return out.stdout

    def upgrade(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.run("db", "upgrade")

    def add_device(self, campus: str) -> str:
        """Register an edge of ``campus``; its token."""
        return self.run("device", "add", "--kind", "edge", "--campus", campus).split()[0]

    def add_user(self, username: str, role: str, campuses: str = "dongge,xianhu") -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        password_file = self.data_dir / f"{username}.password"
        password_file.write_text(BENCH_PASSWORD, encoding="utf-8")
        self.run(
            "user", "add", "--username", username, "--password-file", str(password_file),
            "--role", role, "--campus", campuses,
        )  # fmt: skip

    def login(self, username: str) -> str:
        """A bearer token for ``username`` (the hub must be serving)."""
        r = httpx.post(
            f"{self.base_url}/api/v1/auth/token",
            data={"username": username, "password": BENCH_PASSWORD},
            timeout=30,
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def start(self) -> None:
        """Start ``pacs-hub serve`` and return once its port accepts connections."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start ``pacs-hub serve`` without waiting for it."""
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.logfile.open("ab")
        cmd = [str(self.executable), "--log-level", self.log_level, "serve", *self._db_flags()]
        if self.wrapper is not None:
            cmd = [sys.executable, str(PROFILED), *self.wrapper, "hub.cli:main", "--", *cmd[1:]]
        self.process = subprocess.Popen(
            [*cmd, "--port", str(self.port), "--bind", HOST],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        if self.process is None:
            raise RuntimeError("the hub was not launched")
        try:
            wait_for_port(self.port, self.process, "pacs-hub serve")
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; its log {self.logfile} ends:\n{self.log_tail()}") from exc

    def stop(self) -> None:
        """SIGINT, again after 2 s (uvicorn waits for open requests — an edge's held
        long-poll — after the first and stops at once at the second), SIGKILL after 15 s
        more, or at once when interrupted meanwhile (Ctrl-C leaves nothing running)."""
        process = self.process
        try:
            if process is not None and process.poll() is None:
                try:
                    for grace in (2.0, HUB_STOP_GRACE_S):
                        process.send_signal(signal.SIGINT)
                        try:
                            process.wait(timeout=grace)
                            break
                        except subprocess.TimeoutExpired:
                            continue
                finally:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
        finally:
            self.process = None
            if self._log is not None:
                self._log.close()
                self._log = None
