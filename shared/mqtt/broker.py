"""Where a part finds its campus MQTT broker: a URL such as ``mqtt://127.0.0.1:1883``.

Every part (edge gateway, boards, kiosks) is told its broker by one URL setting; this module
turns it into a :class:`BrokerAddress`. Accepted forms::

    mqtt://host[:port]             plain TCP, port 1883 by default
    mqtts://host[:port]            TLS, port 8883 by default
    mqtt://user@host[:port]        user name given; the password comes from a file setting
    mqtt://host:port?protocol=3.1.1   speak MQTT 3.1.1 (default 5), e.g. to the embedded broker

A password inside the URL is refused: URLs end up in logs and process lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORTS: Final = {"mqtt": 1883, "mqtts": 8883}
PROTOCOLS: Final = ("5", "3.1.1")
"""MQTT protocol versions a client may speak: 5 (default) or 3.1.1."""


class BrokerUrlError(ValueError):
    """The broker URL cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class BrokerAddress:
    """A broker to connect to. ``tls`` for ``mqtts://``; ``username`` may be None."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    protocol: str = "5"

    @property
    def url(self) -> str:
        """The address written back as a URL (never with a password)."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "" if self.protocol == "5" else f"?protocol={self.protocol}"
        return f"{scheme}://{user}{host}:{self.port}{query}"


def parse_broker_url(text: str) -> BrokerAddress:
    """Parse ``text`` (see the module docstring); raises :class:`BrokerUrlError`."""
    value = text.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise BrokerUrlError(
            f"MQTT 服务器地址 {value!r} 无法识别 / broker URL {value!r} is malformed ({exc})"
        ) from None
    if parts.scheme not in DEFAULT_PORTS:
        raise BrokerUrlError(
            f"MQTT 服务器地址须以 mqtt:// 或 mqtts:// 开头：{value!r} / "
            f"broker URL {value!r} must start with mqtt:// or mqtts://"
        )
    if not parts.hostname:
        raise BrokerUrlError(
            f"MQTT 服务器地址缺少主机名：{value!r} / broker URL {value!r} has no host"
        )
    if parts.password is not None:
        raise BrokerUrlError(
            "MQTT 服务器地址中不能写密码，请改用密码文件设置 / "
            "do not put a password in the broker URL: use the password-file setting"
        )
    query = parse_qs(parts.query, keep_blank_values=True)
    protocol = query.pop("protocol", ["5"])
    if len(protocol) != 1 or protocol[0] not in PROTOCOLS:
        raise BrokerUrlError(
            f"MQTT 协议版本只能是 5 或 3.1.1：{value!r} / "
            f"the protocol in broker URL {value!r} must be 5 or 3.1.1"
        )
    if parts.path not in ("", "/") or query or parts.fragment:
        raise BrokerUrlError(
            f"MQTT 服务器地址只应包含主机、端口和协议版本：{value!r} / "
            f"broker URL {value!r} must hold only a host, a port and the protocol"
        )
    return BrokerAddress(
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORTS[parts.scheme],
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        protocol=protocol[0],
    )
