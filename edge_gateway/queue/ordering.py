"""The waiting order of a room and the rules that place a ticket in it.

Order: levels emergency → special groups → on time for their appointment → walk-ins,
FIFO (by ``queue_at`` then ``seq``) within a level. Two rules move tickets off that order:

* the late-arrival rule: *every N* pins a late patient so that N other patients are called
  before them (and N between two late patients); *end of slot* keeps them among on-time
  patients but anchors them at the end of the current appointment slot; *end of half-day*
  ranks them as walk-ins anchored at the end of the half-day (behind everyone who checks in
  before then);
* the missed-recall rule: a returning 过号 patient is pinned after N more calls, or after
  everyone waiting at the time of return.

A pin is a value of the room's call counter: the ticket stands ``pin - calls`` places from
the front (never less than 0), so it moves up as patients are called and is not overtaken
by later arrivals of any level except those inserted in front of it.

Early check-in: a patient more than ``early_window`` before the appointment is **refused**
(not held): a held ticket would need a second timer-driven action to enter the queue, and a
refusal with the time to come back is clearer at a kiosk. The message says when to return.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import (
    CheckInRequest,
    LateRule,
    Level,
    QueueConfig,
    RecallRule,
    RoomState,
    Ticket,
)


def age_on(birth: date, day: date) -> int:
    """Whole years between ``birth`` and ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def special_group(request: CheckInRequest, config: QueueConfig, today: date) -> str | None:
    """Code of the first configured special group the patient belongs to, or None."""
    for group in config.special_groups:
        if group.code in request.groups:
            return group.code
        age = None if request.birth_date is None else age_on(request.birth_date, today)
        if group.min_age is not None and age is not None and age >= group.min_age:
            return group.code
    return None


def classify(
    request: CheckInRequest, config: QueueConfig, now: datetime
) -> tuple[Level, str | None, bool]:
    """Level, special group and lateness of a check-in at ``now``.

    Emergency and special groups ignore the appointment. A patient with an appointment is on
    time up to ``late_grace`` after it, late afterwards. Raises QueueError when the patient
    is more than ``early_window`` early.
    """
    if request.emergency:
        return Level.EMERGENCY, None, False
    group = special_group(request, config, now.astimezone(config.zone).date())
    if group is not None:
        return Level.SPECIAL, group, False
    appointment = request.appointment_at
    if appointment is None:
        return Level.WALK_IN, None, False
    opens = appointment - config.early_window
    if now < opens:
        at = appointment.astimezone(config.zone)
        start = opens.astimezone(config.zone)
        raise QueueError(
            f"签到太早：您的预约时间为{at:%H:%M}，请于{start:%H:%M}后再签到",
            f"too early: your appointment is at {at:%H:%M}, check in from {start:%H:%M}",
        )
    if now > appointment + config.late_grace:
        return Level.ON_TIME, None, True
    return Level.ON_TIME, None, False


def slot_end(now: datetime, config: QueueConfig) -> datetime:
    """End of the appointment slot containing ``now`` (slots start at local midnight)."""
    local = now.astimezone(config.zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    slots = (local - midnight) // config.slot_length + 1
    return midnight + slots * config.slot_length


def half_day_end(now: datetime, config: QueueConfig) -> datetime:
    """First configured half-day end after ``now``; the next local midnight after the last."""
    local = now.astimezone(config.zone)
    for end in sorted(config.half_day_ends):
        candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if candidate > local:
            return candidate
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1)


def place_late(
    level: Level, now: datetime, room: RoomState, config: QueueConfig
) -> tuple[Level, datetime, int | None, int | None]:
    """Placement of a late patient: (level, queue_at, pin, new room late_anchor)."""
    if config.late_rule is LateRule.END_OF_SLOT:
        return level, slot_end(now, config), None, room.late_anchor
    if config.late_rule is LateRule.END_OF_HALF_DAY:
        return Level.WALK_IN, half_day_end(now, config), None, room.late_anchor
    start = room.calls if room.late_anchor is None else max(room.calls, room.late_anchor + 1)
    pin = start + config.late_every_n
    return level, now, pin, pin


def recall_pin(room: RoomState, waiting: int, config: QueueConfig) -> int:
    """Pin of a returning missed ticket, given the number of callable tickets waiting."""
    if config.recall_rule is RecallRule.END_OF_QUEUE:
        return room.calls + waiting
    return room.calls + config.recall_after_n


def waiting_order(room: RoomState, tickets: Iterable[Ticket]) -> list[Ticket]:
    """The callable tickets of ``room`` in the order they will be called.

    Unpinned tickets are sorted by (level, queue_at, seq); pinned ones are then inserted,
    in (pin, seq) order, ``pin - room.calls`` places from the front (at least 0, after any
    pinned ticket already placed, at most at the end).
    """
    mine = [t for t in tickets if t.room == room.room and t.callable]
    order = sorted((t for t in mine if t.pin is None), key=lambda t: (t.level, t.queue_at, t.seq))
    floor = 0
    for ticket in sorted((t for t in mine if t.pin is not None), key=lambda t: (t.pin, t.seq)):
        assert ticket.pin is not None
        index = min(max(ticket.pin - room.calls, floor), len(order))
        order.insert(index, ticket)
        floor = index + 1
    return order
