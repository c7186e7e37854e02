"""The appointment slip (检查预约单): an A5 PDF in Chinese with the accession number as a
Code 128 barcode and a QR code, the appointment, the room and the preparation.

The font is the TrueType file of ``HubSettings.slip_font`` (face 0 of a ``.ttc``),
embedded as a subset; when that file is missing, reportlab's built-in CID font
STSong-Light is used (not embedded: viewers supply a Song face).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from reportlab.graphics import renderPDF  # type: ignore[import-untyped]
from reportlab.graphics.barcode.code128 import Code128  # type: ignore[import-untyped]
from reportlab.graphics.barcode.qr import QrCodeWidget  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A5  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from sqlmodel import Session, select

from hub.models.registration import CATEGORY_LABELS, Order, OrderStatus, PatientCategory
from hub.models.scheduling import Room
from hub.services import audit
from hub.services.campuses import campus_name
from hub.services.catalogue import get_procedure
from hub.services.clock import age_text, as_utc
from hub.services.errors import Conflict, NotFound
from hub.services.orders import get_order, patient_of

FALLBACK_FONT = "STSong-Light"
SEX_LABELS = {"M": "男", "F": "女", "O": "未知"}
WEEKDAYS = "一二三四五六日"
LATE_NOTICE = (
    "请携带本预约单及就诊卡（医保卡），于预约时间前15分钟到达，在自助机或登记台报到后候检。如迟到超过30分钟，"
    "请到登记台重新安排（可能需改约到其他时段）；不能按时前来请提前到登记台或致电改约。"
)
EMERGENCY_NOTICE = "急诊检查无需预约，请持本单直接到检查室，随到随检。"


@dataclass(frozen=True)
class SlipContent:
    """Everything printed on one slip (times already in campus time)."""

    hospital: str
    campus: str
    patient_name: str
    patient_id: str
    sex_age: str
    category: str
    emergency: bool
    procedure: str
    accession: str
    scheduled: datetime | None
    room: str
    preparation: str
    printed_at: datetime


def appointment_slip(
    *,
    session: Session,
    actor: audit.Actor,
    accession: str,
    hospital: str,
    zone: tzinfo,
    now: datetime,
) -> SlipContent:
    """What the slip of order ``accession`` shows (audited ``print`` for the patient).
    ``Conflict`` for a cancelled order; ``NotFound`` for an unknown one."""
    order = get_order(session=session, accession=accession)
    if order.status == OrderStatus.CANCELLED:
        raise Conflict(f"检查 {accession} 已取消，不能打印预约单 / order {accession} is cancelled")
    patient = patient_of(session, order)
    try:
        preparation = get_procedure(session=session, code=order.procedure_code).preparation
    except NotFound:
        preparation = ""
    local_now = as_utc(now).astimezone(zone)
    content = SlipContent(
        hospital=hospital,
        campus=f"{campus_name(order.campus)}院区",
        patient_name=patient.name,
        patient_id=patient.patient_id,
        sex_age=" / ".join(
            t
            for t in (
                SEX_LABELS.get(patient.sex, ""),
                age_text(patient.birth_date, local_now.date()),
            )
            if t
        ),
        category=CATEGORY_LABELS.get(PatientCategory(order.category), order.category),
        emergency=order.category == PatientCategory.EMERGENCY,
        procedure=f"{order.procedure_name}（{order.modality}）",
        accession=order.accession,
        scheduled=as_utc(order.scheduled_at).astimezone(zone) if order.scheduled_at else None,
        room=_room_name(session, order),
        preparation=preparation,
        printed_at=local_now,
    )
    audit.record(
        session,
        actor,
        action="print",
        resource="slip",
        resource_id=order.accession,
        patient_id=patient.patient_id,
    )
    return content


def render_slip(content: SlipContent, *, font_file: Path | None) -> bytes:
    """The slip as a one-page A5 PDF."""
    font = register_font(font_file)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A5, pageCompression=1)
    canvas.setTitle(f"检查预约单 {content.accession}")
    canvas.setAuthor(content.hospital)
    _SlipWriter(canvas, font).draw(content)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def register_font(font_file: Path | None) -> str:
    """Register ``font_file`` (face 0) with reportlab under a name derived from its path
    and return that name; STSong-Light when the file is missing. Registering again is a
    no-op."""
    registered = set(pdfmetrics.getRegisteredFontNames())
    if font_file is not None and font_file.is_file():
        name = "Slip-" + hashlib.sha1(str(font_file).encode()).hexdigest()[:10]
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(font_file), subfontIndex=0))
        return name
    if FALLBACK_FONT not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


class _SlipWriter:
    """Draws a slip top-down on one canvas."""

    def __init__(self, canvas: Canvas, font: str) -> None:
        self.canvas = canvas
        self.font = font
        self.width, self.height = A5
        self.left = 12 * mm
        self.right = self.width - 12 * mm
        self.y = self.height - 16 * mm

    def draw(self, c: SlipContent) -> None:
        self._centered(c.hospital, 15)
        self._centered(f"{c.campus} 医学影像科 · 检查预约单", 12)
        self._rule()
        self._pairs(("姓名", c.patient_name), ("性别/年龄", c.sex_age))
        self._pairs(("病历号", c.patient_id), ("类别", c.category))
        self._field("检查项目", c.procedure)
        self._field("检查号", c.accession)
        if c.scheduled is not None:
            weekday = WEEKDAYS[c.scheduled.weekday()]
            when = f"{c.scheduled:%Y年%m月%d日}（周{weekday}）{c.scheduled:%H:%M}"
            self._field("预约时间", when, size=12)
            self._field("检查地点", f"{c.campus} {c.room}", size=12)
        elif c.emergency:
            self._field("预约时间", "急诊 · 随到随检", size=12)
        else:
            self._field("预约时间", "尚未预约，请到登记台预约", size=12)
        self._codes(c.accession)
        self._rule()
        self._heading("检查前准备 / 注意事项")
        self._paragraph(c.preparation or "无需特殊准备。")
        self._heading("迟到与改约")
        self._paragraph(EMERGENCY_NOTICE if c.emergency and c.scheduled is None else LATE_NOTICE)
        self.canvas.setFont(self.font, 8)
        self.canvas.drawString(
            self.left, 10 * mm, f"打印时间：{c.printed_at:%Y-%m-%d %H:%M}    请妥善保管本单"
        )

    def _centered(self, text: str, size: float) -> None:
        self.canvas.setFont(self.font, size)
        self.canvas.drawCentredString(self.width / 2, self.y, text)
        self.y -= size * 1.6

    def _rule(self) -> None:
        self.canvas.setLineWidth(0.6)
        self.canvas.line(self.left, self.y + 2 * mm, self.right, self.y + 2 * mm)
        self.y -= 3 * mm

    def _field(self, label: str, value: str, size: float = 10.5) -> None:
        self.canvas.setFont(self.font, size)
        self.canvas.drawString(self.left, self.y, f"{label}：{value}")
        self.y -= size * 1.7

    def _pairs(self, first: tuple[str, str], second: tuple[str, str]) -> None:
        self.canvas.setFont(self.font, 10.5)
        self.canvas.drawString(self.left, self.y, f"{first[0]}：{first[1]}")
        self.canvas.drawString(self.width / 2 + 4 * mm, self.y, f"{second[0]}：{second[1]}")
        self.y -= 10.5 * 1.7

    def _heading(self, text: str) -> None:
        self.canvas.setFont(self.font, 11)
        self.canvas.drawString(self.left, self.y, text)
        self.y -= 11 * 1.6

    def _paragraph(self, text: str, size: float = 9.5) -> None:
        self.canvas.setFont(self.font, size)
        for line in wrap(text, self.font, size, self.right - self.left):
            self.canvas.drawString(self.left, self.y, line)
            self.y -= size * 1.5
        self.y -= 2 * mm

    def _codes(self, accession: str) -> None:
        """Code 128 on the left (with the number under it), QR code on the right."""
        size = 28 * mm
        bottom = self.y - size
        barcode = Code128(accession, barHeight=16 * mm, barWidth=0.42 * mm, humanReadable=False)
        barcode.drawOn(self.canvas, self.left, bottom + 8 * mm)
        self.canvas.setFont(self.font, 10)
        self.canvas.drawString(self.left + 6 * mm, bottom + 3 * mm, accession)
        widget = QrCodeWidget(accession, barLevel="M")
        x0, y0, x1, y1 = widget.getBounds()
        drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
        drawing.add(widget)
        renderPDF.draw(drawing, self.canvas, self.right - size, bottom)
        self.y = bottom - 4 * mm


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of ``text`` that fit ``width`` points (Chinese breaks between any two
    characters; existing line breaks are kept)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for ch in paragraph:
            if line and pdfmetrics.stringWidth(line + ch, font, size) > width:
                lines.append(line)
                line = ch.lstrip()
            else:
                line += ch
        lines.append(line)
    return lines


def _room_name(session: Session, order: Order) -> str:
    if not order.room:
        return ""
    room = session.exec(
        select(Room).where(Room.campus == order.campus, Room.code == order.room)
    ).first()
    return room.name if room else order.room
