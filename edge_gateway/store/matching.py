"""DICOM attribute matching (PS3.4 C.2.2.2) turned into SQL conditions.

Supported: universal (empty), single value, wildcard (``*`` and ``?``), UID list
(backslash-separated), date and time ranges (``A-B``, ``-B``, ``A-``) and, for person
names, matching any component group (alphabetic, ideographic).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, literal, or_
from sqlalchemy.sql.elements import ColumnElement as _Col

_ESCAPE = "!"


def has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def like_pattern(value: str) -> str:
    """Translate a DICOM wildcard value into a LIKE pattern escaped with ``!``."""
    out = []
    for ch in value:
        if ch in ("%", "_", _ESCAPE):
            out.append(_ESCAPE + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def text_match(column: _Col[str], value: str) -> ColumnElement[bool]:
    """Single value or wildcard match of a text column (trailing spaces ignored)."""
    value = value.strip()
    if has_wildcard(value):
        if value.strip("*") == "":
            return literal(True)
        return column.like(like_pattern(value), escape=_ESCAPE)
    return column == value


def pn_match(columns: Sequence[_Col[str]], value: str) -> ColumnElement[bool]:
    """Match a person name against any of ``columns`` (full name, alphabetic and
    ideographic groups). A value without ``^`` also matches the name written without
    separators, so ``张三*`` finds ``张^三丰``."""
    value = value.strip().rstrip("=")
    conditions = [text_match(col, value) for col in columns]
    if "^" not in value and "=" not in value:
        conditions.extend(text_match(func.replace(col, "^", ""), value) for col in columns)
    return or_(*conditions)


def uid_match(column: _Col[str], value: str) -> ColumnElement[bool]:
    """List of UID matching: ``uid1\\uid2`` matches either."""
    uids = [u.strip() for u in value.split("\\") if u.strip()]
    if len(uids) == 1:
        return column == uids[0]
    return column.in_(uids)


def range_match(column: _Col[str], value: str, width: int) -> ColumnElement[bool]:
    """Date (width 8) or time (width 6) matching, single value or range.

    Times are compared on their first ``width`` characters, so ``0930`` and
    ``093000.123`` compare as the same minute start.
    """
    value = value.strip()
    target = func.substr(column, 1, width) if width == 6 else column
    if "-" not in value:
        if width == 6:
            return func.substr(column, 1, len(value)) == value
        return column == value
    low, high = (part.strip() for part in value.split("-", 1))
    conditions: list[ColumnElement[bool]] = [column != ""]
    if low:
        conditions.append(target >= _pad(low, width, "0"))
    if high:
        conditions.append(target <= _pad(high, width, "9"))
    return and_(*conditions)


def _pad(value: str, width: int, fill: str) -> str:
    value = value.split(".")[0].replace(":", "")
    return value[:width].ljust(width, fill)
