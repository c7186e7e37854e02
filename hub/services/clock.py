"""Local days and UTC instants: the database holds UTC, people think in campus time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from hub.services.errors import Invalid


def check_day(day: date) -> date:
    """``day`` if it lies in the years 1900-2999 (what a hospital's calendar can mean),
    else ``Invalid`` — far dates would overflow the arithmetic around them."""
    if not 1900 <= day.year <= 2999:
        raise Invalid(f"日期 {day} 超出范围，请核对 / the date {day} is out of range")
    return day


def latest_birth_date() -> date:
    """Today's date where it is latest on Earth (UTC+14): a birth date after it lies in
    the future wherever the server's clock is set."""
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values read back from the database are
    UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The campus calendar day ``moment`` falls on."""
    return as_utc(moment).astimezone(zone).date()


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the local ``day`` as UTC instants."""
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_instant(day: date, clock: time, zone: tzinfo) -> datetime:
    """The UTC instant of local ``clock`` on ``day``."""
    return datetime.combine(day, clock, zone).astimezone(UTC)


def age_text(birth: date | None, on: date) -> str:
    """Age as written on Chinese forms: ``45岁``; under a year ``8月``; under a month
    ``12天``; empty when the birth date is unknown."""
    if birth is None or birth > on:
        return ""
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years >= 1:
        return f"{years}岁"
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    if months >= 1:
        return f"{months}月"
    return f"{(on - birth).days}天"
