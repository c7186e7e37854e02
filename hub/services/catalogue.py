"""The procedure catalogue (检查项目): list, create, change, and import from TOML.

The shipped default is ``hub/data/catalogue.toml``; ``pacs-hub catalogue import [FILE]``
upserts a file by procedure code (running it again changes nothing).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.models.registration import Procedure
from hub.services import audit
from hub.services.errors import Conflict, Invalid, NotFound

MODALITIES: dict[str, str] = {
    "CT": "CT",
    "MR": "磁共振",
    "DX": "数字X线摄影(DR)",
    "CR": "计算机X线摄影",
    "US": "超声",
    "MG": "乳腺X线摄影",
    "RF": "X线透视/造影",
    "XA": "血管造影",
    "NM": "核医学",
    "PT": "PET",
    "OT": "其他",
}
"""DICOM modality codes accepted in the catalogue and for rooms."""

_CODE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


def check_modality(modality: str) -> str:
    """The upper-cased code if known, else ``Invalid``."""
    value = modality.strip().upper()
    if value not in MODALITIES:
        raise Invalid(
            f"检查类型 {modality!r} 无效，应为 {'、'.join(MODALITIES)} 之一 / unknown modality "
            f"{modality!r}: use one of {', '.join(MODALITIES)}"
        )
    return value


class ProcedureIn(BaseModel):
    """A catalogue entry as written in TOML or posted by IT."""

    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    modality: str = Field(min_length=2, max_length=4)
    body_part: str = Field(default="", max_length=32)
    minutes: int = Field(default=15, ge=1, le=480)
    preparation: str = Field(default="", max_length=2000)
    active: bool = True

    @field_validator("code", "name", "modality", "body_part", "preparation", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class ProcedureUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    body_part: str | None = Field(default=None, max_length=32)
    minutes: int | None = Field(default=None, ge=1, le=480)
    preparation: str | None = Field(default=None, max_length=2000)
    active: bool | None = None


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def list_procedures(
    *, session: Session, modality: str | None = None, include_inactive: bool = False
) -> list[Procedure]:
    """Catalogue entries by modality and code."""
    stmt = select(Procedure)
    if modality:
        stmt = stmt.where(Procedure.modality == modality.strip().upper())
    if not include_inactive:
        stmt = stmt.where(col(Procedure.active).is_(True))
    return list(session.exec(stmt.order_by(col(Procedure.modality), col(Procedure.code))).all())


def get_procedure(*, session: Session, code: str) -> Procedure:
    """The entry ``code`` (active or not); ``NotFound`` otherwise."""
    procedure = session.exec(select(Procedure).where(Procedure.code == code)).first()
    if procedure is None:
        raise NotFound(
            f"检查项目 {code} 不存在，请从项目目录中选择 / no procedure {code} in the catalogue"
        )
    return procedure


def create_procedure(*, session: Session, actor: audit.Actor, data: ProcedureIn) -> Procedure:
    """Add an entry (audited). ``Conflict`` when the code exists, ``Invalid`` for a bad code
    or modality."""
    values = _checked(data)
    if session.exec(select(Procedure.id).where(Procedure.code == data.code)).first():
        raise Conflict(
            f"项目代码 {data.code} 已存在，请修改该项目 / procedure code {data.code} exists: "
            "change that entry instead"
        )
    procedure = Procedure(**values)
    session.add(procedure)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"项目代码 {data.code} 已存在 / procedure code {data.code} exists") from exc
    audit.record(session, actor, action="create", resource="procedure", resource_id=data.code)
    return procedure


def update_procedure(
    *, session: Session, actor: audit.Actor, code: str, data: ProcedureUpdate
) -> Procedure:
    """Change the given fields of entry ``code`` (audited with old → new values)."""
    procedure = get_procedure(session=session, code=code)
    changes: dict[str, list[Any]] = {}
    for field, value in data.model_dump(exclude_none=True).items():
        column = "duration_minutes" if field == "minutes" else field
        value = value.strip() if isinstance(value, str) else value
        if field == "body_part":
            value = value.upper()
        if getattr(procedure, column) != value:
            changes[field] = [getattr(procedure, column), value]
            setattr(procedure, column, value)
    if changes:
        session.add(procedure)
        audit.record(
            session,
            actor,
            action="update",
            resource="procedure",
            resource_id=code,
            detail={"changed": changes},
        )
    return procedure


def default_catalogue() -> Path:
    """The catalogue shipped with the hub."""
    return Path(str(resources.files("hub.data").joinpath("catalogue.toml")))


def read_catalogue(path: Path) -> list[ProcedureIn]:
    """The ``[[procedure]]`` tables of a TOML file; ``Invalid`` naming the first bad one."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise Invalid(f"无法读取项目目录 {path}: {exc} / cannot read catalogue {path}") from exc
    entries = document.get("procedure")
    if not isinstance(entries, list) or not entries:
        raise Invalid(f"{path} 中没有 [[procedure]] 项目 / {path} has no [[procedure]] tables")
    result: list[ProcedureIn] = []
    for number, entry in enumerate(entries, start=1):
        try:
            item = ProcedureIn.model_validate(entry)
            _checked(item)
        except (ValidationError, Invalid) as exc:
            raise Invalid(f"{path} 第{number}个项目有误 / procedure #{number}: {exc}") from exc
        result.append(item)
    codes = [item.code for item in result]
    if len(set(codes)) != len(codes):
        raise Invalid(f"{path} 中有重复的项目代码 / {path} repeats a procedure code")
    return result


def import_catalogue(
    *, session: Session, entries: Iterable[ProcedureIn], actor: audit.Actor
) -> ImportResult:
    """Upsert ``entries`` by code: new codes are added, changed ones updated, the rest
    left alone (so importing twice changes nothing). Audited once per changed entry."""
    created = updated = unchanged = 0
    for item in entries:
        values = _checked(item)
        existing = session.exec(select(Procedure).where(Procedure.code == item.code)).first()
        if existing is None:
            session.add(Procedure(**values))
            audit.record(
                session, actor, action="create", resource="procedure", resource_id=item.code
            )
            created += 1
            continue
        changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
        if not changes:
            unchanged += 1
            continue
        for key, value in changes.items():
            setattr(existing, key, value)
        session.add(existing)
        audit.record(
            session,
            actor,
            action="update",
            resource="procedure",
            resource_id=item.code,
            detail={"changed": sorted(changes)},
        )
        updated += 1
    session.flush()
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def _checked(data: ProcedureIn) -> dict[str, Any]:
    if not _CODE.match(data.code):
        raise Invalid(
            f"项目代码 {data.code!r} 只能包含字母、数字、点、横线和下划线 / procedure code "
            f"{data.code!r} may hold letters, digits, '.', '-' and '_'"
        )
    return {
        "code": data.code,
        "name": data.name,
        "modality": check_modality(data.modality),
        "body_part": data.body_part.upper(),
        "duration_minutes": data.minutes,
        "preparation": data.preparation,
        "active": data.active,
    }
