"""``pacs-provision``: will register devices (kiosks, signage boards, edge gateways), enroll
them, issue their broker credentials and ACLs, and publish release bundles for the update
agent. Not part of this release: it says so and exits with status 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence

MESSAGE = (
    "pacs-provision: 设备管理（登记、凭据、发布）尚未包含在本版本中，本版本提供边缘网关 pacs-edge。"
    " / device provisioning is not part of this release yet; the edge gateway (pacs-edge) is."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Print why there is nothing to run here; return 2 (whatever ``argv`` holds)."""
    print(MESSAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
