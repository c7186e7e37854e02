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
