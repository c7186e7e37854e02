"""Roles of the people who use the hub, and the campuses they may act on."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A person's role. Each API endpoint names the roles that may call it."""

    REGISTRAR = "registrar"
    TECHNICIAN = "technician"
    RADIOLOGIST = "radiologist"
    SENIOR_RADIOLOGIST = "senior_radiologist"
    CLINICIAN = "clinician"
    IT_ADMIN = "it_admin"
    AUDITOR = "auditor"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.REGISTRAR: "登记员",
    Role.TECHNICIAN: "技师",
    Role.RADIOLOGIST: "报告医生",
    Role.SENIOR_RADIOLOGIST: "审核医生",
    Role.CLINICIAN: "临床医生",
    Role.IT_ADMIN: "信息科",
    Role.AUDITOR: "审计员",
}

ALL_ROLES: frozenset[Role] = frozenset(Role)

# Groups used by several endpoints.
CLINICAL_READERS: frozenset[Role] = frozenset(
    {
        Role.REGISTRAR,
        Role.TECHNICIAN,
        Role.RADIOLOGIST,
        Role.SENIOR_RADIOLOGIST,
        Role.CLINICIAN,
    }
)
"""People who read patient and order data in the course of care."""

ARCHIVE_READERS: frozenset[Role] = CLINICAL_READERS | {Role.IT_ADMIN}
"""People who may find studies in the hub's archive and retrieve their images (WADO-RS)."""
