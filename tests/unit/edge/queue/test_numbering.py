from datetime import UTC, time

import pytest

from edge_gateway.queue.model import NumberCounter
from edge_gateway.queue.numbering import business_day, format_number, issue_number
from tests.unit.edge.queue.support import SHANGHAI, at


def issue(
    last: NumberCounter | None, hour: int, day: int = 25, reset: time = time(6, 0)
) -> tuple[str, NumberCounter]:
    return issue_number(
        last, prefix="C", now=at(hour, day=day), reset=reset, zone=SHANGHAI, width=3
    )


def test_numbers_rise_per_prefix_within_a_day() -> None:
    first, counter = issue(None, 8)
    second, counter = issue(counter, 9)
    assert (first, second) == ("C001", "C002")
    assert counter.last == 2


def test_series_restarts_after_the_reset_time() -> None:
    _, counter = issue(None, 20, day=25)
    _, counter = issue(counter, 21, day=25)
    number, counter = issue(counter, 7, day=26)
    assert number == "C001"
    assert counter.day.day == 26


def test_before_the_reset_time_belongs_to_the_previous_day() -> None:
    _, counter = issue(None, 20, day=25)
    number, _ = issue(counter, 5, day=26)  # 05:00 < 06:00 reset
    assert number == "C002"
    assert business_day(at(5, day=26), reset=time(6, 0), zone=SHANGHAI).day == 25


def test_business_day_uses_campus_time_not_utc() -> None:
    # 01:00 in Shanghai is 17:00 UTC of the previous day.
    utc = at(1, day=26).astimezone(UTC)
    assert utc.day == 25
    assert business_day(utc, reset=time(0, 0), zone=SHANGHAI).day == 26


def test_number_grows_past_its_width() -> None:
    assert format_number("C", 1000, 3) == "C1000"
    number, _ = issue(NumberCounter("C", at(8).date(), 999), 9)
    assert number == "C1000"


def test_refuses_naive_time_other_prefix_and_future_counter() -> None:
    with pytest.raises(ValueError):
        business_day(at(8).replace(tzinfo=None), reset=time(0), zone=SHANGHAI)
    with pytest.raises(ValueError):
        issue(NumberCounter("M", at(8).date(), 3), 9)
    with pytest.raises(ValueError):
        issue(NumberCounter("C", at(8, day=27).date(), 3), 9)
