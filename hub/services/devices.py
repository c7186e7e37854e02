"""Devices that call the hub with their own token (edge gateways)."""

from __future__ import annotations

import secrets

from sqlmodel import Session, select

from hub.models.base import utcnow
from hub.models.people import Device
from hub.security.tokens import device_token_hash, new_device_token
from shared.settings import CAMPUSES

DEVICE_KINDS = ("edge",)


class DeviceError(ValueError):
    """A device request that cannot be carried out; the message says why."""


def add_device(
    *, session: Session, kind: str, campus: str, device_id: str | None = None
) -> tuple[Device, str]:
    """Register a device; return it and its token (shown once, stored only hashed)."""
    if kind not in DEVICE_KINDS:
        raise DeviceError(f"device kind must be one of {', '.join(DEVICE_KINDS)}")
    if campus not in CAMPUSES:
        raise DeviceError(f"campus must be one of {', '.join(CAMPUSES)}")
    device_id = device_id or f"{kind}-{campus}-{secrets.token_hex(3)}"
    if session.exec(select(Device).where(Device.device_id == device_id)).first() is not None:
        raise DeviceError(f"device id {device_id!r} is taken")
    token = new_device_token()
    device = Device(
        device_id=device_id,
        kind=kind,
        campus=campus,
        token_hash=device_token_hash(token),
        created_at=utcnow(),
    )
    session.add(device)
    session.flush()
    return device, token


def device_for_token(session: Session, token: str) -> Device | None:
    """The active device holding ``token``, or None."""
    device = session.exec(
        select(Device).where(Device.token_hash == device_token_hash(token))
    ).first()
    if device is None or device.revoked:
        return None
    return device
