"""Ticket numbers: per campus, per prefix, per business day, reset at a configurable time.

A business day starts at the reset time (local campus time): with a reset at 06:00, a
check-in at 05:30 still belongs to the previous day's series. Numbers are the prefix and
a zero-padded sequence (``C001``); past the padding width they simply grow (``C1000``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from edge_gateway.queue.model import NumberCounter


def business_day(now: datetime, *, reset: time, zone: tzinfo) -> date:
    """The business day ``now`` (aware) belongs to, given the daily reset time in ``zone``.

    Raises ValueError for a naive ``now``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(zone)
    day = local.date()
    return day - timedelta(days=1) if local.time() < reset else day


def format_number(prefix: str, seq: int, width: int) -> str:
    """``format_number("C", 12, 3) == "C012"``."""
    return f"{prefix}{seq:0{width}d}"


def issue_number(
    last: NumberCounter | None,
    *,
    prefix: str,
    now: datetime,
    reset: time,
    zone: tzinfo,
    width: int,
) -> tuple[str, NumberCounter]:
    """Issue the next number for ``prefix`` at ``now``.

    ``last`` is the counter of the last number issued for this prefix (None: never). A
    counter of an earlier business day starts the series again at 1. Returns the number and
    the counter to keep. Raises ValueError if ``last`` is of another prefix or of a later
    day (the clock went backwards across a reset).
    """
    day = business_day(now, reset=reset, zone=zone)
    if last is not None and last.prefix != prefix:
        raise ValueError(f"counter of prefix {last.prefix} used for {prefix}")
    if last is not None and last.day > day:
        raise ValueError(f"counter of {last.day} is ahead of the business day {day}")
    seq = last.last + 1 if last is not None and last.day == day else 1
    return format_number(prefix, seq, width), NumberCounter(prefix=prefix, day=day, last=seq)
