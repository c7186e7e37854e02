"""The campus queue as it runs inside ``pacs-edge serve``: composition root of the queue,
its follower, the broker connection (and optional embedded broker) and the console.

It lives in the gateway's main process only (DICOM worker processes never touch it), with
its own connection to the edge index; the single :class:`QueueService` of the campus is
the only writer of the queue.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import uvicorn
from sqlalchemy import Engine

from edge_gateway.bus.embedded import EmbeddedBroker
from edge_gateway.bus.publisher import EdgeBus
from edge_gateway.config import EdgeSettings
from edge_gateway.console.app import create_console_app
from edge_gateway.console.audit import ReadAudit
from edge_gateway.console.sessions import Sessions, load_key
from edge_gateway.console.users import ConsoleUsers, HubDirectory
from edge_gateway.queue.config_file import load_queue_config
from edge_gateway.queue.desk import QueueDesk
from edge_gateway.queue.follower import QueueFollower
from edge_gateway.queue.store import QueueService
from edge_gateway.store.database import open_index
from edge_gateway.sync.state import read_state, write_state
from shared.mqtt.broker import BrokerAddress, parse_broker_url

log = logging.getLogger(__name__)

BOOT_KEY = "bus.boot"


def package_version() -> str:
    try:
        return version("campus-pacs")
    except PackageNotFoundError:
        return "0+unknown"


def next_boot(engine: Engine) -> int:
    """Raise and return the gateway's boot counter (its broker session number)."""
    with engine.begin() as conn:
        boot = int(read_state(conn, BOOT_KEY) or 0) + 1
        write_state(conn, BOOT_KEY, str(boot))
    return boot


class ConsoleServer:
    """uvicorn on a thread, on a socket bound before it starts (so a busy port is reported
    at once, and port 0 gets a real port)."""

    def __init__(self, app: object, bind: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose
        # protocol says TCP, and without it every answer (head and body written apart)
        # waits ~40 ms for the browser's delayed ACK.
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((bind, port))
        self._socket.listen(128)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")  # type: ignore[arg-type]
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name="console-http",
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


class QueueRuntime:
    """Build with :func:`build_queue_runtime`; ``start`` / ``stop``."""

    def __init__(
        self,
        settings: EdgeSettings,
        engine: Engine,
        desk: QueueDesk,
        service: QueueService,
        follower: QueueFollower,
        console_app: object,
        bus_address: BrokerAddress | None,
        embedded: EmbeddedBroker | None,
        hub: HubDirectory | None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.desk = desk
        self._service = service
        self.follower = follower
        self._console_app = console_app
        self._bus_address = bus_address
        self.embedded = embedded
        self._hub = hub
        self.bus: EdgeBus | None = None
        self.console: ConsoleServer | None = None

    def start(self) -> None:
        s = self.settings
        self._service.load()
        if self.embedded is not None:
            self.embedded.start()
        if self._bus_address is not None:
            password = None
            if s.mqtt_password_file is not None:
                password = s.mqtt_password_file.read_text(encoding="utf-8").strip()
            self.bus = EdgeBus(
                self._bus_address,
                self.desk,
                campus=s.campus,
                boots=lambda: next_boot(self.engine),
                version=package_version(),
                password=password,
                ca_file=str(s.mqtt_ca_file) if s.mqtt_ca_file else None,
            )
            self.bus.start()
        else:
            log.warning(
                "no MQTT broker configured (--mqtt-url or --mqtt-embedded-port): the queue "
                "runs, but no signage board or kiosk will hear from it"
            )
        self.follower.start()
        bind = s.console_bind or s.bind
        try:
            self.console = ConsoleServer(self._console_app, bind, s.console_port)
        except OSError as exc:
            log.error(
                "叫号控制台无法在 %s:%d 启动（%s），请用 --console-port 换一个端口 / the console "
                "cannot listen on %s:%d (%s): choose another --console-port",
                bind,
                s.console_port,
                exc,
                bind,
                s.console_port,
                exc,
            )
        else:
            self.console.start()
            log.info("technician console on http://%s:%d/console", bind, self.console.port)

    def stop(self) -> None:
        if self.console is not None:
            self.console.stop()
        self.follower.stop()
        if self.bus is not None:
            self.bus.stop()
        if self.embedded is not None:
            self.embedded.stop()
        if self._hub is not None:
            self._hub.close()
        self.engine.dispose()


def build_queue_runtime(
    settings: EdgeSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> QueueRuntime:
    """Wire the queue from settings (raises QueueConfigError with a sentence)."""
    config = load_queue_config(
        settings.queue_config, campus=settings.campus, timezone=settings.timezone
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_index(settings.index_path)
    service = QueueService(engine, config, clock)
    desk = QueueDesk(engine, service, clock)
    follower = QueueFollower(engine, desk)
    hub = HubDirectory(settings.hub_url, ca_file=settings.hub_ca_file) if settings.hub_url else None
    users = ConsoleUsers(engine, settings.campus, hub)
    sessions = Sessions(load_key(settings.console_key_path))
    app = create_console_app(
        desk,
        users,
        sessions,
        reads=ReadAudit(engine, clock),
        campus=settings.campus,
        secure_cookie=settings.console_secure_cookie,
        clock=clock,
    )
    embedded = None
    address = parse_broker_url(settings.mqtt_url) if settings.mqtt_url else None
    if address is None and settings.mqtt_embedded_port is not None:
        embedded = EmbeddedBroker(settings.mqtt_embedded_bind, settings.mqtt_embedded_port)
        address = parse_broker_url(embedded.url)
    return QueueRuntime(settings, engine, desk, service, follower, app, address, embedded, hub)
