"""The queue's part of the edge demo: the patient checks in, the technician calls them,
the modality's MPPS completes their ticket — narrated with masked names only, as a board
in the waiting room would show and say it."""

from __future__ import annotations

import time

from edge_gateway.bus.views import room_labels, spoken_text
from edge_gateway.demo.modality import WorklistItem
from edge_gateway.demo.run import say
from edge_gateway.queue.desk import RoomAction
from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import TicketState
from edge_gateway.queue_runtime import QueueRuntime

_DONE_WAIT_S = 20.0


def check_in_and_call(runtime: QueueRuntime, item: WorklistItem, tag: str) -> str | None:
    """Check the patient of ``item`` in (as the kiosk or the desk would) and call them to
    their room (as the technician's console would); returns the ticket number."""
    desk = runtime.desk
    try:
        checked = desk.check_in(accession=item.accession)
    except QueueError as refused:
        say(f"{tag} [签到 check-in] {item.accession}: {refused}")
        return None
    ticket = checked[0].ticket
    label = room_labels(desk.queue, ticket.room).get(ticket.number, "")
    room = desk.queue.rooms[ticket.room]
    say(f"{tag} [签到 check-in] {ticket.number} {label} → {room.label} 候检 / waiting")
    if room.serving is not None:  # the demo's CT finishes each exam before the next call
        desk.act(RoomAction.COMPLETE, ticket=room.serving)
    try:
        desk.act(RoomAction.CALL_NEXT, room=ticket.room)
    except QueueError as refused:
        say(f"{tag} [叫号 call] {refused}")
        return ticket.number
    called = desk.queue.tickets[ticket.number]
    if called.status is TicketState.CALLED:
        masked = room_labels(desk.queue, ticket.room).get(ticket.number, "")
        say(f"{tag} [叫号 call] {spoken_text(ticket.number, masked, room.label)}")
    return ticket.number


def await_done(runtime: QueueRuntime, number: str, tag: str) -> None:
    """Wait (briefly) for the MPPS COMPLETED of the exam to complete the ticket."""
    deadline = time.monotonic() + _DONE_WAIT_S
    while time.monotonic() < deadline:
        ticket = runtime.desk.queue.tickets.get(number)
        if ticket is not None and ticket.status is TicketState.DONE:
            say(f"{tag} [完成 done] {number} 检查完成（MPPS） / exam completed by the modality")
            return
        time.sleep(0.1)
    say(f"{tag} [完成 done] {number} 未收到完成信息 / no completion seen yet")
