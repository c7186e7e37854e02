"""Back-off of the sync agent: exponential ceilings, the cap, the floor, full jitter."""

from __future__ import annotations

import random
import statistics

import pytest

from edge_gateway.sync.backoff import Backoff, BackoffPolicy


def test_ceiling_doubles_then_stops_at_the_cap() -> None:
    policy = BackoffPolicy(base=1.0, cap=300.0)
    assert [policy.ceiling(n) for n in range(1, 11)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        64.0,
        128.0,
        256.0,
        300.0,
    ]
    assert policy.ceiling(10_000) == 300.0  # no overflow after days of failures


def test_every_delay_is_within_floor_and_ceiling() -> None:
    policy = BackoffPolicy(base=1.0, cap=300.0, floor=0.2)
    rng = random.Random(7)
    for failures in range(1, 40):
        for _ in range(200):
            delay = policy.delay(failures, rng)
            assert policy.floor <= delay <= policy.ceiling(failures)


def test_full_jitter_spreads_retries_over_the_whole_range() -> None:
    policy = BackoffPolicy(base=1.0, cap=300.0)
    rng = random.Random(11)
    delays = [policy.delay(20, rng) for _ in range(2000)]
    # uniform over [0, 300]: edges that lost the hub together come back spread out
    assert min(delays) < 30 and max(delays) > 270
    assert 130 < statistics.mean(delays) < 170


def test_backoff_counts_failures_and_starts_over_on_success() -> None:
    loop = Backoff(BackoffPolicy(base=1.0, cap=8.0), random.Random(3))
    waits = [loop.failed() for _ in range(6)]
    assert loop.failures == 6
    assert all(w <= 8.0 for w in waits)
    assert loop.longest() == 8.0
    loop.succeeded()
    assert loop.failures == 0
    assert loop.failed() <= 1.0


@pytest.mark.parametrize(("base", "cap", "floor"), [(0, 1, 0.1), (2, 1, 0.1), (1, 2, 0)])
def test_inconsistent_policy_is_refused(base: float, cap: float, floor: float) -> None:
    with pytest.raises(ValueError, match="back-off"):
        BackoffPolicy(base=base, cap=cap, floor=floor)
