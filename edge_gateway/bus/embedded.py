"""An MQTT broker inside the gateway process, for a campus without Mosquitto (the demo,
a first trial): amqtt on its own asyncio loop in a thread.

It speaks MQTT 3.1.1 only and keeps retained messages and sessions in memory, so clients
must use ``mqtt://host:port?protocol=3.1.1`` and a restart of the gateway loses them (the
gateway republishes every room's picture when it connects). A hospital runs Mosquitto
(docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)


class EmbeddedBrokerError(OSError):
    """The embedded broker could not start (e.g. its port is taken); the message says why.
    An OSError, so ``pacs-edge serve`` stops with that sentence, not a traceback."""


class EmbeddedBroker:
    """``start()`` listens on ``bind:port`` (port 0 is refused: boards need a known port)."""

    def __init__(self, bind: str, port: int) -> None:
        if not 0 < port < 65536:
            raise EmbeddedBrokerError(f"embedded broker port {port} must be 1-65535")
        self.bind = bind
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._broker: Broker | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The URL clients on this machine use."""
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind
        return f"mqtt://{host}:{self.port}?protocol=3.1.1"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.bind}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }

    def start(self, timeout: float = 15.0) -> None:
        """Start the broker thread; raises EmbeddedBrokerError if it does not listen."""
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout) or self._error is not None:
            raise EmbeddedBrokerError(
                f"内置消息服务器无法在端口 {self.port} 启动 / the embedded MQTT broker could not "
                f"listen on {self.bind}:{self.port}: {self._error or 'timed out'}"
            )
        log.info("embedded MQTT broker (3.1.1) listening on %s:%d", self.bind, self.port)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        amqtt_log = logging.getLogger("amqtt")
        amqtt_log.setLevel(logging.CRITICAL)  # a failed start is reported by start() itself
        try:
            self._broker = Broker(self._config(), loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported to start()'s caller
            self._error = exc
            self._started.set()
            return
        finally:
            amqtt_log.setLevel(logging.WARNING)
        self._started.set()
        self._loop.run_forever()

    def stop(self, timeout: float = 10.0) -> None:
        if self._broker is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                future.result(timeout)
            except Exception:  # shutting down anyway
                log.exception("embedded broker did not shut down cleanly")
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        self._broker = None
