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

Every field except ``board.campus`` and ``board.rooms`` has the default shown. Unknown
keys are refused (a typo must not silently fall back to a default). Every problem raises
:class:`BoardConfigError` with a sentence in Chinese first, then English.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.mqtt.topics import check_segment

LANGUAGES: Final = ("zh", "zh-en")
MAX_ROOMS: Final = 8


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


_DEFAULTS: Final = BoardConfig(campus="", rooms=())
"""Holds the defaults of the optional fields (never validated, never returned)."""

_BOARD_KEYS: Final = frozenset({"campus", "rooms", "next_count", "recent_count", "language"})
_VOICE_KEYS: Final = frozenset({"volume", "repeats", "number_only", "chime", "max_backlog"})


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
    _only_keys(data, frozenset({"board", "voice"}), "")
    board = _table(data, "board", required=True)
    voice = _table(data, "voice", required=False)
    _only_keys(board, _BOARD_KEYS, "board.")
    _only_keys(voice, _VOICE_KEYS, "voice.")
    defaults = _DEFAULTS
    language = board.get("language", defaults.language)
    if not isinstance(language, str) or language not in LANGUAGES:
        raise BoardConfigError(
            f"board.language 必须是 {' 或 '.join(LANGUAGES)}，请修改 / "
            f"board.language must be one of {', '.join(LANGUAGES)}: change it"
        )
    return BoardConfig(
        campus=_segment(board.get("campus"), "board.campus"),
        rooms=_rooms(board.get("rooms")),
        next_count=_int(board, "next_count", defaults.next_count, 0, 10),
        recent_count=_int(board, "recent_count", defaults.recent_count, 0, 20),
        language=language,
        volume=_volume(voice.get("volume", defaults.volume)),
        repeats=_int(voice, "repeats", defaults.repeats, 1, 5, prefix="voice."),
        number_only=_bool(voice, "number_only", defaults.number_only),
        chime=_bool(voice, "chime", defaults.chime),
        max_backlog=_int(voice, "max_backlog", defaults.max_backlog, 1, 100, prefix="voice."),
    )


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
