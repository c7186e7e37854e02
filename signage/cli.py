"""``pacs-signage``: will run the waiting-room call-out board. Not part of this release:
it says so and exits with status 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence

MESSAGE = (
    "pacs-signage: 叫号屏尚未包含在本版本中，本版本提供边缘网关 pacs-edge。"
    " / the call-out board is not part of this release yet; the edge gateway (pacs-edge) is."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Print why there is nothing to run here; return 2 (whatever ``argv`` holds)."""
    print(MESSAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
