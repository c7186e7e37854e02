"""Devices that call the hub with their own token (信息科): list, enrol, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel
from sqlmodel import col, select

from hub.api.deps import Principal, RequireRoles, SessionDep
from hub.api.schemas import Page
from hub.models.people import Device
from hub.security.roles import Role
from hub.services import audit
from hub.services.devices import DeviceError, add_device

router = APIRouter(prefix="/devices", tags=["devices"])

Admin = Annotated[Principal, Depends(RequireRoles(Role.IT_ADMIN))]


class DeviceCreate(BaseModel):
    kind: str = "edge"
    campus: str
    device_id: str | None = None


class DevicePublic(BaseModel):
    device_id: str
    kind: str
    campus: str
    revoked: bool
    created_at: datetime
    last_seen_at: datetime | None

    @classmethod
    def of(cls, device: Device) -> DevicePublic:
        return cls(
            device_id=device.device_id,
            kind=device.kind,
            campus=device.campus,
            revoked=device.revoked,
            created_at=device.created_at,
            last_seen_at=device.last_seen_at,
        )


class DeviceEnrolled(DevicePublic):
    token: str
    """Shown once: the hub keeps only its hash."""


@router.get("")
def list_devices(principal: Admin, session: SessionDep) -> Page[DevicePublic]:
    devices = session.exec(select(Device).order_by(col(Device.device_id))).all()
    return Page(data=[DevicePublic.of(d) for d in devices], count=len(devices))


@router.post("", status_code=status.HTTP_201_CREATED)
def enrol_device(body: DeviceCreate, principal: Admin, session: SessionDep) -> DeviceEnrolled:
    try:
        device, token = add_device(
            session=session, kind=body.kind, campus=body.campus, device_id=body.device_id
        )
    except DeviceError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    audit.record(
        session, principal.actor, action="create", resource="device", resource_id=device.device_id
    )
    session.commit()
    return DeviceEnrolled(**DevicePublic.of(device).model_dump(), token=token)


@router.post("/{device_id}/revoke")
def revoke_device(device_id: str, principal: Admin, session: SessionDep) -> DevicePublic:
    """The device's token stops working at once (re-enrol to get a new one)."""
    device = session.exec(select(Device).where(Device.device_id == device_id)).first()
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"设备不存在 / no device {device_id!r}")
    device.revoked = True
    session.add(device)
    audit.record(
        session,
        principal.actor,
        action="update",
        resource="device",
        resource_id=device_id,
        detail="revoked",
    )
    session.commit()
    return DevicePublic.of(device)
