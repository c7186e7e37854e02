"""A real hub for tests: migrated database (SQLite file or PostgreSQL), uvicorn on a free
port in a thread, people of every role with their tokens."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.app import create_app
from hub.config import HubSettings
from hub.context import HubContext, build_context
from hub.db import make_engine, session_scope
from hub.migrate import upgrade
from hub.security.roles import Role
from hub.services.devices import add_device
from hub.services.users import create_user
from tests.support.net import free_port, wait_for_port
from tests.support.requirements import require_service

PG_ADMIN_URL = os.environ.get(
    "PACS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "Passw0rd-for-tests"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards); its URL."""
    url = make_url(PG_ADMIN_URL)
    require_service(url.host or "127.0.0.1", url.port or 5432, "PostgreSQL")
    name = f"pacs_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class RunningHub:
    """A hub serving on ``base_url``; ``token(role)`` signs in a person of that role."""

    base_url: str
    ctx: HubContext
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def add_user(
        self, username: str, role: Role | str, campuses: str = "dongge,xianhu", **extra: str
    ) -> str:
        """Create a person and return a fresh access token for them."""
        with session_scope(self.ctx.engine) as session:
            create_user(
                session=session,
                passwords=self.ctx.passwords,
                username=username,
                password=PASSWORD,
                role=str(Role(role).value),
                campuses=campuses,
                display_name=extra.get("display_name", ""),
            )
        return self.login(username)

    def login(self, username: str, password: str = PASSWORD) -> str:
        with self.client() as c:
            r = c.post("/api/v1/auth/token", data={"username": username, "password": password})
            r.raise_for_status()
            return str(r.json()["access_token"])

    def token(self, role: Role | str, campuses: str = "dongge,xianhu") -> str:
        """A token for a person of ``role`` on ``campuses`` (created on first use)."""
        key = f"{Role(role).value}@{campuses}"
        if key not in self.tokens:
            name = f"{Role(role).value}_{len(self.tokens)}"
            self.tokens[key] = self.add_user(name, role, campuses)
        return self.tokens[key]

    def device_token(self, campus: str = "dongge", kind: str = "edge") -> str:
        with session_scope(self.ctx.engine) as session:
            _device, token = add_device(session=session, kind=kind, campus=campus)
        return token

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.ctx.engine.dispose()


def start_hub(
    data_dir: Path, database_url: str | None = None, *, port: int | None = None, **settings: object
) -> RunningHub:
    """Migrate, build the app and serve it on ``port`` of loopback (default: a free
    one; give the port of a stopped hub to start it again where its clients look)."""
    hub_settings = HubSettings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="t" * 40,  # type: ignore[arg-type]
        **settings,  # type: ignore[arg-type]
    )
    engine = make_engine(hub_settings.effective_database_url)
    upgrade(engine)
    ctx = build_context(hub_settings, engine)
    app = create_app(hub_settings, ctx)
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="hub-test-server", daemon=True)
    thread.start()
    wait_for_port(port)
    return RunningHub(
        base_url=f"http://127.0.0.1:{port}", ctx=ctx, app=app, server=server, thread=thread
    )
