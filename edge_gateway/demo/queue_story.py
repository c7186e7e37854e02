"""The queue's part of the edge demo: the patient checks in, the technician calls them,
the modality's MPPS completes their ticket — narrated with masked names only, as a board
in the waiting room would show and say it."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_gateway.bus.views import room_labels, spoken_text
from edge_gateway.demo.modality import WorklistItem
from edge_gateway.demo.run import say
from edge_gateway.queue.desk import RoomAction
from edge_gateway.queue.errors import QueueError
from edge_gateway.queue.model import TicketState
from edge_gateway.queue_runtime import QueueRuntime
from shared.mqtt.broker import parse_broker_url
from shared.mqtt.envelope import PayloadError, decode_envelope
from shared.mqtt.payloads import DeviceKind, DeviceStatus
from shared.mqtt.topics import DeviceStatusTopic, TopicKind

_DONE_WAIT_S = 20.0
BOARD_WAIT_S = 20.0


def await_board(url: str, campus: str, tag: str, timeout: float = BOARD_WAIT_S) -> bool:
    """Wait until a signage board of ``campus`` says it is online on the broker at ``url``
    (its retained birth), so the demo's calls are not made before anyone listens. Returns
    False (and the demo goes on) when none appears in ``timeout`` seconds."""
    address = parse_broker_url(url)
    seen = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"demo-watch-{campus}",
        protocol=mqtt.MQTTv5 if address.protocol == "5" else mqtt.MQTTv311,
    )

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            status = decode_envelope(message.payload, kind=TopicKind.DEVICE_STATUS)
        except PayloadError:
            return
        body = status.body
        if isinstance(body, DeviceStatus) and body.online and body.kind is DeviceKind.SIGNAGE:
            seen.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(DeviceStatusTopic.filter(campus).pattern, 1)
    try:
        client.connect(address.host, address.port)
    except OSError as exc:
        say(f"{tag} 无法连接叫号消息服务器 / cannot reach the queue broker: {exc}")
        return False
    client.loop_start()
    try:
        if seen.wait(timeout):
            say(f"{tag} 叫号屏已上线 / a call-out board is online")
            return True
        say(f"{tag} 没有叫号屏上线，继续演示 / no board came online; going on without one")
        return False
    finally:
        client.disconnect()
        client.loop_stop()


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
