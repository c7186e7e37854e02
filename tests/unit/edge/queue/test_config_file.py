"""The queue file (docs/queue.md §3): what it sets, and a sentence for each mistake."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from edge_gateway.queue.config_file import QueueConfigError, load_queue_config
from edge_gateway.queue.model import LateRule, QueueConfig, RecallRule, RoomConfig

FULL = """
[queue]
reset_time = "06:30"
number_width = 4
late_rule = "end_of_slot"
late_every_n = 2
late_grace_minutes = 10
early_window_minutes = 0
recall_rule = "end_of_queue"
recall_after_n = 3
default_service_minutes = 12
timezone = "Asia/Shanghai"

[queue.prefixes]
CT = "C"
DX = "D"

[[room]]
room = "ct1"
label = "CT1"
modality = "ct"
station_ae = "DG_CT1"

[[room]]
room = "dr1"
label = "DR1室"
modality = "DX"
"""


def _load(tmp_path: Path, text: str) -> QueueConfig:
    path = tmp_path / "queue.toml"
    path.write_text(text, encoding="utf-8")
    return load_queue_config(path, campus="dongge", timezone="Asia/Shanghai")


def test_no_file_gives_the_default_rooms_and_rules() -> None:
    config = load_queue_config(None, campus="xianhu", timezone="Asia/Shanghai")
    assert [r.room for r in config.rooms] == ["ct1", "ct2", "mr1", "dr1", "us1"]
    assert all(r.station_ae == "" for r in config.rooms)
    assert (config.campus, config.number_width, config.late_rule) == ("xianhu", 3, LateRule.EVERY_N)


def test_every_setting_of_the_file_is_taken(tmp_path: Path) -> None:
    config = _load(tmp_path, FULL)
    assert config.rooms == (
        RoomConfig("ct1", "CT1", "CT", "DG_CT1"),
        RoomConfig("dr1", "DR1室", "DX"),
    )
    assert config.reset_time == time(6, 30)
    assert config.number_width == 4
    assert config.late_rule is LateRule.END_OF_SLOT
    assert config.late_grace == timedelta(minutes=10)
    assert config.early_window == timedelta(0)
    assert config.recall_rule is RecallRule.END_OF_QUEUE
    assert config.recall_after_n == 3
    assert config.default_service == timedelta(minutes=12)
    assert dict(config.prefixes) == {"CT": "C", "DX": "D"}


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (("late_every_n = 2", "late_rul = 2"), "未知的配置项 queue.late_rul"),
        (('station_ae = "DG_CT1"', 'station_ae = "AN_AE_TITLE_TOO_LONG"'), "room.station_ae"),
        (('station_ae = "DG_CT1"', 'station_ae = "CT\\\\1"'), "room.station_ae"),
        (('station_ae = "DG_CT1"', "station_ae = 7"), "room.station_ae"),
        (('station_ae = "DG_CT1"', 'station_ae = "东葛CT"'), "room.station_ae"),
        (('modality = "DX"', 'modality = "DX"\nstation_ae = "DG_CT1"'), "one room only"),
        (('DX = "D"', ""), "no ticket prefix for DX"),
        (('reset_time = "06:30"', 'reset_time = "6.30"'), "reset_time must be HH:MM"),
        (('late_rule = "end_of_slot"', 'late_rule = "never"'), "queue.late_rule 只能是"),
        (("number_width = 4", "number_width = 0"), "queue.number_width 必须是不小于 1 的整数"),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, change: tuple[str, str], sentence: str) -> None:
    old, new = change
    assert old in FULL
    with pytest.raises(QueueConfigError, match=sentence):
        _load(tmp_path, FULL.replace(old, new, 1))


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(QueueConfigError, match="找不到排队配置文件"):
        load_queue_config(tmp_path / "absent.toml", campus="dongge", timezone="Asia/Shanghai")
    with pytest.raises(QueueConfigError, match="不是有效的 TOML"):
        _load(tmp_path, "[queue\n")
