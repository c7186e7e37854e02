"""Known DICOM peers (modalities, workstations) and what each may do.

The peers file is TOML::

    [[peer]]
    ae_title = "CT1"
    host = "10.20.1.21"
    port = 104
    allow = ["store", "worklist", "mpps", "query", "retrieve"]
    description = "东葛 CT1 (Siemens)"

A peer with a host and port can also be a C-MOVE destination.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Permission(StrEnum):
    """What a calling AE may ask of the gateway."""

    ECHO = "echo"
    STORE = "store"
    QUERY = "query"
    RETRIEVE = "retrieve"
    WORKLIST = "worklist"
    MPPS = "mpps"


ALL_PERMISSIONS = frozenset(Permission)


class PeersFileError(ValueError):
    """The peers file cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class Peer:
    ae_title: str
    host: str | None = None
    port: int | None = None
    allow: frozenset[Permission] = field(default_factory=frozenset)
    description: str = ""

    @property
    def is_destination(self) -> bool:
        return self.host is not None and self.port is not None


@dataclass(frozen=True)
class PeerTable:
    """Who may connect and do what.

    With ``accept_any`` an unknown calling AE may do everything (for commissioning);
    without it, unknown AEs are rejected when they ask to associate.
    """

    peers: dict[str, Peer] = field(default_factory=dict)
    accept_any: bool = False

    def get(self, ae_title: str) -> Peer | None:
        return self.peers.get(ae_title.strip())

    def is_known(self, ae_title: str) -> bool:
        return self.get(ae_title) is not None

    def allows(self, ae_title: str, permission: Permission) -> bool:
        peer = self.get(ae_title)
        if peer is None:
            return self.accept_any
        return permission in peer.allow or permission is Permission.ECHO

    def destination(self, ae_title: str) -> Peer | None:
        """Return the C-MOVE destination called ``ae_title``, or None if unknown."""
        peer = self.get(ae_title)
        return peer if peer is not None and peer.is_destination else None


def load_peers(path: Path | None, *, accept_any: bool = False) -> PeerTable:
    """Read a peers file; ``path=None`` gives an empty table.

    Raises ``PeersFileError`` naming the entry for a missing AE title, a bad port,
    an unknown permission or a duplicate AE title.
    """
    if path is None:
        return PeerTable({}, accept_any)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PeersFileError(f"cannot read peers file {path}: {exc}") from exc
    peers: dict[str, Peer] = {}
    for index, entry in enumerate(data.get("peer", []), start=1):
        peer = _parse_entry(entry, index, path)
        if peer.ae_title in peers:
            raise PeersFileError(f"{path}: peer #{index}: AE title {peer.ae_title!r} appears twice")
        peers[peer.ae_title] = peer
    return PeerTable(peers, accept_any)


def _parse_entry(entry: object, index: int, path: Path) -> Peer:
    where = f"{path}: peer #{index}"
    if not isinstance(entry, dict):
        raise PeersFileError(f"{where}: expected a table")
    ae_title = str(entry.get("ae_title", "")).strip()
    if not ae_title or len(ae_title) > 16:
        raise PeersFileError(f"{where}: ae_title must be 1-16 characters")
    host = entry.get("host")
    port = entry.get("port")
    if (host is None) != (port is None):
        raise PeersFileError(f"{where} ({ae_title}): give both host and port, or neither")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        raise PeersFileError(f"{where} ({ae_title}): port must be 1-65535")
    allow_raw = entry.get("allow", ["echo"])
    if allow_raw == ["*"] or allow_raw == "*":
        allow = ALL_PERMISSIONS
    else:
        try:
            allow = frozenset(Permission(str(p).lower()) for p in allow_raw)
        except ValueError as exc:
            known = ", ".join(p.value for p in Permission)
            raise PeersFileError(f"{where} ({ae_title}): {exc}; known: {known}") from exc
    return Peer(
        ae_title=ae_title,
        host=str(host) if host is not None else None,
        port=port,
        allow=allow,
        description=str(entry.get("description", "")),
    )
