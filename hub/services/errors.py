"""Errors a service raises when a request cannot be carried out.

Each carries one sentence for the person (Chinese first, then English, saying what to
do) and optional extra fields; ``hub.api.errors`` turns them into HTTP answers
(``NotFound`` 404, ``Conflict`` 409, ``Invalid`` 400) with the sentence in ``detail``.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of the errors below; ``extra`` is added beside ``detail`` in the answer."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(ServiceError):
    """The named patient, order, room, slot … does not exist."""


class Conflict(ServiceError):
    """The request clashes with the current state (duplicate, slot full, cancelled …)."""


class Invalid(ServiceError):
    """The request itself is wrong (bad identity-card number, unknown campus …)."""
