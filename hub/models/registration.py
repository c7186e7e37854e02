"""Registration (登记): patients, the procedure catalogue, orders and their history.

Every write to an order gives it a new ``change_seq`` (from ``change_counter``), which is
the cursor of the edges' order feed.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from hub.models.base import HubModel


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"
    OTHER = "O"


class PatientCategory(StrEnum):
    """Patient category (病人类别) of an order."""

    EMERGENCY = "emergency"  # 急诊
    INPATIENT = "inpatient"  # 住院
    OUTPATIENT = "outpatient"  # 门诊
    PHYSICAL_EXAM = "physical_exam"  # 体检


CATEGORY_LABELS: dict[PatientCategory, str] = {
    PatientCategory.EMERGENCY: "急诊",
    PatientCategory.INPATIENT: "住院",
    PatientCategory.OUTPATIENT: "门诊",
    PatientCategory.PHYSICAL_EXAM: "体检",
}


class OrderStatus(StrEnum):
    REGISTERED = "registered"  # 已登记 (no slot yet)
    SCHEDULED = "scheduled"  # 已预约
    ARRIVED = "arrived"  # 已报到 (checked in at the campus)
    IN_PROGRESS = "in_progress"  # 检查中 (MPPS IN PROGRESS)
    COMPLETED = "completed"  # 已检查 (MPPS COMPLETED)
    DISCONTINUED = "discontinued"  # 检查中止 (MPPS DISCONTINUED)
    CANCELLED = "cancelled"  # 已取消


ORDER_STATUS_LABELS: dict[OrderStatus, str] = {
    OrderStatus.REGISTERED: "已登记",
    OrderStatus.SCHEDULED: "已预约",
    OrderStatus.ARRIVED: "已报到",
    OrderStatus.IN_PROGRESS: "检查中",
    OrderStatus.COMPLETED: "已检查",
    OrderStatus.DISCONTINUED: "检查中止",
    OrderStatus.CANCELLED: "已取消",
}


class Patient(HubModel, table=True):
    """A patient, keyed by the hospital patient number (病历号/ID).

    The identity-card number is never stored: only a keyed hash (for look-ups and
    duplicate warnings) and its last four characters (for people to compare)."""

    __tablename__ = "patient"
    # Prefix searches (LIKE 'x%') use these; on PostgreSQL a btree serves LIKE only with
    # text_pattern_ops (the database's collation is not C).
    __table_args__ = (
        Index("ix_patient_name", "name", postgresql_ops={"name": "text_pattern_ops"}),
        Index("ix_patient_pinyin", "pinyin", postgresql_ops={"pinyin": "text_pattern_ops"}),
        Index(
            "ix_patient_initials",
            "pinyin_initials",
            postgresql_ops={"pinyin_initials": "text_pattern_ops"},
        ),
        Index("ix_patient_idcard", "id_card_hash"),
        Index("ix_patient_phone", "phone"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=64)
    pinyin: str = Field(default="", max_length=128)
    """Lower-case pinyin without tones or spaces (``zhangsan``), for prefix search."""
    pinyin_initials: str = Field(default="", max_length=32)
    """Initials (``zs``), for the search registrars type most."""
    sex: str = Field(default="O", max_length=1)
    birth_date: date | None = None
    phone: str = Field(default="", max_length=32)
    id_card_hash: str | None = Field(default=None, max_length=64)
    id_card_last4: str = Field(default="", max_length=4)
    created_at: datetime
    updated_at: datetime


class Procedure(HubModel, table=True):
    """An entry of the procedure catalogue (检查项目)."""

    __tablename__ = "procedure"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=64)
    modality: str = Field(max_length=4, index=True)
    body_part: str = Field(default="", max_length=32)
    duration_minutes: int = 15
    preparation: str = ""
    """Instructions for the patient (e.g. 检查前禁食4小时), printed on the slip."""
    active: bool = True


class Order(HubModel, table=True):
    """An exam ordered for a patient at one campus (检查申请/登记单)."""

    __tablename__ = "exam_order"
    __table_args__ = (
        Index("ix_order_campus_change", "campus", "change_seq"),
        Index("ix_order_patient", "patient_pk"),
        Index("ix_order_campus_sched", "campus", "scheduled_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    accession: str = Field(unique=True, max_length=16)
    campus: str = Field(max_length=16)
    patient_pk: int = Field(foreign_key="patient.id")
    procedure_code: str = Field(max_length=32)
    procedure_name: str = Field(max_length=64)
    modality: str = Field(max_length=4)
    body_part: str = Field(default="", max_length=32)
    category: str = Field(max_length=16)
    requesting_department: str = Field(default="", max_length=64)
    requesting_doctor: str = Field(default="", max_length=64)
    clinical_info: str = ""
    status: str = Field(default=OrderStatus.REGISTERED.value, max_length=16)
    study_uid: str = Field(max_length=64)
    room: str = Field(default="", max_length=16)
    station_ae: str = Field(default="", max_length=16)
    scheduled_at: datetime | None = None
    cancel_reason: str = ""
    change_seq: int = 0
    created_by: str = Field(default="", max_length=64)
    created_at: datetime
    updated_at: datetime


class OrderEvent(HubModel, table=True):
    """One step of an order's status history (who, when, why)."""

    __tablename__ = "order_event"

    id: int | None = Field(default=None, primary_key=True)
    order_pk: int = Field(foreign_key="exam_order.id", index=True)
    from_status: str = Field(default="", max_length=16)
    to_status: str = Field(max_length=16)
    reason: str = ""
    actor: str = Field(default="", max_length=64)
    at: datetime


class AccessionCounter(HubModel, table=True):
    """The last accession number handed out per campus and day."""

    __tablename__ = "accession_counter"
    __table_args__ = (UniqueConstraint("campus", "day", name="uq_accession_campus_day"),)

    id: int | None = Field(default=None, primary_key=True)
    campus: str = Field(max_length=16)
    day: date
    last: int = 0


class ChangeCounter(HubModel, table=True):
    """A single-row counter: the last ``change_seq`` given to an order write."""

    __tablename__ = "change_counter"

    id: int = Field(default=1, primary_key=True)
    last: int = 0
