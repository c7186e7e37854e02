"""The demo's registrations: patients with Chinese names, their orders, their bookings —
made through the hub's own HTTP API by the demo registrar, as a person at the desk would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx

from shared.masking import mask_name
from shared.settings import CAMPUSES


@dataclass(frozen=True)
class DemoPatient:
    patient_id: str
    name: str
    sex: str
    birth_date: str
    phone: str
    campus: str
    procedure: str
    category: str
    department: str


DEMO_PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient(
        "DG100231",
        "张三丰",
        "M",
        "1956-04-09",
        "13800000001",
        "dongge",
        "CT-CHEST",
        "outpatient",
        "呼吸内科",
    ),
    DemoPatient(
        "DG100232",
        "欧阳娜娜",
        "F",
        "1992-07-08",
        "13800000002",
        "dongge",
        "CT-HEAD",
        "inpatient",
        "神经内科",
    ),
    DemoPatient(
        "DG100233",
        "单雄信",
        "M",
        "1965-11-20",
        "13800000003",
        "dongge",
        "MR-LSPINE",
        "outpatient",
        "骨伤科",
    ),
    DemoPatient(
        "XH200451",
        "曾小贤",
        "M",
        "1985-06-06",
        "13800000004",
        "xianhu",
        "CT-ABD",
        "physical_exam",
        "体检中心",
    ),
    DemoPatient(
        "XH200452",
        "解晓东",
        "M",
        "1979-02-14",
        "13800000005",
        "xianhu",
        "CT-HEAD",
        "emergency",
        "急诊科",
    ),
    DemoPatient(
        "XH200453",
        "区美玲",
        "F",
        "1948-10-01",
        "13800000006",
        "xianhu",
        "DX-CHEST",
        "outpatient",
        "肺病科",
    ),
)


@dataclass(frozen=True)
class Registered:
    accession: str
    campus: str
    patient: DemoPatient
    modality: str
    when: str
    room: str


class Registrar:
    """The demo registrar at the hub's API."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=30)
        r = self._http.post("/api/v1/auth/token", data={"username": username, "password": password})
        r.raise_for_status()
        self._http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def close(self) -> None:
        self._http.close()

    def register(self, p: DemoPatient, now: datetime) -> Registered:
        """Register the patient (once), order the exam, book the next free slot (emergency
        orders go straight to the worklist without one)."""
        found = self._http.get(f"/api/v1/patients/{p.patient_id}")
        if found.status_code == 404:
            r = self._http.post(
                "/api/v1/patients",
                json={
                    "patient_id": p.patient_id,
                    "name": p.name,
                    "phone": p.phone,
                    "sex": p.sex,
                    "birth_date": p.birth_date,
                    "confirm_duplicate": True,
                },
            )
            r.raise_for_status()
        r = self._http.post(
            "/api/v1/orders",
            json={
                "patient_id": p.patient_id,
                "campus": p.campus,
                "procedure_code": p.procedure,
                "category": p.category,
                "requesting_department": p.department,
                "requesting_doctor": "演示医生",
                "clinical_info": "演示 / demo",
            },
        )
        r.raise_for_status()
        order = r.json()
        accession, modality = str(order["accession"]), str(order["modality"])
        if p.category == "emergency":
            return Registered(accession, p.campus, p, modality, "急诊，立即 / now", "")
        slots = self._http.get(
            "/api/v1/slots",
            params={"campus": p.campus, "date": now.date().isoformat(), "modality": modality},
        )
        slots.raise_for_status()
        upcoming = [s for s in slots.json()["data"] if datetime.fromisoformat(s["end"]) > now]
        if not upcoming:
            return Registered(accession, p.campus, p, modality, "无空余时段 / no free slot", "")
        slot = upcoming[0]
        booked = self._http.post(
            f"/api/v1/orders/{accession}/appointment", json={"slot_id": slot["id"]}
        )
        booked.raise_for_status()
        start = datetime.fromisoformat(slot["start"]).astimezone(now.tzinfo)
        return Registered(accession, p.campus, p, modality, f"{start:%H:%M}", slot["room"])


def describe(reg: Registered) -> str:
    """One narration line, with the name masked."""
    where = f"→ {reg.room} {reg.when}" if reg.room else f"→ {reg.when}"
    return (
        f"[登记 register] {CAMPUSES[reg.campus]} {reg.accession} {mask_name(reg.patient.name)} "
        f"{reg.patient.procedure} ({reg.modality}) {where}"
    )
