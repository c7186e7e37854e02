"""The hub's accession numbers (检查号), as both the hub and the edges read them: the
campus prefix, the local day ``YYMMDD`` and a sequence of at least four digits —
``DG2611250001``. The hub issues them (``hub.services.accession``); an edge reads them
back to tell a restored hub how far it had counted (``edge_gateway.sync.accessions``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

ACCESSION_PREFIXES: dict[str, str] = {"dongge": "DG", "xianhu": "XH"}
"""Two letters that start every accession number of a campus (DG2611250001)."""

MIN_SEQUENCE_DIGITS = 4

_ACCESSION_RE = re.compile(r"^([A-Z]{2})(\d{2})(\d{2})(\d{2})(\d{4,})$")


@dataclass(frozen=True)
class Accession:
    """An accession number taken apart."""

    prefix: str
    day: date
    sequence: int


def accession_prefix(campus: str) -> str:
    """The prefix of ``campus``'s numbers (an unknown campus: its first two letters)."""
    return ACCESSION_PREFIXES.get(campus) or campus[:2].upper()


def format_accession(campus: str, day: date, sequence: int) -> str:
    """``DG`` + ``YYMMDD`` + the sequence, at least four digits (``DG2611250001``)."""
    return f"{accession_prefix(campus)}{day:%y%m%d}{sequence:0{MIN_SEQUENCE_DIGITS}d}"


def parse_accession(text: str) -> Accession | None:
    """``text`` taken apart, or None when it is not in the hub's format (two capital
    letters, a real date ``YYMMDD`` of this century, four or more digits)."""
    match = _ACCESSION_RE.match(text)
    if match is None:
        return None
    prefix, yy, mm, dd, digits = match.groups()
    try:
        day = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return None
    return Accession(prefix, day, int(digits))
