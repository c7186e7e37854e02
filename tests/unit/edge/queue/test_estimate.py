from datetime import timedelta

from edge_gateway.queue.actions import call_next, complete
from edge_gateway.queue.estimate import average_service, estimated_waits
from edge_gateway.queue.model import new_queue
from tests.unit.edge.queue.support import Clock, at, config, enqueue


def test_default_service_time_before_any_exam() -> None:
    clock = Clock(at(9))
    queue = new_queue(config(default_service=timedelta(minutes=12)))
    queue, first = enqueue(queue, clock, "a")
    queue, second = enqueue(queue, clock, "b")
    waits = estimated_waits(queue, "ct1", now=clock())
    assert waits == {first: timedelta(0), second: timedelta(minutes=12)}


def test_estimates_follow_observed_moving_average_and_current_exam() -> None:
    clock = Clock(at(9))
    queue = new_queue(config())
    for minutes, patient in ((4, "a"), (8, "b")):
        queue, number = enqueue(queue, clock, patient)
        queue = call_next(queue, "ct1", now=clock.tick()).queue
        queue = complete(queue, number, now=clock.tick(minutes)).queue
    assert average_service(queue.rooms["ct1"], queue.config) == timedelta(minutes=6)
    queue, _ = enqueue(queue, clock, "c")
    queue, next1 = enqueue(queue, clock, "d")
    queue, next2 = enqueue(queue, clock, "e")
    queue = call_next(queue, "ct1", now=clock.tick()).queue  # current being served
    clock.tick(2)
    waits = estimated_waits(queue, "ct1", now=clock())
    assert list(waits) == [next1, next2]
    assert waits[next1] == timedelta(minutes=4)  # 6 − 2 elapsed
    assert waits[next2] == timedelta(minutes=10)
    clock.tick(30)  # overrunning exam: nothing negative
    assert estimated_waits(queue, "ct1", now=clock())[next1] == timedelta(0)
