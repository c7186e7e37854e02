"""A signage board's configuration, read from a TOML file.

The file (provisioning will later deliver the same fields over MQTT)::

    [board]
    campus = "dongge"          # campus whose broker messages this board shows
    rooms = ["ct1", "ct2"]     # rooms shown, in screen order (1 to 8, no repeats)
    next_count = 3             # tickets shown after the one being called (0 to 10)
    recent_count = 5           # last calls listed (0 to 20)
    language = "zh"            # "zh": Chinese only; "zh-en": Chinese first, English below

    [voice]
    volume = 0.8               # 0.0 to 1.0
    repeats = 2                # times each call is spoken (1 to 5)
    number_only = false        # true: never speak the patient's (masked) name
    chime = true               # a chime before each call
    max_backlog = 10           # calls waiting to be spoken before the oldest are dropped (1 to 100)
    stale_after_seconds = 120  # older calls on arrival are listed, not spoken (5 to 3600)

    [broker]
    url = "mqtt://127.0.0.1:1883"      # the campus broker (mqtt:// or mqtts://, no password)
    username = "board-dongge-ct1"      # optional; may also be given in the URL (user@host)
    password_file = "/etc/pacs/board.secret"   # optional; first line is the password
    client_id = "board-dongge-ct1"     # default "board-" + campus + "-" + first room

Every field except ``board.campus`` and ``board.rooms`` has the default shown (the whole
``[broker]`` table is optional). ``broker.client_id`` doubles as the board's device id
(``device/{client_id}/status``), so it must be a valid topic segment. Unknown keys are
refused (a typo must not silently fall back to a default). Every problem raises
:class:`BoardConfigError` with a sentence in Chinese first, then English.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.mqtt.broker import BrokerUrlError, parse_broker_url
from shared.mqtt.topics import check_segment

LANGUAGES: Final = ("zh", "zh-en")
MAX_ROOMS: Final = 8
DEFAULT_BROKER_URL: Final = "mqtt://127.0.0.1:1883"


class BoardConfigError(ValueError):
    """A board configuration that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class BoardConfig:
    """Board settings (see the module docstring for meanings and ranges).

    Build it with :func:`load_config` or :func:`parse_config`, which validate; the
    constructor itself does not (tests use it directly).
    """

    campus: str
    rooms: tuple[str, ...]
    next_count: int = 3
    recent_count: int = 5
    language: str = "zh"
    volume: float = 0.8
    repeats: int = 2
    number_only: bool = False
    chime: bool = True
    max_backlog: int = 10
    stale_after_seconds: float = 120.0
    broker_url: str = DEFAULT_BROKER_URL
    broker_username: str | None = None
    broker_password_file: Path | None = None
    client_id: str | None = None

    @property
    def device_id(self) -> str:
        """The MQTT client id, also the board's device id: ``client_id`` when set, else
        ``board-{campus}-{first room}``."""
        if self.client_id is not None:
            return self.client_id
        first = self.rooms[0] if self.rooms else "none"
        return f"board-{self.campus}-{first}"


_DEFAULTS: Final = BoardConfig(campus="", rooms=())
"""Holds the defaults of the optional fields (never validated, never returned)."""

_BOARD_KEYS: Final = frozenset({"campus", "rooms", "next_count", "recent_count", "language"})
_VOICE_KEYS: Final = frozenset(
    {"volume", "repeats", "number_only", "chime", "max_backlog", "stale_after_seconds"}
)
_BROKER_KEYS: Final = frozenset({"url", "username", "password_file", "client_id"})


def load_config(path: Path) -> BoardConfig:
    """Read and validate the TOML file at ``path``; raises :class:`BoardConfigError`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoardConfigError(
            f"找不到配置文件 {path}，请检查路径 / config file {path} not found: check the path"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BoardConfigError(
            f"配置文件 {path} 不是有效的 TOML（{exc}），请修正语法 / "
            f"config file {path} is not valid TOML ({exc}): fix its syntax"
        ) from None
    return parse_config(data)


def parse_config(data: Mapping[str, object]) -> BoardConfig:
    """Validate an already parsed TOML document; raises :class:`BoardConfigError`."""
    _only_keys(data, frozenset({"board", "voice", "broker"}), "")
    board = _table(data, "board", required=True)
    voice = _table(data, "voice", required=False)
    broker = _table(data, "broker", required=False)
    _only_keys(board, _BOARD_KEYS, "board.")
    _only_keys(voice, _VOICE_KEYS, "voice.")
    _only_keys(broker, _BROKER_KEYS, "broker.")
    defaults = _DEFAULTS
    language = board.get("language", defaults.language)
    if not isinstance(language, str) or language not in LANGUAGES:
        raise BoardConfigError(
            f"board.language 必须是 {' 或 '.join(LANGUAGES)}，请修改 / "
            f"board.language must be one of {', '.join(LANGUAGES)}: change it"
        )
    campus = _segment(board.get("campus"), "board.campus")
    rooms = _rooms(board.get("rooms"))
    client_id = broker.get("client_id")
    if client_id is not None:
        client_id = _segment(client_id, "broker.client_id")
    else:
        derived = BoardConfig(campus=campus, rooms=rooms).device_id
        _segment(derived, "broker.client_id")  # campus and room may be too long together
    return BoardConfig(
        campus=campus,
        rooms=rooms,
        next_count=_int(board, "next_count", defaults.next_count, 0, 10),
        recent_count=_int(board, "recent_count", defaults.recent_count, 0, 20),
        language=language,
        volume=_volume(voice.get("volume", defaults.volume)),
        repeats=_int(voice, "repeats", defaults.repeats, 1, 5, prefix="voice."),
        number_only=_bool(voice, "number_only", defaults.number_only),
        chime=_bool(voice, "chime", defaults.chime),
        max_backlog=_int(voice, "max_backlog", defaults.max_backlog, 1, 100, prefix="voice."),
        stale_after_seconds=_seconds(
            voice.get("stale_after_seconds", defaults.stale_after_seconds),
            "voice.stale_after_seconds",
            5,
            3600,
        ),
        broker_url=_broker_url(broker.get("url", defaults.broker_url)),
        broker_username=_optional_text(broker.get("username"), "broker.username"),
        broker_password_file=_optional_path(broker.get("password_file"), "broker.password_file"),
        client_id=client_id,
    )


def check_broker_url(value: object, name: str = "broker.url") -> str:
    """Return ``value`` when :func:`~shared.mqtt.broker.parse_broker_url` accepts it;
    else raise :class:`BoardConfigError` naming ``name`` and the parser's reason."""
    if not isinstance(value, str):
        raise BoardConfigError(
            f"{name} 必须是形如 mqtt://主机:端口 的文本，请修改 / "
            f"{name} must be text such as mqtt://host:port: change it"
        )
    try:
        parse_broker_url(value)
    except BrokerUrlError as exc:
        chinese, _, english = str(exc).partition(" / ")
        raise BoardConfigError(
            f"{name} 无效：{chinese} / {name} is invalid: {english or chinese}"
        ) from None
    return value


def _broker_url(value: object) -> str:
    return check_broker_url(value)


def _optional_text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BoardConfigError(
            f"{name} 必须是非空文本，请修改或删除 / "
            f"{name} must be non-empty text: change or remove it"
        )
    return value


def _optional_path(value: object, name: str) -> Path | None:
    text = _optional_text(value, name)
    return Path(text).expanduser() if text is not None else None


def _seconds(value: object, name: str, low: int, high: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BoardConfigError(
            f"{name} 必须是 {low} 到 {high} 之间的秒数，请修改 / "
            f"{name} must be a number of seconds from {low} to {high}: change it"
        )
    return float(value)


def _table(data: Mapping[str, object], name: str, *, required: bool) -> Mapping[str, object]:
    value = data.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise BoardConfigError(
            f"配置缺少 [{name}] 表，请添加 / the config has no [{name}] table: add it"
        )
    return value


def _only_keys(table: Mapping[str, object], allowed: frozenset[str], prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        names = ", ".join(prefix + key for key in unknown)
        raise BoardConfigError(
            f"未知的配置项 {names}，请删除或改正拼写 / "
            f"unknown setting(s) {names}: remove them or fix the spelling"
        )


def _segment(value: object, name: str) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return check_segment(value, name)
    except ValueError:
        raise BoardConfigError(
            f"{name} 必须是 1 到 64 个英文字母、数字、'-' 或 '_'，请修改 / "
            f"{name} must be 1 to 64 ASCII letters, digits, '-' or '_': change it"
        ) from None


def _rooms(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ROOMS:
        raise BoardConfigError(
            f"board.rooms 必须列出 1 到 {MAX_ROOMS} 个检查室，请修改 / "
            f"board.rooms must list 1 to {MAX_ROOMS} rooms: change it"
        )
    rooms = tuple(_segment(room, "board.rooms") for room in value)
    if len(set(rooms)) != len(rooms):
        raise BoardConfigError(
            "board.rooms 中有重复的检查室，请删除重复项 / "
            "board.rooms names a room twice: remove the repeat"
        )
    return rooms


def _int(
    table: Mapping[str, object],
    key: str,
    default: int,
    low: int,
    high: int,
    *,
    prefix: str = "board.",
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BoardConfigError(
            f"{prefix}{key} 必须是 {low} 到 {high} 之间的整数，请修改 / "
            f"{prefix}{key} must be a whole number from {low} to {high}: change it"
        )
    return value


def _volume(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise BoardConfigError(
            "voice.volume 必须是 0 到 1 之间的数，请修改 / "
            "voice.volume must be a number from 0 to 1: change it"
        )
    return float(value)


def _bool(table: Mapping[str, object], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise BoardConfigError(
            f"voice.{key} 必须是 true 或 false，请修改 / "
            f"voice.{key} must be true or false: change it"
        )
    return value
