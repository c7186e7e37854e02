"""Patients (患者登记): create, update, look up and search, with duplicate warnings.

The identity-card number is checked (``hub.services.idcard``) and kept only as a keyed
hash (for look-ups and duplicate warnings) and its last four characters. Every write is
audited here; reads are audited by the caller for the patients it shows.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from hub.models.base import utcnow
from hub.models.registration import Order, OrderStatus, Patient, Sex
from hub.security.tokens import keyed_hash
from hub.services import audit
from hub.services.changes import touch_order
from hub.services.clock import latest_birth_date
from hub.services.errors import Conflict, Invalid, NotFound
from hub.services.idcard import IdCard, IdCardError, normalise, parse_id_card
from hub.services.names import pinyin_key

_PATIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\^=]")

OPEN_STATUSES = (
    OrderStatus.REGISTERED.value,
    OrderStatus.SCHEDULED.value,
    OrderStatus.ARRIVED.value,
    OrderStatus.IN_PROGRESS.value,
)
"""Orders an edge still lists: a change of the patient's demographics is sent to them."""


class PatientFields(BaseModel):
    """Fields common to creating and changing a patient (strings are trimmed)."""

    @field_validator("name", "phone", "id_card", mode="before", check_fields=False)
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class PatientCreate(PatientFields):
    patient_id: str = Field(description="病历号 / hospital patient number (unique)")
    name: str = Field(min_length=1, max_length=64)
    sex: Sex | None = Field(default=None, description="M/F/O; from the identity card if omitted")
    birth_date: date | None = Field(default=None, description="from the identity card if omitted")
    phone: str = ""
    id_card: str = Field(default="", description="18-character identity-card number")
    confirm_duplicate: bool = Field(
        default=False, description="register even though similar patients exist"
    )


class PatientUpdate(PatientFields):
    """Only the fields given are changed; ``id_card=""`` removes the stored number."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    sex: Sex | None = None
    birth_date: date | None = None
    phone: str | None = None
    id_card: str | None = None
    confirm_duplicate: bool = False


def get_patient(*, session: Session, patient_id: str) -> Patient:
    """The patient with hospital number ``patient_id``; ``NotFound`` otherwise."""
    patient = session.exec(select(Patient).where(Patient.patient_id == patient_id)).first()
    if patient is None:
        raise NotFound(
            f"患者 {patient_id} 不存在，请先登记 / no patient {patient_id}: register them first"
        )
    return patient


def create_patient(
    *, session: Session, secret: bytes, actor: audit.Actor, data: PatientCreate
) -> Patient:
    """Register a patient (audited ``create``).

    Raises ``Invalid`` for a bad patient number, name, phone or identity card (or one that
    contradicts the given sex/birth date), ``Conflict`` when the patient number is taken,
    and ``PossibleDuplicates`` (a ``Conflict``) when similar patients exist and
    ``data.confirm_duplicate`` is false."""
    patient_id = data.patient_id.strip()
    if not _PATIENT_ID.match(patient_id):
        raise Invalid(
            "病历号只能包含字母、数字、点、横线和下划线（最多64位） / the patient number may "
            "hold letters, digits, '.', '-' and '_' (at most 64)"
        )
    _check_name(data.name)
    phone = _phone(data.phone)
    card = _card(data.id_card)
    sex, birth = _sex_and_birth(data.sex, data.birth_date, card)
    if session.exec(select(Patient.id).where(Patient.patient_id == patient_id)).first():
        raise Conflict(
            f"病历号 {patient_id} 已存在，请查询后使用该患者 / patient number {patient_id} "
            "exists: search for that patient instead"
        )
    id_hash = keyed_hash(secret, card.number) if card else None
    if not data.confirm_duplicate:
        _refuse_duplicates(session, None, data.name, birth, phone, id_hash)
    pinyin, initials = pinyin_key(data.name)
    now = utcnow()
    patient = Patient(
        patient_id=patient_id,
        name=data.name,
        pinyin=pinyin[:128],
        pinyin_initials=initials[:32],
        sex=sex,
        birth_date=birth,
        phone=phone,
        id_card_hash=id_hash,
        id_card_last4=card.last4 if card else "",
        created_at=now,
        updated_at=now,
    )
    session.add(patient)
    try:
        session.flush()
    except IntegrityError as exc:  # another registrar took the number a moment ago
        raise Conflict(f"病历号 {patient_id} 已存在 / patient number {patient_id} exists") from exc
    audit.record(
        session,
        actor,
        action="create",
        resource="patient",
        resource_id=patient_id,
        patient_id=patient_id,
        detail={"duplicate_confirmed": True} if data.confirm_duplicate else "",
    )
    return patient


def update_patient(
    *,
    session: Session,
    secret: bytes,
    actor: audit.Actor,
    patient_id: str,
    data: PatientUpdate,
) -> tuple[Patient, set[str]]:
    """Apply the given fields (audited ``update`` listing old → new values; identity cards
    only by their last four). When name, sex or birth date change, the patient's open
    orders are touched so that worklists follow. Returns the patient and the campuses
    whose orders changed (the caller notifies them after commit)."""
    patient = _lock(session, get_patient(session=session, patient_id=patient_id))
    changes: dict[str, list[Any]] = {}
    if data.name is not None and data.name != patient.name:
        _check_name(data.name)
        changes["name"] = [patient.name, data.name]
    if data.phone is not None and _phone(data.phone) != patient.phone:
        changes["phone"] = [patient.phone, _phone(data.phone)]
    card: IdCard | None = None
    new_hash = patient.id_card_hash
    if data.id_card is not None:
        card = _card(data.id_card)
        new_hash = keyed_hash(secret, card.number) if card else None
        if new_hash != patient.id_card_hash:
            changes["id_card"] = [
                _masked(patient.id_card_last4),
                _masked(card.last4 if card else ""),
            ]
    sex, birth = _sex_and_birth(
        data.sex if data.sex is not None else (None if card else Sex(patient.sex)),
        data.birth_date if data.birth_date is not None else (None if card else patient.birth_date),
        card,
    )
    if sex != patient.sex:
        changes["sex"] = [patient.sex, sex]
    if birth != patient.birth_date:
        changes["birth_date"] = [_iso(patient.birth_date), _iso(birth)]
    if not changes:
        return patient, set()
    name = data.name if "name" in changes and data.name else patient.name
    phone = changes["phone"][1] if "phone" in changes else patient.phone
    if not data.confirm_duplicate and changes.keys() & {"name", "birth_date", "phone", "id_card"}:
        _refuse_duplicates(session, patient.id, name, birth, phone, new_hash)
    patient.name = name
    pinyin, initials = pinyin_key(name)
    patient.pinyin, patient.pinyin_initials = pinyin[:128], initials[:32]
    patient.phone = phone
    patient.sex = sex
    patient.birth_date = birth
    if "id_card" in changes:
        patient.id_card_hash = new_hash
        patient.id_card_last4 = card.last4 if card else ""
    patient.updated_at = utcnow()
    session.add(patient)
    campuses: set[str] = set()
    if changes.keys() & {"name", "sex", "birth_date"}:
        campuses = _touch_open_orders(session, patient, actor.name)
    audit.record(
        session,
        actor,
        action="update",
        resource="patient",
        resource_id=patient.patient_id,
        patient_id=patient.patient_id,
        detail={"changed": changes, "duplicate_confirmed": data.confirm_duplicate},
    )
    return patient, campuses


class PossibleDuplicates(Conflict):
    """Similar patients exist; ``candidates`` (masked) go to the person, who may confirm."""

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        super().__init__(
            "可能存在重复患者，请核对下列患者；确认不是同一人后再提交并勾选“确认非重复” / "
            "possible duplicate patients: check the candidates, then resubmit with "
            "confirm_duplicate=true if this is a different person",
            candidates=candidates,
        )
        self.patient_ids = [str(c["patient_id"]) for c in candidates]


def search_patients(
    *,
    session: Session,
    secret: bytes,
    q: str | None = None,
    patient_id: str | None = None,
    name: str | None = None,
    pinyin: str | None = None,
    initials: str | None = None,
    phone: str | None = None,
    id_card: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Patient], int]:
    """Patients matching every given criterion, ordered by name, and the total count.

    ``q`` is the registrar's single search box: an identity-card number, a patient number
    or phone number, pinyin or its initials (``zs``), or the start of a Chinese name.
    Raises ``Invalid`` when no criterion is given or ``id_card`` is malformed."""
    conditions: list[ColumnElement[bool]] = []
    if q and q.strip():
        conditions.append(_guess(q.strip(), secret))
    if patient_id:
        conditions.append(col(Patient.patient_id) == patient_id.strip())
    if name:
        conditions.append(col(Patient.name).like(_prefix(name.strip()), escape="\\"))
    if pinyin:
        conditions.append(col(Patient.pinyin).like(_prefix(_flat(pinyin)), escape="\\"))
    if initials:
        conditions.append(col(Patient.pinyin_initials).like(_prefix(_flat(initials)), escape="\\"))
    if phone:
        conditions.append(col(Patient.phone) == _phone(phone))
    if id_card:
        card = _card(id_card)
        assert card is not None
        conditions.append(col(Patient.id_card_hash) == keyed_hash(secret, card.number))
    if not conditions:
        raise Invalid(
            "请输入查询条件（病历号、姓名、拼音、电话或身份证号） / give a search term "
            "(patient number, name, pinyin, phone or identity card)"
        )
    where = and_(*conditions)
    total = session.exec(select(func.count()).select_from(Patient).where(where)).one()
    rows = session.exec(
        select(Patient)
        .where(where)
        .order_by(col(Patient.pinyin), col(Patient.patient_id))
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), int(total)


def masked_id_card(patient: Patient) -> str:
    """``**************1234`` or empty when no card is on file."""
    return _masked(patient.id_card_last4)


def _guess(q: str, secret: bytes) -> ColumnElement[bool]:
    compact = normalise(q)
    if re.fullmatch(r"[0-9]{17}[0-9X]", compact):
        return or_(
            col(Patient.id_card_hash) == keyed_hash(secret, compact),
            col(Patient.patient_id) == q,
        )
    if any("\u4e00" <= ch <= "\u9fff" for ch in q):
        return col(Patient.name).like(_prefix(q), escape="\\")
    digits = re.sub(r"[\s-]", "", q)
    if re.fullmatch(r"\+?[0-9]+", digits):
        return or_(col(Patient.patient_id) == q, col(Patient.phone) == digits)
    if re.fullmatch(r"[A-Za-z\s']+", q):
        flat = _flat(q)
        return or_(
            col(Patient.pinyin).like(_prefix(flat), escape="\\"),
            col(Patient.pinyin_initials).like(_prefix(flat), escape="\\"),
            col(Patient.patient_id) == q,
        )
    return col(Patient.patient_id) == q


def _refuse_duplicates(
    session: Session,
    exclude_pk: int | None,
    name: str,
    birth: date | None,
    phone: str,
    id_hash: str | None,
) -> None:
    rules: list[tuple[str, ColumnElement[bool]]] = []
    if id_hash:
        rules.append(("id_card", col(Patient.id_card_hash) == id_hash))
    if birth is not None:
        rules.append(
            ("name_birth_date", and_(col(Patient.name) == name, col(Patient.birth_date) == birth))
        )
    if phone:
        rules.append(("name_phone", and_(col(Patient.name) == name, col(Patient.phone) == phone)))
    if not rules:
        return
    stmt = select(Patient).where(or_(*(cond for _, cond in rules)))
    if exclude_pk is not None:
        stmt = stmt.where(col(Patient.id) != exclude_pk)
    found = session.exec(stmt.order_by(col(Patient.id)).limit(20)).all()
    if not found:
        return
    candidates = []
    for other in found:
        matched = [
            rule
            for rule, ok in (
                ("id_card", bool(id_hash) and other.id_card_hash == id_hash),
                ("name_birth_date", other.name == name and birth and other.birth_date == birth),
                ("name_phone", other.name == name and phone and other.phone == phone),
            )
            if ok
        ]
        candidates.append(
            {
                "patient_id": other.patient_id,
                "name": other.name,
                "sex": other.sex,
                "birth_date": _iso(other.birth_date),
                "phone": other.phone,
                "id_card": masked_id_card(other),
                "matched_on": matched,
            }
        )
    raise PossibleDuplicates(candidates)


def _touch_open_orders(session: Session, patient: Patient, actor: str) -> set[str]:
    # Lock the order rows before touch_order takes the change counter: bookings lock an
    # order, then the counter, so the same order here keeps PostgreSQL free of deadlocks.
    table = Order.__table__  # type: ignore[attr-defined]
    open_rows = (table.c.patient_pk == patient.id) & table.c.status.in_(OPEN_STATUSES)
    session.connection().execute(
        update(table).where(open_rows).values(change_seq=table.c.change_seq)
    )
    orders = session.exec(
        select(Order)
        .where(Order.patient_pk == patient.id, col(Order.status).in_(OPEN_STATUSES))
        .order_by(col(Order.id))
        .execution_options(populate_existing=True)
    ).all()
    for order in orders:
        touch_order(session, order, actor=actor)
    return {o.campus for o in orders}


def _lock(session: Session, patient: Patient) -> Patient:
    """Hold the patient's row until commit (a no-op UPDATE: a row lock on PostgreSQL, the
    write lock on SQLite) and re-read it, so concurrent edits do not overwrite each other."""
    table = Patient.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table).where(table.c.id == patient.id).values(updated_at=table.c.updated_at)
    )
    session.refresh(patient)
    return patient


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or _CONTROL.search(name):
        raise Invalid(
            "姓名不能为空，不能含控制字符或 \\ ^ = （最多64字） / the name must be 1-64 "
            "characters without control characters, \\, ^ or ="
        )


def _phone(raw: str) -> str:
    phone = re.sub(r"[\s()-]", "", raw or "")
    if phone and not _PHONE.match(phone):
        raise Invalid(
            f"电话号码 {raw!r} 无效，请只填数字 / phone number {raw!r} is invalid: digits only"
        )
    return phone


def _card(raw: str) -> IdCard | None:
    if not raw.strip():
        return None
    try:
        return parse_id_card(raw, today=latest_birth_date())
    except IdCardError as exc:
        raise Invalid(str(exc)) from exc


def _sex_and_birth(
    sex: Sex | None, birth: date | None, card: IdCard | None
) -> tuple[str, date | None]:
    if card is not None:
        if birth is not None and birth != card.birth_date:
            raise Invalid(
                f"出生日期 {birth} 与身份证号中的 {card.birth_date} 不符，请核对 / the birth date "
                "differs from the one in the identity-card number"
            )
        if sex is not None and sex != Sex.OTHER and sex.value != card.sex:
            raise Invalid(
                "性别与身份证号不符，请核对 / the sex differs from the identity-card number"
            )
        return (sex.value if sex is not None and sex != Sex.OTHER else card.sex), card.birth_date
    if birth is not None and birth > latest_birth_date():
        raise Invalid("出生日期不能晚于今天 / the birth date lies in the future")
    if birth is not None and birth.year < 1880:
        raise Invalid(f"出生日期 {birth} 有误，请核对 / the birth date {birth} is implausible")
    return (sex or Sex.OTHER).value, birth


def _masked(last4: str) -> str:
    return "*" * 14 + last4 if last4 else ""


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def _flat(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
