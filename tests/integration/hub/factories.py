"""Test data made through the hub's own API (and its CLI for the catalogue), so every
test exercises the same paths people use."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.cli import main as hub_cli
from hub.security.roles import Role
from hub.services.idcard import check_digit
from tests.support.hub import RunningHub

API = "/api/v1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(1)


def id_card(born: date, sequence: int = 123, region: str = "450103") -> str:
    """A valid 18-character identity-card number (odd ``sequence`` = man)."""
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


def local_today() -> date:
    return datetime.now(SHANGHAI).date()


def tomorrow() -> date:
    return local_today() + timedelta(days=1)


def ok(response: Any, status: int = 200) -> Any:
    """The JSON body, after checking the status (the body is shown when it differs)."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def registrar(hub: RunningHub, campuses: str = "dongge,xianhu") -> str:
    return hub.token(Role.REGISTRAR, campuses)


def load_catalogue(hub: RunningHub) -> None:
    """The shipped catalogue, through ``pacs-hub catalogue import``."""
    url = hub.ctx.settings.effective_database_url
    assert hub_cli(["catalogue", "import", "--database-url", url]) == 0


def create_patient(hub: RunningHub, token: str | None = None, **fields: Any) -> dict[str, Any]:
    """A patient with a fresh patient number (fields override the defaults)."""
    body: dict[str, Any] = {
        "patient_id": f"P{next(_numbers):07d}",
        "name": "张三",
        "sex": "M",
        "birth_date": "1980-05-17",
        "phone": "",
    }
    body.update(fields)
    with hub.client(token or registrar(hub)) as c:
        return ok(c.post(f"{API}/patients", json=body), 201)  # type: ignore[no-any-return]


def create_order(
    hub: RunningHub,
    patient_id: str,
    *,
    token: str | None = None,
    campus: str = "dongge",
    procedure_code: str = "CT-CHEST",
    category: str = "outpatient",
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "patient_id": patient_id,
        "campus": campus,
        "procedure_code": procedure_code,
        "category": category,
        "requesting_department": "呼吸内科",
        "requesting_doctor": "李医生",
        "clinical_info": "咳嗽两周",
        **fields,
    }
    with hub.client(token or registrar(hub)) as c:
        return ok(c.post(f"{API}/orders", json=body), 201)  # type: ignore[no-any-return]


def create_room(
    hub: RunningHub,
    *,
    campus: str = "dongge",
    code: str = "CT1",
    modality: str = "CT",
    station_ae: str = "CT1",
    name: str | None = None,
) -> dict[str, Any]:
    body = {
        "campus": campus,
        "code": code,
        "name": name or f"{code}室",
        "modality": modality,
        "station_ae": station_ae,
    }
    with hub.client(hub.token(Role.IT_ADMIN)) as c:
        return ok(c.post(f"{API}/rooms", json=body), 201)  # type: ignore[no-any-return]


def generate_slots(
    hub: RunningHub,
    *,
    campus: str = "dongge",
    room: str = "CT1",
    day: date | None = None,
    to_day: date | None = None,
    start: str = "08:00",
    end: str = "10:00",
    interval: int = 30,
    capacity: int = 1,
    token: str | None = None,
) -> dict[str, Any]:
    first = day or tomorrow()
    body = {
        "campus": campus,
        "room": room,
        "from_date": first.isoformat(),
        "to_date": (to_day or first).isoformat(),
        "start": start,
        "end": end,
        "interval_minutes": interval,
        "capacity": capacity,
    }
    with hub.client(token or registrar(hub)) as c:
        return ok(c.post(f"{API}/slots/generate", json=body), 201)  # type: ignore[no-any-return]


def free_slots(
    hub: RunningHub,
    *,
    campus: str = "dongge",
    day: date | None = None,
    **params: Any,
) -> list[dict[str, Any]]:
    query = {"campus": campus, "date": (day or tomorrow()).isoformat(), **params}
    with hub.client(registrar(hub)) as c:
        return ok(c.get(f"{API}/slots", params=query))["data"]  # type: ignore[no-any-return]


def book(hub: RunningHub, accession: str, slot_id: int) -> dict[str, Any]:
    with hub.client(registrar(hub)) as c:
        response = c.post(f"{API}/orders/{accession}/appointment", json={"slot_id": slot_id})
        return ok(response, 201)  # type: ignore[no-any-return]


def get_order(hub: RunningHub, accession: str) -> dict[str, Any]:
    with hub.client(registrar(hub)) as c:
        return ok(c.get(f"{API}/orders/{accession}"))  # type: ignore[no-any-return]


def audit_rows(hub: RunningHub, **filters: Any) -> list[dict[str, Any]]:
    """Audit records (newest first) as an auditor sees them."""
    with hub.client(hub.token(Role.AUDITOR)) as c:
        params = {"limit": 1000, **filters}
        return ok(c.get(f"{API}/audit", params=params))["data"]  # type: ignore[no-any-return]
