"""登记员工作站 — patients: search, register (with the possible-duplicate warning and an
explicit “仍然新建”), and a patient's page with their orders.

The same service functions as ``hub.api.routes.patients`` and audited as that API is:
every patient shown (search results, duplicate candidates, the patient page) is a
``read`` by the registrar; registering is audited by the service.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response, status
from sqlmodel import Session

from hub.api.deps import ContextDep, Principal, SessionDep
from hub.api.routes.orders import OrderPublic
from hub.api.routes.patients import PatientPublic
from hub.services import audit, orders, patients
from hub.services.errors import ServiceError
from hub.services.slip import SEX_LABELS
from hub.web.forms import FormInvalid, PatientForm
from hub.web.registration_common import (
    PageRoute,
    Registrar,
    redirect,
    render,
    service_status,
    today,
)

router = APIRouter(prefix="/registration", include_in_schema=False, route_class=PageRoute)

SEARCH_LIMIT = 50
MATCH_LABELS = {
    "id_card": "身份证号相同",
    "name_birth_date": "姓名和出生日期相同",
    "name_phone": "姓名和电话相同",
}
DUPLICATE_WARNING = (
    "可能重复登记：已有下列患者与本次填写的信息相似。如是同一人，请点击病历号打开该患者；"
    "如确认不是同一人，请点击“仍然新建”。 / Possible duplicates: open the matching patient, "
    "or press 仍然新建 if this is a different person."
)
_ID_CARD = re.compile(r"^[0-9]{17}[0-9Xx]$")


def patient_url(patient_id: str) -> str:
    return f"/registration/patients/{quote(patient_id, safe='')}"


@router.get("/patients")
def search_page(
    request: Request, principal: Registrar, session: SessionDep, ctx: ContextDep, q: str = ""
) -> Response:
    """The search box (patient number, name, pinyin or initials, phone, identity card)
    and, when searched, the matching patients (each audited as read)."""
    found: list[PatientPublic] = []
    total = 0
    errors: list[str] = []
    if q.strip():
        try:
            rows, total = patients.search_patients(
                session=session, secret=ctx.secret, q=q, limit=SEARCH_LIMIT
            )
        except ServiceError as exc:
            errors = [exc.message]
        else:
            day = today(ctx)
            found = [PatientPublic.of(p, day) for p in rows]
            audit.record_reads(
                session,
                principal.actor,
                resource="patient",
                patient_ids=[p.patient_id for p in found],
                detail="search",
            )
            session.commit()
    context = {
        "q": q,
        "found": found,
        "total": total,
        "limit": SEARCH_LIMIT,
        "errors": errors,
        "sex_labels": SEX_LABELS,
        "new_url": "/registration/new-patient" + (f"?q={quote(q.strip())}" if q.strip() else ""),
    }
    code = status.HTTP_400_BAD_REQUEST if errors else status.HTTP_200_OK
    return render(request, principal, "reg_patients.html", context, status_code=code)


@router.get("/new-patient")
def new_patient_page(request: Request, principal: Registrar, q: str = "") -> Response:
    """An empty registration form; a searched name or identity card is filled in."""
    text = q.strip()
    form = PatientForm()
    if _ID_CARD.match(text):
        form.id_card = text.upper()
    elif any("\u4e00" <= ch <= "\u9fff" for ch in text):
        form.name = text
    return _form_page(request, principal, form)


@router.post("/new-patient")
def new_patient_submit(
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
    form: Annotated[PatientForm, Form()],
) -> Response:
    """Register the patient and go to their page; on a possible duplicate, the form again
    with the candidates (audited as read) and the “仍然新建” button; on an error, the form
    again with the sentence and the input kept."""
    try:
        patient = patients.create_patient(
            session=session, secret=ctx.secret, actor=principal.actor, data=form.to_create()
        )
    except patients.PossibleDuplicates as exc:
        _audit_candidates(session, principal, exc)
        candidates = list(exc.extra.get("candidates", []))
        return _form_page(
            request, principal, form, [DUPLICATE_WARNING], candidates, status.HTTP_409_CONFLICT
        )
    except FormInvalid as exc:
        session.rollback()
        return _form_page(request, principal, form, exc.messages, [], status.HTTP_400_BAD_REQUEST)
    except ServiceError as exc:
        session.rollback()
        return _form_page(request, principal, form, [exc.message], [], service_status(exc))
    session.commit()
    return redirect(
        patient_url(patient.patient_id),
        f"已登记患者 {patient.name}（病历号 {patient.patient_id}）",
    )


@router.get("/patients/{patient_id}")
def patient_page(
    patient_id: str,
    request: Request,
    principal: Registrar,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    """The patient and their orders at the registrar's campuses (audited as read)."""
    patient = patients.get_patient(session=session, patient_id=patient_id)
    view = PatientPublic.of(patient, today(ctx))
    rows, total = orders.list_orders(
        session=session,
        zone=ctx.settings.zone,
        campuses=principal.user.campus_list,
        patient_id=patient.patient_id,
        limit=200,
    )
    order_views = [OrderPublic.of(o, p) for o, p in rows]
    audit.record(
        session,
        principal.actor,
        action="read",
        resource="patient",
        resource_id=view.patient_id,
        patient_id=view.patient_id,
    )
    if order_views:
        audit.record_reads(
            session, principal.actor, resource="order", patient_ids=[view.patient_id], detail="list"
        )
    session.commit()
    context = {
        "patient": view,
        "orders": order_views,
        "total": total,
        "sex_labels": SEX_LABELS,
        "new_order_url": patient_url(view.patient_id) + "/new-order",
    }
    return render(request, principal, "reg_patient.html", context)


def _form_page(
    request: Request,
    principal: Principal,
    form: PatientForm,
    errors: list[str] | None = None,
    candidates: list[dict[str, Any]] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    context = {
        "form": form,
        "errors": errors or [],
        "candidates": candidates or [],
        "match_labels": MATCH_LABELS,
        "sex_labels": SEX_LABELS,
    }
    return render(request, principal, "reg_patient_form.html", context, status_code=status_code)


def _audit_candidates(
    session: Session, principal: Principal, exc: patients.PossibleDuplicates
) -> None:
    """The candidates of a duplicate warning are patients shown: audited as read (the
    refused registration itself is rolled back), as the API does."""
    session.rollback()
    audit.record_reads(
        session,
        principal.actor,
        resource="patient",
        patient_ids=exc.patient_ids,
        detail="duplicate warning",
    )
    session.commit()
