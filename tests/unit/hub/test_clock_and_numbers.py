"""Local days, ages as written on forms, and accession-number formatting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from hub.services.clock import age_text, as_utc, day_bounds, local_day, local_instant
from shared.accession import format_accession

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_local_day_of_utc_instants() -> None:
    # 16:30 UTC is 00:30 the next day in Nanning: accession numbers follow the campus day.
    assert local_day(datetime(2026, 11, 25, 16, 30, tzinfo=UTC), SHANGHAI) == date(2026, 11, 26)
    assert local_day(datetime(2026, 11, 25, 15, 59), SHANGHAI) == date(2026, 11, 25)  # naive=UTC


def test_day_bounds_and_local_instants() -> None:
    start, end = day_bounds(date(2026, 11, 26), SHANGHAI)
    assert start == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
    assert local_instant(date(2026, 11, 26), time(8, 30), SHANGHAI) == datetime(
        2026, 11, 26, 0, 30, tzinfo=UTC
    )
    assert as_utc(datetime(2026, 1, 1, 8, 0, tzinfo=SHANGHAI)) == datetime(
        2026, 1, 1, 0, 0, tzinfo=UTC
    )


def test_age_text() -> None:
    on = date(2026, 11, 25)
    assert age_text(date(1980, 11, 25), on) == "46岁"
    assert age_text(date(1980, 11, 26), on) == "45岁"
    assert age_text(date(2026, 3, 30), on) == "7月"
    assert age_text(date(2026, 11, 13), on) == "12天"
    assert age_text(None, on) == ""
    assert age_text(date(2027, 1, 1), on) == ""


def test_accession_format() -> None:
    day = date(2026, 11, 25)
    assert format_accession("dongge", day, 1) == "DG2611250001"
    assert format_accession("xianhu", day, 42) == "XH2611250042"
    # Past 9999 the number grows a digit rather than wrapping into a duplicate.
    assert format_accession("dongge", day, 10000) == "DG26112510000"
