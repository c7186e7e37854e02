"""Exponential back-off with full jitter, capped (for retries against the hub).

With ``n`` failures in a row the wait is drawn uniformly from ``[floor, ceiling(n)]``
where ``ceiling(n) = min(cap, base · 2^(n-1))``: many edges that lost the hub together do
not come back in step, and no wait is ever longer than ``cap``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackoffPolicy:
    base: float = 1.0
    """Ceiling of the first wait, seconds."""
    cap: float = 300.0
    """No wait is longer."""
    floor: float = 0.2
    """No wait is shorter (a retry loop never spins)."""

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.base <= self.cap:
            raise ValueError("back-off needs 0 < floor <= base <= cap")

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` failures in a row (``failures`` >= 1)."""
        exponent = min(max(failures, 1) - 1, 62)
        return float(min(self.cap, self.base * 2.0**exponent))

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """A wait in seconds after ``failures`` failures in a row, within
        ``[floor, ceiling(failures)]``."""
        draw = (rng or random).uniform(0.0, self.ceiling(failures))
        return max(self.floor, draw)


@dataclass
class Backoff:
    """The failure count of one retry loop: ``failed()`` gives the next wait,
    ``succeeded()`` starts over. Not thread-safe (one per loop)."""

    policy: BackoffPolicy
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def failed(self) -> float:
        self.failures += 1
        return self.policy.delay(self.failures, self.rng)

    def longest(self) -> float:
        """A long wait (the cap), for failures retrying soon cannot cure (a refused
        token); counts as a failure."""
        self.failures += 1
        return self.policy.cap

    def succeeded(self) -> None:
        self.failures = 0
