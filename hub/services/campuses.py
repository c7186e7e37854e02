"""Campus codes as the services accept them."""

from __future__ import annotations

from hub.services.errors import Invalid
from shared.settings import CAMPUSES


def check_campus(campus: str) -> str:
    """``campus`` if it is a known campus code, else ``Invalid`` (400) — checked before
    the person's campus rights so that a typo is not reported as a permission problem."""
    if campus not in CAMPUSES:
        names = "、".join(f"{code}（{label}）" for code, label in CAMPUSES.items())
        raise Invalid(
            f"院区代码 {campus!r} 无效，应为 {names} / unknown campus {campus!r}: "
            f"use one of {', '.join(CAMPUSES)}"
        )
    return campus


def campus_name(campus: str) -> str:
    """The Chinese name of a campus (``东葛``), or the code when unknown."""
    return CAMPUSES.get(campus, campus)
