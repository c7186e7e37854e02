from datetime import timedelta

import pytest

from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import RoomConfig
from tests.unit.edge.queue.support import config


def test_config_prefixes_are_configurable() -> None:
    cfg = config(prefixes={"CT": "K", "MR": "M"})
    assert cfg.prefixes["CT"] == "K"


@pytest.mark.parametrize(
    "overrides",
    [
        {"rooms": (RoomConfig("a", "A", "CT"), RoomConfig("a", "B", "CT"))},
        {"rooms": (RoomConfig("x", "X", "PET"),)},
        {"prefixes": {"CT": "c", "MR": "M"}},
        {"late_every_n": 0},
        {"slot_length": timedelta(0)},
        {"timezone": "Nowhere/Never"},
    ],
)
def test_invalid_config_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(Exception) as error:
        config(**overrides)
    assert isinstance(error.value, ValueError | LookupError)


def test_queue_error_is_chinese_then_english() -> None:
    error = QueueError("CT1室已暂停，不能叫号", "room CT1 is paused: resume it first")
    assert str(error) == "CT1室已暂停，不能叫号 / room CT1 is paused: resume it first"
    assert (error.zh, error.en) == ("CT1室已暂停，不能叫号", "room CT1 is paused: resume it first")
