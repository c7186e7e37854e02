"""Board configuration from TOML, and its Chinese-first validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from signage.board.config import BoardConfig, BoardConfigError, load_config, parse_config

FULL = """
[board]
campus = "dongge"
rooms = ["ct1", "mr-2"]
next_count = 4
recent_count = 6
language = "zh-en"

[voice]
volume = 0.5
repeats = 3
number_only = true
chime = false
max_backlog = 20
"""


def test_full_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "board.toml"
    path.write_text(FULL, encoding="utf-8")
    assert load_config(path) == BoardConfig(
        campus="dongge",
        rooms=("ct1", "mr-2"),
        next_count=4,
        recent_count=6,
        language="zh-en",
        volume=0.5,
        repeats=3,
        number_only=True,
        chime=False,
        max_backlog=20,
    )


def test_defaults_apply_when_only_campus_and_rooms_given() -> None:
    cfg = parse_config({"board": {"campus": "dongge", "rooms": ["ct1"]}})
    assert (cfg.repeats, cfg.chime, cfg.number_only, cfg.next_count, cfg.language) == (
        2,
        True,
        False,
        3,
        "zh",
    )
    assert cfg.volume == 0.8 and cfg.max_backlog == 10


def _error(data: dict[str, object]) -> str:
    with pytest.raises(BoardConfigError) as info:
        parse_config(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("board", "voice", "names"),
    [
        ({"rooms": ["ct1"]}, {}, "board.campus"),
        ({"campus": "东区", "rooms": ["ct1"]}, {}, "board.campus"),
        ({"campus": "dongge", "rooms": []}, {}, "board.rooms"),
        ({"campus": "dongge", "rooms": "ct1"}, {}, "board.rooms"),
        ({"campus": "dongge", "rooms": ["ct1", "ct1"]}, {}, "board.rooms"),
        ({"campus": "dongge", "rooms": ["ct/1"]}, {}, "board.rooms"),
        ({"campus": "dongge", "rooms": ["ct1"], "next_count": 11}, {}, "board.next_count"),
        ({"campus": "dongge", "rooms": ["ct1"], "next_count": True}, {}, "board.next_count"),
        ({"campus": "dongge", "rooms": ["ct1"], "language": "en"}, {}, "board.language"),
        ({"campus": "dongge", "rooms": ["ct1"]}, {"repeats": 0}, "voice.repeats"),
        ({"campus": "dongge", "rooms": ["ct1"]}, {"repeats": 2.0}, "voice.repeats"),
        ({"campus": "dongge", "rooms": ["ct1"]}, {"volume": 1.5}, "voice.volume"),
        ({"campus": "dongge", "rooms": ["ct1"]}, {"chime": "yes"}, "voice.chime"),
        ({"campus": "dongge", "rooms": ["ct1"]}, {"number_only": 1}, "voice.number_only"),
        ({"campus": "dongge", "rooms": ["ct1"]}, {"max_backlog": 0}, "voice.max_backlog"),
        ({"campus": "dongge", "rooms": ["ct1"]}, {"repeat": 2}, "voice.repeat"),
    ],
)
def test_bad_values_name_the_setting_chinese_first(
    board: dict[str, object], voice: dict[str, object], names: str
) -> None:
    message = _error({"board": board, "voice": voice})
    chinese, english = message.split(" / ")
    assert names in chinese and names in english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in english.replace("东区", ""))


def test_missing_board_table_and_unknown_table() -> None:
    assert "[board]" in _error({})
    assert "layout" in _error({"board": {"campus": "dongge", "rooms": ["ct1"]}, "layout": {}})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(BoardConfigError, match="找不到配置文件"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[board\ncampus = 1", encoding="utf-8")
    with pytest.raises(BoardConfigError, match="不是有效的 TOML"):
        load_config(broken)


def test_broker_table_defaults_and_derived_client_id() -> None:
    cfg = parse_config({"board": {"campus": "dongge", "rooms": ["ct1", "ct2"]}})
    assert cfg.broker_url == "mqtt://127.0.0.1:1883"
    assert cfg.broker_username is None and cfg.broker_password_file is None
    assert cfg.client_id is None and cfg.device_id == "board-dongge-ct1"
    assert cfg.stale_after_seconds == 120.0


def test_broker_table_is_read() -> None:
    cfg = parse_config(
        {
            "board": {"campus": "dongge", "rooms": ["ct1"]},
            "voice": {"stale_after_seconds": 30},
            "broker": {
                "url": "mqtts://broker.example:8883",
                "username": "board-1",
                "password_file": "/etc/pacs/board.secret",
                "client_id": "board-hall-a",
            },
        }
    )
    assert cfg.broker_url == "mqtts://broker.example:8883"
    assert cfg.broker_username == "board-1"
    assert cfg.broker_password_file == Path("/etc/pacs/board.secret")
    assert cfg.device_id == "board-hall-a" and cfg.stale_after_seconds == 30.0


@pytest.mark.parametrize(
    ("broker", "voice", "names"),
    [
        ({"url": "http://broker:1883"}, {}, "broker.url"),
        ({"url": "mqtt://user:secret@broker"}, {}, "broker.url"),
        ({"url": 1883}, {}, "broker.url"),
        ({"client_id": "board/1"}, {}, "broker.client_id"),
        ({"client_id": "叫号屏"}, {}, "broker.client_id"),
        ({"username": ""}, {}, "broker.username"),
        ({"password_file": 3}, {}, "broker.password_file"),
        ({"port": 1883}, {}, "broker.port"),
        ({}, {"stale_after_seconds": 1}, "voice.stale_after_seconds"),
        ({}, {"stale_after_seconds": "2m"}, "voice.stale_after_seconds"),
    ],
)
def test_bad_broker_settings_name_the_setting_chinese_first(
    broker: dict[str, object], voice: dict[str, object], names: str
) -> None:
    message = _error(
        {"board": {"campus": "dongge", "rooms": ["ct1"]}, "broker": broker, "voice": voice}
    )
    chinese, english = message.split(" / ", 1)
    assert names in chinese and names in english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
    assert "secret" not in message


def test_a_derived_client_id_that_is_too_long_is_refused() -> None:
    message = _error({"board": {"campus": "c" * 60, "rooms": ["ct1"]}})
    assert "broker.client_id" in message
