"""The registrar's HTML forms as posted (every field a string, possibly empty), and their
translation into the services' request models.

A form that lacks what the service needs, or holds a value pydantic refuses, raises
``FormInvalid`` listing Chinese-first sentences; the page shows them above the form and
keeps what the person typed. Business rules stay in the services.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ValidationError

from hub.models.registration import Order, PatientCategory, Sex
from hub.services.errors import Invalid
from hub.services.orders import OrderCreate, OrderUpdate
from hub.services.patients import PatientCreate
from hub.web.registration_common import validation_sentence

PATIENT_LABELS = {
    "patient_id": "病历号",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "phone": "联系电话",
    "id_card": "身份证号",
}
ORDER_LABELS = {
    "procedure_code": "检查项目",
    "category": "病人类别",
    "campus": "检查院区",
    "requesting_department": "申请科室",
    "requesting_doctor": "申请医生",
    "clinical_info": "临床信息",
    "reason": "修改原因",
    "body_part": "检查部位",
}


MAX_ROW_ID = 2**31 - 1
"""Row ids are 32-bit integers on PostgreSQL: larger ones cannot name a row."""


class FormInvalid(Invalid):
    """One or more fields of a form are missing or wrong; ``messages`` lists them."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("；".join(messages))
        self.messages = messages


class PatientForm(BaseModel):
    """The new-patient form (登记新患者)."""

    patient_id: str = ""
    name: str = ""
    sex: str = ""
    birth_date: str = ""
    phone: str = ""
    id_card: str = ""
    confirm_duplicate: bool = False

    def to_create(self) -> PatientCreate:
        """The service's request; ``FormInvalid`` naming every missing or malformed field."""
        problems = []
        if not self.patient_id.strip():
            problems.append("请填写病历号 / give the patient number")
        if not self.name.strip():
            problems.append("请填写姓名 / give the patient's name")
        if self.sex and self.sex not in set(Sex):
            problems.append("请从列表中选择性别 / choose the sex from the list")
        birth = _date(self.birth_date, problems)
        if problems:
            raise FormInvalid(problems)
        try:
            return PatientCreate(
                patient_id=self.patient_id.strip(),
                name=self.name.strip(),
                sex=Sex(self.sex) if self.sex else None,
                birth_date=birth,
                phone=self.phone,
                id_card=self.id_card,
                confirm_duplicate=self.confirm_duplicate,
            )
        except ValidationError as exc:
            raise FormInvalid([validation_sentence(exc, PATIENT_LABELS)]) from exc


class OrderForm(BaseModel):
    """The order form (检查申请), new or edited; ``reason`` only when editing."""

    procedure_code: str = ""
    category: str = ""
    campus: str = ""
    requesting_department: str = ""
    requesting_doctor: str = ""
    clinical_info: str = ""
    reason: str = ""

    @classmethod
    def of(cls, order: Order) -> OrderForm:
        """The form filled with an order's current values (to edit it)."""
        return cls(
            procedure_code=order.procedure_code,
            category=order.category,
            campus=order.campus,
            requesting_department=order.requesting_department,
            requesting_doctor=order.requesting_doctor,
            clinical_info=order.clinical_info,
        )

    def to_create(self, patient_id: str) -> OrderCreate:
        """The service's request for a new order of ``patient_id``; ``FormInvalid``
        naming every missing choice."""
        problems = self._missing(with_campus=True)
        if problems:
            raise FormInvalid(problems)
        try:
            return OrderCreate(
                patient_id=patient_id,
                campus=self.campus,
                procedure_code=self.procedure_code,
                category=PatientCategory(self.category),
                requesting_department=self.requesting_department,
                requesting_doctor=self.requesting_doctor,
                clinical_info=self.clinical_info,
            )
        except ValidationError as exc:
            raise FormInvalid([validation_sentence(exc, ORDER_LABELS)]) from exc

    def to_update(self) -> OrderUpdate:
        """The service's request to change an order to the form's values (the service
        checks the reason and changes only what differs)."""
        problems = self._missing(with_campus=False)
        if problems:
            raise FormInvalid(problems)
        try:
            return OrderUpdate(
                reason=self.reason,
                procedure_code=self.procedure_code,
                category=PatientCategory(self.category),
                requesting_department=self.requesting_department,
                requesting_doctor=self.requesting_doctor,
                clinical_info=self.clinical_info,
            )
        except ValidationError as exc:
            raise FormInvalid([validation_sentence(exc, ORDER_LABELS)]) from exc

    def _missing(self, *, with_campus: bool) -> list[str]:
        problems = []
        if not self.procedure_code.strip():
            problems.append("请选择检查项目 / choose a procedure")
        if self.category not in set(PatientCategory):
            problems.append(
                "请选择病人类别（急诊、住院、门诊或体检） / choose the patient category"
            )
        if with_campus and not self.campus:
            problems.append("请选择检查院区 / choose the campus")
        return problems


class ReasonForm(BaseModel):
    """Cancelling an order or a booking: the reason (the service requires it)."""

    reason: str = ""


class SlotForm(BaseModel):
    """Booking or rescheduling: the chosen slot and, when rescheduling, a reason."""

    slot_id: str = ""
    reason: str = ""
    day: str = ""
    """The day whose slots were listed (shown again after an error)."""

    def slot(self) -> int:
        """The chosen slot's id; ``FormInvalid`` when none was chosen."""
        text = self.slot_id.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_ROW_ID:
            raise FormInvalid(["请先选择一个预约时段 / choose a slot first"])
        return int(text)

    def listed_day(self) -> date | None:
        """The day whose slots the form listed, if it parses."""
        try:
            return date.fromisoformat(self.day.strip())
        except ValueError:
            return None


def _date(text: str, problems: list[str]) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        problems.append(
            f"出生日期 {text!r} 无效，请按 年-月-日 填写 / the birth date is not a date"
        )
        return None
