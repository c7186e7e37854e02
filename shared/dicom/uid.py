"""UID generation under the hospital's organisation root.

A UID is at most 64 characters of digits and dots; components have no leading zero.
The org root is configured per deployment (the edge reads ``PACS_EDGE_UID_ROOT``);
pydicom's own root is used when none is set so that a fresh install still produces
valid UIDs.
"""

from __future__ import annotations

import re
import uuid

from pydicom.uid import PYDICOM_ROOT_UID

_ROOT_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*\.$")
_MAX_LEN = 64


class UidFactory:
    """Makes new UIDs ``<root><decimal of a random 128-bit number>`` (clipped to 64 chars).

    Raises ``ValueError`` for a root that is not a valid UID prefix ending in ``.``
    or that leaves fewer than 20 digits of room.
    """

    def __init__(self, root: str | None = None) -> None:
        root = root or PYDICOM_ROOT_UID
        if not root.endswith("."):
            root += "."
        if not _ROOT_RE.match(root):
            raise ValueError(f"UID root {root!r} must be digits separated by dots")
        if len(root) > _MAX_LEN - 20:
            raise ValueError(f"UID root {root!r} is too long: at most {_MAX_LEN - 20} characters")
        self.root = root

    def new(self) -> str:
        """Return a new, globally unique UID."""
        digits = str(uuid.uuid4().int)
        uid = (self.root + digits)[:_MAX_LEN]
        # A clipped component must not end up with a leading zero.
        last = uid.rsplit(".", 1)[1]
        if len(last) > 1 and last.startswith("0"):
            uid = uid[: len(uid) - len(last)] + "1" + last[1:]
        return uid


def is_valid_uid(value: str) -> bool:
    """True when ``value`` is a syntactically valid UID (PS3.5 9.1)."""
    return 0 < len(value) <= _MAX_LEN and bool(_ROOT_RE.match(value + "."))
