"""The campus queue's rules and rooms, read from a TOML file (``--queue-config FILE``).

Without a file the gateway uses :func:`default_rooms` (CT1, CT2, MR1, DR1, US1) and the
rule defaults of :class:`~edge_gateway.queue.model.QueueConfig`. The file::

    [queue]
    reset_time = "00:00"          # when ticket numbers start again at 1 (local time)
    number_width = 3              # C001
    late_rule = "every_n"         # every_n | end_of_slot | end_of_half_day
    late_every_n = 3
    late_grace_minutes = 15
    early_window_minutes = 60     # how early before the appointment check-in is allowed
    recall_rule = "after_n"       # after_n | end_of_queue  (a missed patient who returns)
    recall_after_n = 2
    default_service_minutes = 10  # assumed exam length until real ones are observed

    [queue.prefixes]              # ticket prefix per modality
    CT = "C"
    MR = "M"
    DX = "D"
    US = "U"

    [[room]]
    room = "ct1"                  # id used in topics and URLs (ASCII)
    label = "CT1"                 # as called and shown
    modality = "CT"
    station_ae = "DG_CT1"         # the scanner's AE title: exams booked on it come here

Unknown keys are refused; every problem raises :class:`QueueConfigError` with a sentence,
Chinese first.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

from edge_gateway.queue.model import LateRule, QueueConfig, RecallRule, RoomConfig
from shared.mqtt.topics import check_segment

_QUEUE_KEYS: Final = frozenset(
    {
        "reset_time",
        "number_width",
        "late_rule",
        "late_every_n",
        "late_grace_minutes",
        "early_window_minutes",
        "recall_rule",
        "recall_after_n",
        "default_service_minutes",
        "prefixes",
        "timezone",
    }
)
_ROOM_KEYS: Final = frozenset({"room", "label", "modality", "station_ae"})
_E = TypeVar("_E", LateRule, RecallRule)


class QueueConfigError(ValueError):
    """The queue configuration cannot be used; the message says what to fix."""


def default_rooms() -> tuple[RoomConfig, ...]:
    """The rooms a campus gets when no queue file is given."""
    return (
        RoomConfig("ct1", "CT1", "CT"),
        RoomConfig("ct2", "CT2", "CT"),
        RoomConfig("mr1", "MR1", "MR"),
        RoomConfig("dr1", "DR1", "DX"),
        RoomConfig("us1", "US1", "US"),
    )


def load_queue_config(path: Path | None, *, campus: str, timezone: str) -> QueueConfig:
    """The queue configuration of ``campus`` from ``path`` (None: the defaults)."""
    if path is None:
        return QueueConfig(campus=campus, rooms=default_rooms(), timezone=timezone)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QueueConfigError(
            f"找不到排队配置文件 {path} / queue config file {path} not found"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise QueueConfigError(
            f"排队配置文件 {path} 不是有效的 TOML（{exc}）/ {path} is not valid TOML ({exc})"
        ) from None
    return parse_queue_config(data, campus=campus, timezone=timezone)


def parse_queue_config(data: Mapping[str, Any], *, campus: str, timezone: str) -> QueueConfig:
    """Validate an already parsed document (see the module docstring)."""
    _only(data, frozenset({"queue", "room"}), "")
    table = data.get("queue", {})
    if not isinstance(table, dict):
        raise QueueConfigError("[queue] 必须是一个表 / [queue] must be a table")
    _only(table, _QUEUE_KEYS, "queue.")
    rooms = _rooms(data.get("room"))
    kwargs: dict[str, Any] = {"campus": campus, "rooms": rooms, "timezone": timezone}
    if "timezone" in table:
        kwargs["timezone"] = _text(table["timezone"], "queue.timezone")
    if "reset_time" in table:
        kwargs["reset_time"] = _clock(table["reset_time"])
    for key in ("number_width", "late_every_n", "recall_after_n"):
        if key in table:
            kwargs[key] = _count(table[key], f"queue.{key}")
    for key, target in (
        ("late_grace_minutes", "late_grace"),
        ("early_window_minutes", "early_window"),
        ("default_service_minutes", "default_service"),
    ):
        if key in table:
            kwargs[target] = timedelta(minutes=_count(table[key], f"queue.{key}", minimum=0))
    if "late_rule" in table:
        kwargs["late_rule"] = _choice(LateRule, table["late_rule"], "queue.late_rule")
    if "recall_rule" in table:
        kwargs["recall_rule"] = _choice(RecallRule, table["recall_rule"], "queue.recall_rule")
    if "prefixes" in table:
        prefixes = table["prefixes"]
        if not isinstance(prefixes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in prefixes.items()
        ):
            raise QueueConfigError(
                'queue.prefixes 应为 设备类型 = "前缀" / queue.prefixes must map modality to prefix'
            )
        kwargs["prefixes"] = dict(prefixes)
    try:
        return QueueConfig(**kwargs)
    except ValueError as exc:
        raise QueueConfigError(f"排队配置无效：{exc} / queue config is invalid: {exc}") from None


def _only(table: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        names = ", ".join(prefix + k for k in unknown)
        raise QueueConfigError(f"未知的配置项 {names} / unknown setting(s) {names}")


def _rooms(value: object) -> tuple[RoomConfig, ...]:
    if value is None:
        return default_rooms()
    if not isinstance(value, list) or not value:
        raise QueueConfigError("[[room]] 至少需要一个检查室 / give at least one [[room]]")
    rooms = []
    for entry in value:
        if not isinstance(entry, dict):
            raise QueueConfigError("[[room]] 的每一项必须是表 / each [[room]] must be a table")
        _only(entry, _ROOM_KEYS, "room.")
        try:
            room_id = check_segment(_text(entry.get("room"), "room.room"), "room id")
        except ValueError as exc:
            raise QueueConfigError(f"检查室编号无效 / {exc}") from None
        rooms.append(
            RoomConfig(
                room=room_id,
                label=_text(entry.get("label"), "room.label"),
                modality=_text(entry.get("modality"), "room.modality").upper(),
                station_ae=_station_ae(entry.get("station_ae", "")),
            )
        )
    return tuple(rooms)


def _station_ae(value: object) -> str:
    """A room's scanner AE title: 1–16 characters of the DICOM default repertoire, no
    backslash; "" when not given."""
    if value == "":
        return ""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 16 or not text.isascii() or "\\" in text or not text.isprintable():
        raise QueueConfigError(
            "room.station_ae 必须是设备的 AE 名称（1–16 个英文字符）"
            " / room.station_ae must be the scanner's AE title (1-16 ASCII characters)"
        )
    return text


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QueueConfigError(f"{name} 必须填写文字 / {name} must be a non-empty string")
    return value.strip()


def _count(value: object, name: str, *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise QueueConfigError(
            f"{name} 必须是不小于 {minimum} 的整数 / {name} must be an integer >= {minimum}"
        )
    return value


def _clock(value: object) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise QueueConfigError(
            f'queue.reset_time 应为 时:分，如 "00:00" / reset_time must be HH:MM, not {value!r}'
        ) from None


def _choice(kind: type[_E], value: object, name: str) -> _E:
    try:
        return kind(str(value))
    except ValueError:
        allowed = " | ".join(m.value for m in kind)
        raise QueueConfigError(f"{name} 只能是 {allowed} / {name} must be {allowed}") from None
