"""The queue state machine: every action takes a CampusQueue and ``now`` and returns an
:class:`Outcome` (the new queue and the transition records an outbox will carry), or
raises :class:`~edge_gateway.queue.errors.QueueError` with a Chinese-then-English sentence.

Ticket life: WAITING → CALLED (call_next; recall repeats the call) → IN_EXAM (start, e.g. on
MPPS IN PROGRESS) → DONE (complete). A CALLED ticket may be marked MISSED (过号) and later
returned to WAITING by the recall rule, or sent out for preparation (WAITING with prep OUT)
and taken back (prep BACK, its original place). Active tickets may be transferred or
cancelled. A room serves one ticket at a time; a paused room refuses calls but still
takes check-ins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import (
    ACTIVE_STATES,
    Action,
    CampusQueue,
    CheckInRequest,
    PrepState,
    RoomState,
    Ticket,
    TicketState,
    Transition,
)
from edge_gateway.queue.numbering import business_day, issue_number
from edge_gateway.queue.ordering import classify, place_late, recall_pin, waiting_order


@dataclass(frozen=True)
class Outcome:
    """Result of an action: the new queue and what happened, in order."""

    queue: CampusQueue
    transitions: tuple[Transition, ...]


def get_room(queue: CampusQueue, room: str) -> RoomState:
    """The room ``room``; raises QueueError if the campus has none of that id."""
    try:
        return queue.rooms[room]
    except KeyError:
        raise QueueError(f"没有{room}检查室", f"no room {room}: check the room name") from None


def get_ticket(queue: CampusQueue, number: str) -> Ticket:
    """The ticket ``number``; raises QueueError if there is none today."""
    try:
        return queue.tickets[number]
    except KeyError:
        raise QueueError(f"没有{number}号", f"no ticket {number}: check the number") from None


def room_order(queue: CampusQueue, room: str) -> list[Ticket]:
    """The callable tickets of ``room`` in call order (see ordering.waiting_order)."""
    return waiting_order(get_room(queue, room), queue.tickets.values())


def _load(queue: CampusQueue, room: str) -> int:
    state = queue.rooms[room]
    return len(room_order(queue, room)) + (1 if state.serving else 0)


def _apply(
    queue: CampusQueue,
    ticket: Ticket,
    now: datetime,
    action: Action,
    detail: str = "",
    rooms: dict[str, RoomState] | None = None,
    **changes: object,
) -> Outcome:
    """Replace ``ticket`` with ``changes`` applied (and rooms if given), record it."""
    updated = replace(ticket, **changes)  # type: ignore[arg-type]
    record = Transition(
        at=now,
        campus=queue.config.campus,
        room=updated.room,
        ticket=ticket.number,
        action=action,
        from_state=ticket.status,
        to_state=updated.status,
        detail=detail,
    )
    updated = replace(updated, history=(*ticket.history, record))
    tickets = {**queue.tickets, ticket.number: updated}
    new_rooms = {**queue.rooms, **(rooms or {})}
    return Outcome(replace(queue, tickets=tickets, rooms=new_rooms), (record,))


def start_day(queue: CampusQueue, *, now: datetime) -> CampusQueue:
    """Drop tickets of earlier business days (run after the daily reset; idempotent).

    A room left without tickets starts its call counter afresh; a room whose ticket in
    service was dropped is freed. Rooms still holding today's tickets keep their counters,
    since those tickets' pins refer to them.
    """
    config = queue.config
    today = business_day(now, reset=config.reset_time, zone=config.zone)
    tickets = {n: t for n, t in queue.tickets.items() if t.day >= today}
    if len(tickets) == len(queue.tickets):
        return queue
    occupied = {t.room for t in tickets.values()}
    rooms: dict[str, RoomState] = {}
    for room, state in queue.rooms.items():
        if state.serving is not None and state.serving not in tickets:
            state = replace(state, serving=None)
        if room not in occupied:
            state = replace(state, calls=0, late_anchor=None)
        rooms[room] = state
    return replace(queue, tickets=tickets, rooms=rooms)


def route(queue: CampusQueue, modality: str, station_ae: str = "") -> RoomState:
    """The room a new ticket of ``modality`` goes to: the room of the scanner the exam is
    booked on (``station_ae``) while it is open; else the open room with the shortest
    queue (waiting + serving), ties by configuration order; paused rooms only if all are
    paused. Raises QueueError when no room serves the modality."""
    configs = [r for r in queue.config.rooms if r.modality == modality]
    if not configs:
        raise QueueError(f"本院区没有{modality}检查室", f"no {modality} room here: ask the desk")
    rooms = [queue.rooms[r.room] for r in configs]
    booked = [queue.rooms[r.room] for r in configs if station_ae and r.station_ae == station_ae]
    if booked and not booked[0].paused:
        return booked[0]
    open_rooms = [r for r in rooms if not r.paused] or rooms
    return min(open_rooms, key=lambda r: _load(queue, r.room))


def check_in(queue: CampusQueue, request: CheckInRequest, *, now: datetime) -> Outcome:
    """Issue a ticket for ``request`` and place it in a room's queue.

    Raises QueueError when the patient already holds an active ticket for the modality
    (the message gives its number), when no room serves it, when a forced room serves
    another modality, or when the patient is too early (see ordering.classify).
    """
    config = queue.config
    for held in queue.tickets.values():
        if (
            held.patient_id == request.patient_id
            and held.modality == request.modality
            and held.status in ACTIVE_STATES
        ):
            raise QueueError(
                f"已签到，您的号码是{held.number}",
                f"already checked in with ticket {held.number}: wait to be called",
            )
    if request.room is not None:
        room = get_room(queue, request.room)
        if room.modality != request.modality:
            raise QueueError(
                f"{room.label}室不做{request.modality}检查",
                f"room {room.label} does not serve {request.modality}: choose another room",
            )
    else:
        room = route(queue, request.modality, request.station_ae)
    level, group, late = classify(request, config, now)
    queue_at, pin, anchor = now, None, room.late_anchor
    if late:
        level, queue_at, pin, anchor = place_late(level, now, room, config)
    prefix = config.prefixes[request.modality]
    number, counter = issue_number(
        queue.counters.get(prefix),
        prefix=prefix,
        now=now,
        reset=config.reset_time,
        zone=config.zone,
        width=config.number_width,
    )
    ticket = Ticket(
        number=number,
        prefix=prefix,
        seq=counter.last,
        day=counter.day,
        campus=config.campus,
        room=room.room,
        modality=request.modality,
        patient_id=request.patient_id,
        full_name=request.full_name,
        level=level,
        special_group=group,
        checked_in_at=now,
        appointment_at=request.appointment_at,
        queue_at=queue_at,
        late=late,
        pin=pin,
        accessions=request.accessions,
    )
    queue = replace(queue, counters={**queue.counters, prefix: counter})
    detail = f"level={level.name.lower()}" + (" late" if late else "")
    rooms = {room.room: replace(room, late_anchor=anchor)}
    return _apply(queue, ticket, now, Action.CHECK_IN, detail, rooms=rooms)


def call_next(queue: CampusQueue, room: str, *, now: datetime) -> Outcome:
    """Call the first callable ticket of ``room``. Raises QueueError when the room is
    paused, still serving a ticket, or has nobody waiting."""
    state = get_room(queue, room)
    if state.paused:
        raise QueueError(
            f"{state.label}室已暂停，不能叫号", f"room {state.label} is paused: resume it first"
        )
    if state.serving is not None:
        raise QueueError(
            f"{state.label}室正在检查{state.serving}号，请先完成或过号",
            f"room {state.label} is still serving {state.serving}: complete it or mark it missed",
        )
    order = room_order(queue, room)
    if not order:
        raise QueueError(
            f"{state.label}室没有候检患者", f"nobody is waiting for room {state.label}"
        )
    ticket = order[0]
    rooms = {room: replace(state, serving=ticket.number, calls=state.calls + 1)}
    return _apply(
        queue,
        ticket,
        now,
        Action.CALL,
        rooms=rooms,
        status=TicketState.CALLED,
        called_at=now,
        call_attempts=1,
        pin=None,
        prep=PrepState.NONE,
    )


def _served(queue: CampusQueue, number: str, verb_zh: str, verb_en: str) -> Ticket:
    ticket = get_ticket(queue, number)
    if ticket.status not in (TicketState.CALLED, TicketState.IN_EXAM):
        raise QueueError(
            f"{number}号未被叫号，不能{verb_zh}",
            f"ticket {number} has not been called: call it before you {verb_en} it",
        )
    return ticket


def recall(queue: CampusQueue, number: str, *, now: datetime) -> Outcome:
    """Repeat the call of a CALLED ticket (重呼); raises QueueError for any other state."""
    ticket = get_ticket(queue, number)
    if ticket.status is not TicketState.CALLED:
        raise QueueError(
            f"{number}号不在叫号中，不能重呼",
            f"ticket {number} is not being called: only a called ticket can be recalled",
        )
    attempts = ticket.call_attempts + 1
    return _apply(queue, ticket, now, Action.RECALL, f"attempt={attempts}", call_attempts=attempts)


def start_exam(queue: CampusQueue, number: str, *, now: datetime) -> Outcome:
    """Mark a CALLED ticket as in exam (the patient arrived at the modality)."""
    ticket = get_ticket(queue, number)
    if ticket.status is not TicketState.CALLED:
        raise QueueError(
            f"{number}号未被叫号，不能开始检查",
            f"ticket {number} has not been called: call it first",
        )
    return _apply(queue, ticket, now, Action.START, status=TicketState.IN_EXAM)


def _free(queue: CampusQueue, ticket: Ticket) -> dict[str, RoomState]:
    state = queue.rooms[ticket.room]
    return {ticket.room: replace(state, serving=None)} if state.serving == ticket.number else {}


def skip(queue: CampusQueue, number: str, *, now: datetime) -> Outcome:
    """Mark a CALLED ticket missed (过号) and free its room."""
    ticket = get_ticket(queue, number)
    if ticket.status is not TicketState.CALLED:
        raise QueueError(
            f"{number}号不在叫号中，不能过号",
            f"ticket {number} is not being called: only a called ticket can be marked missed",
        )
    return _apply(
        queue,
        ticket,
        now,
        Action.MISS,
        rooms=_free(queue, ticket),
        status=TicketState.MISSED,
        missed_count=ticket.missed_count + 1,
        called_at=None,
    )


def return_missed(queue: CampusQueue, number: str, *, now: datetime) -> Outcome:
    """Put a MISSED ticket whose patient came back into its room's queue by the recall
    rule (after N calls, or after everyone now waiting)."""
    ticket = get_ticket(queue, number)
    if ticket.status is not TicketState.MISSED:
        raise QueueError(
            f"{number}号未过号，无需召回", f"ticket {number} is not missed: nothing to return"
        )
    state = queue.rooms[ticket.room]
    pin = recall_pin(state, len(room_order(queue, ticket.room)), queue.config)
    return _apply(
        queue, ticket, now, Action.RETURN, f"pin={pin}", status=TicketState.WAITING, pin=pin
    )


def send_to_prep(queue: CampusQueue, number: str, *, now: datetime, reason: str = "") -> Outcome:
    """Send a WAITING or CALLED ticket out for preparation (drinking water, contrast);
    it is not called until :func:`back_from_prep`. Frees the room if it was being served."""
    ticket = get_ticket(queue, number)
    if ticket.status not in (TicketState.WAITING, TicketState.CALLED) or (
        ticket.prep is PrepState.OUT
    ):
        raise QueueError(
            f"{number}号当前不能去准备",
            f"ticket {number} cannot go to preparation now: only a waiting or called ticket can",
        )
    return _apply(
        queue,
        ticket,
        now,
        Action.PREP_OUT,
        reason,
        rooms=_free(queue, ticket),
        status=TicketState.WAITING,
        prep=PrepState.OUT,
        called_at=None,
    )


def back_from_prep(queue: CampusQueue, number: str, *, now: datetime) -> Outcome:
    """Make a ticket back from preparation callable again, at its original place."""
    ticket = get_ticket(queue, number)
    if ticket.prep is not PrepState.OUT or ticket.status is not TicketState.WAITING:
        raise QueueError(
            f"{number}号不在准备中", f"ticket {number} is not out for preparation: nothing to do"
        )
    return _apply(queue, ticket, now, Action.PREP_BACK, prep=PrepState.BACK)


def transfer(queue: CampusQueue, number: str, to_room: str, *, now: datetime) -> Outcome:
    """Move an active ticket to another room of the same modality. It waits there by its
    level and original check-in time (fair across rooms); pins are dropped, a called or
    missed ticket becomes waiting, and its old room is freed."""
    ticket = get_ticket(queue, number)
    target = get_room(queue, to_room)
    if ticket.status not in ACTIVE_STATES:
        raise QueueError(
            f"{number}号已结束，不能转室", f"ticket {number} is finished: it cannot be transferred"
        )
    if target.room == ticket.room:
        raise QueueError(
            f"{number}号已在{target.label}室", f"ticket {number} is already in room {target.label}"
        )
    if target.modality != ticket.modality:
        raise QueueError(
            f"{target.label}室不做{ticket.modality}检查",
            f"room {target.label} does not serve {ticket.modality}: choose another room",
        )
    return _apply(
        queue,
        ticket,
        now,
        Action.TRANSFER,
        f"from={ticket.room}",
        rooms=_free(queue, ticket),
        room=target.room,
        status=TicketState.WAITING,
        pin=None,
        called_at=None,
    )


def _room_event(queue: CampusQueue, state: RoomState, now: datetime, action: Action) -> Outcome:
    record = Transition(now, queue.config.campus, state.room, None, action, None, None)
    return Outcome(replace(queue, rooms={**queue.rooms, state.room: state}), (record,))


def pause(queue: CampusQueue, room: str, *, now: datetime) -> Outcome:
    """Pause a room (暂停): calls are refused until resumed; check-ins prefer other rooms."""
    state = get_room(queue, room)
    if state.paused:
        raise QueueError(f"{state.label}室已暂停", f"room {state.label} is already paused")
    return _room_event(queue, replace(state, paused=True), now, Action.PAUSE)


def resume(queue: CampusQueue, room: str, *, now: datetime) -> Outcome:
    """Resume a paused room."""
    state = get_room(queue, room)
    if not state.paused:
        raise QueueError(f"{state.label}室未暂停", f"room {state.label} is not paused")
    return _room_event(queue, replace(state, paused=False), now, Action.RESUME)


def complete(queue: CampusQueue, number: str, *, now: datetime) -> Outcome:
    """Complete a CALLED or IN_EXAM ticket; its call-to-completion time feeds the room's
    service-time average."""
    ticket = _served(queue, number, "完成", "complete")
    state = queue.rooms[ticket.room]
    rooms = _free(queue, ticket)
    if ticket.called_at is not None:
        seconds = (now - ticket.called_at).total_seconds()
        window = queue.config.service_window
        durations = (*state.durations, max(seconds, 0.0))[-window:]
        rooms = {ticket.room: replace(rooms.get(ticket.room, state), durations=durations)}
    return _apply(
        queue,
        ticket,
        now,
        Action.COMPLETE,
        rooms=rooms,
        status=TicketState.DONE,
        prep=PrepState.NONE,
    )


def complete_by_accession(queue: CampusQueue, accession: str, *, now: datetime) -> Outcome:
    """Complete the active ticket holding ``accession`` (MPPS COMPLETED).

    Called or in-exam tickets complete as by :func:`complete`; a waiting or missed one
    (the queue lagged behind the modality) is completed without a service time. No active
    ticket with that accession → the queue unchanged and no transitions (MPPS for a
    patient who never queued, or a repeat).
    """
    for ticket in queue.tickets.values():
        if accession in ticket.accessions and ticket.status in ACTIVE_STATES:
            if ticket.status in (TicketState.CALLED, TicketState.IN_EXAM):
                return complete(queue, ticket.number, now=now)
            return _apply(
                queue,
                ticket,
                now,
                Action.COMPLETE,
                "mpps",
                status=TicketState.DONE,
                pin=None,
                prep=PrepState.NONE,
            )
    return Outcome(queue, ())


DISCONTINUED_REASON = "mpps discontinued"
"""The detail of a cancel the modality's MPPS DISCONTINUED made."""


def discontinue_by_accession(queue: CampusQueue, accession: str, *, now: datetime) -> Outcome:
    """The modality stopped the exam holding ``accession`` (MPPS DISCONTINUED): its active
    ticket is cancelled and its room freed. The step leaves the worklist with it, so the
    exam is redone only after the desk books it again, and the patient then checks in
    again. No active ticket with that accession → the queue unchanged, no transitions."""
    for ticket in queue.tickets.values():
        if accession in ticket.accessions and ticket.status in ACTIVE_STATES:
            return cancel(queue, ticket.number, now=now, reason=DISCONTINUED_REASON)
    return Outcome(queue, ())


def cancel(queue: CampusQueue, number: str, *, now: datetime, reason: str = "") -> Outcome:
    """Cancel an active ticket (patient left, order withdrawn) and free its room."""
    ticket = get_ticket(queue, number)
    if ticket.status not in ACTIVE_STATES:
        raise QueueError(
            f"{number}号已结束，不能取消", f"ticket {number} is finished: it cannot be cancelled"
        )
    return _apply(
        queue,
        ticket,
        now,
        Action.CANCEL,
        reason,
        rooms=_free(queue, ticket),
        status=TicketState.CANCELLED,
        pin=None,
    )
