"""The registrar's workstation (登记员工作站) in headless Chromium against a real hub:
search, register (with the duplicate warning), order, book, print the slip, cancel;
errors shown on the forms with the input kept; the audit trail of the reads; other
roles refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from selenium.webdriver.common.by import By

from hub.security.roles import Role
from tests.integration.hub.factories import (
    audit_rows,
    create_patient,
    create_room,
    generate_slots,
    id_card,
    load_catalogue,
    local_today,
    tomorrow,
)
from tests.integration.hub.web_steps import (
    choose,
    click,
    fetch,
    fill,
    follow,
    go,
    rows,
    screenshot,
    sign_in,
    text,
    value,
)
from tests.support.browser import chromium
from tests.support.hub import RunningHub

CARD = id_card(date(1985, 3, 12), sequence=123)  # a man born 1985-03-12


def _seed(hub: RunningHub) -> None:
    """The shipped catalogue, a CT room at 东葛 and its slots tomorrow 08:00–10:00."""
    load_catalogue(hub)
    create_room(hub, code="CT1", modality="CT", station_ae="DG_CT1")
    generate_slots(hub, room="CT1", day=tomorrow())


def test_registrar_flow(hub: RunningHub, tmp_path: Path) -> None:
    _seed(hub)
    hub.add_user("huang", Role.REGISTRAR, "dongge", display_name="黄登记")
    with chromium() as browser:
        sign_in(browser, hub, "huang", "/registration/patients")
        fill(browser, {"q": "张三丰"})
        go(browser, "search-button")
        assert "未找到" in text(browser, "no-result")
        screenshot(browser, tmp_path / "search_empty.png")

        go(browser, "register-instead")
        assert value(browser, "name") == "张三丰"  # the searched name is filled in
        fill(browser, {"patient_id": "P900001", "id_card": CARD, "phone": "13807710000"})
        go(browser, "save-patient")
        assert text(browser, "flash") == "已登记患者 张三丰（病历号 P900001）"
        assert text(browser, "patient-name") == "张三丰"
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "1985-03-12" in main and CARD[-4:] in main and CARD not in main
        screenshot(browser, tmp_path / "patient_new.png")

        # The same person again under another number: warned, with the candidate listed.
        browser.get(hub.base_url + "/registration/new-patient")
        fill(browser, {"patient_id": "P900002", "name": "张三丰", "id_card": CARD})
        go(browser, "save-patient")
        assert "可能重复登记" in text(browser, "duplicates")
        [candidate] = rows(browser, "#candidate-table tr.candidate")
        assert "P900001" in candidate and "身份证号相同" in candidate
        assert value(browser, "patient_id") == "P900002"  # the input is kept
        screenshot(browser, tmp_path / "patient_duplicate.png")
        go(browser, "confirm-duplicate")
        assert text(browser, "flash") == "已登记患者 张三丰（病历号 P900002）"

        # Found by initials; open the first registration.
        go(browser, "nav-patients")
        fill(browser, {"q": "zsf"})
        go(browser, "search-button")
        found = rows(browser, "#patient-table tbody tr")
        assert [r.split()[0] for r in found] == ["P900001", "P900002"]
        follow(browser, browser.find_element(By.LINK_TEXT, "P900001"))
        assert text(browser, "patient-id") == "P900001"
        assert "还没有检查申请" in text(browser, "no-orders")

        # A CT order, booked into the first free slot tomorrow.
        go(browser, "new-order")
        choose(browser, "procedure_code", "CT-CHEST")
        click(browser, "category-outpatient")
        fill(browser, {"requesting_department": "呼吸内科", "requesting_doctor": "李医生"})
        fill(browser, {"clinical_info": "咳嗽两周"})
        go(browser, "save-order")
        accession = text(browser, "accession")
        assert accession.startswith("DG") and text(browser, "order-status") == "已登记"
        assert text(browser, "flash") == f"已登记检查，检查号 {accession}"
        go(browser, "day-1")
        slots = browser.find_elements(By.CSS_SELECTOR, "#slot-form input[name=slot_id]")
        assert len(slots) == 4  # 08:00, 08:30, 09:00, 09:30
        slots[0].click()
        go(browser, "book-button")
        assert text(browser, "order-status") == "已预约"
        appointment = text(browser, "appointment")
        assert f"{tomorrow().isoformat()} 08:00" in appointment and "CT1室" in appointment
        screenshot(browser, tmp_path / "order_booked.png")

        # The slip is a PDF shown inline.
        slip = fetch(browser, hub, browser.find_element(By.ID, "slip-link").get_attribute("href"))
        assert slip.status_code == 200, slip.text
        assert slip.headers["content-type"] == "application/pdf"
        assert slip.headers["content-disposition"].startswith("inline")
        assert slip.content.startswith(b"%PDF")

        # Cancelled with a reason: the history shows booking and cancelling.
        fill(browser, {"cancel_reason": "患者要求取消"})
        go(browser, "cancel-button")
        assert text(browser, "order-status") == "已取消"
        assert text(browser, "cancel-reason-text") == "患者要求取消"
        history = rows(browser, "#history-table tr.history-row")
        assert len(history) == 3
        assert "已登记" in history[0] and "登记" in history[0]
        assert "已登记 → 已预约" in history[1] and "CT1室" in history[1]
        assert "已预约 → 已取消" in history[2] and "患者要求取消" in history[2]
        assert not browser.find_elements(By.ID, "slip-link")
        screenshot(browser, tmp_path / "order_cancelled.png")

        # Today's orders of 东葛: the cancelled order (registered today) with its label.
        browser.get(f"{hub.base_url}/registration/orders?campus=dongge&date={local_today()}")
        [row] = rows(browser, "#orders-table tr.order-row")
        assert accession in row and "张三丰" in row and "已取消" in row
        screenshot(browser, tmp_path / "orders_today.png")

    reads = audit_rows(hub, patient_id="P900001", actor="huang", action="read")
    assert {(r["resource"], r["role"]) for r in reads} >= {
        ("patient", "registrar"),
        ("order", "registrar"),
    }
    details = {r["detail"] for r in reads}
    assert {"search", "duplicate warning", "order"} <= details
    printed = audit_rows(hub, patient_id="P900001", action="print")
    assert [(r["actor"], r["resource_id"]) for r in printed] == [("huang", accession)]


def test_errors_keep_the_input(sqlite_hub: RunningHub, tmp_path: Path) -> None:
    hub = sqlite_hub
    _seed(hub)
    patient = create_patient(hub, name="李四", sex="F", birth_date="1990-01-02")
    pid = patient["patient_id"]
    hub.add_user("huang", Role.REGISTRAR, "dongge", display_name="黄登记")
    with chromium() as browser:
        sign_in(browser, hub, "huang", f"/registration/patients/{pid}/new-order")
        fill(browser, {"requesting_department": "骨科", "clinical_info": "外伤后头痛"})
        go(browser, "save-order")  # no procedure, no category
        errors = text(browser, "form-errors")
        assert "请选择检查项目" in errors and "请选择病人类别" in errors
        assert value(browser, "requesting_department") == "骨科"
        assert value(browser, "clinical_info") == "外伤后头痛"
        screenshot(browser, tmp_path / "order_form_errors.png")

        choose(browser, "procedure_code", "CT-HEAD")
        click(browser, "category-emergency")
        go(browser, "save-order")
        assert text(browser, "emergency-badge") == "急诊"
        assert "随到随检" in text(browser, "appointment")
        assert not browser.find_element(By.ID, "booking-details").get_attribute("open")
        screenshot(browser, tmp_path / "order_emergency.png")

        # Editing needs a reason; the change typed is kept meanwhile.
        go(browser, "edit-order")
        fill(browser, {"clinical_info": "外伤后头痛，呕吐一次"})
        go(browser, "save-order")
        assert "请填写修改原因" in text(browser, "form-errors")
        assert value(browser, "clinical_info") == "外伤后头痛，呕吐一次"
        fill(browser, {"reason": "补充病史"})
        go(browser, "save-order")
        assert text(browser, "clinical-info") == "外伤后头痛，呕吐一次"

        go(browser, "cancel-button")  # no reason
        assert "请填写取消原因" in text(browser, "form-errors")
        assert text(browser, "order-status") == "已登记"

        # Booked anyway (the closed section opened), moved to another slot, then the
        # booking cancelled (reason required).
        browser.find_element(By.CSS_SELECTOR, "#booking-details summary").click()
        go(browser, "day-1")
        browser.find_elements(By.CSS_SELECTOR, "#slot-form input[name=slot_id]")[0].click()
        go(browser, "book-button")
        assert "08:00" in text(browser, "appointment")
        go(browser, "day-1")
        free = browser.find_elements(By.CSS_SELECTOR, "#slot-form input[name=slot_id]:enabled")
        free[-1].click()
        fill(browser, {"reschedule_reason": "家属要求"})
        go(browser, "book-button")
        assert "09:30" in text(browser, "appointment")
        assert text(browser, "flash").startswith("已改约到 CT1")
        go(browser, "unbook-button")
        assert "请填写取消预约的原因" in text(browser, "form-errors")
        fill(browser, {"unbook_reason": "改日再约"})
        go(browser, "unbook-button")
        assert text(browser, "order-status") == "已登记"
        appointments = rows(browser, "#appointments-table tr.appointment-row")
        assert ["已改约" in appointments[0], "已取消" in appointments[1]] == [True, True]

        browser.get(f"{hub.base_url}/registration/orders")
        [row] = browser.find_elements(By.CSS_SELECTOR, "#orders-table tr.emergency")
        assert "急诊" in row.text and "李四" in row.text and "已登记" in row.text


def test_other_roles_are_refused(sqlite_hub: RunningHub, tmp_path: Path) -> None:
    hub = sqlite_hub
    hub.add_user("wang", Role.TECHNICIAN, "dongge", display_name="王技师")
    hub.add_user("zhou", Role.REGISTRAR, "xianhu", display_name="周登记")
    with chromium() as browser:
        browser.get(hub.base_url + "/registration/patients")
        assert "/login" in browser.current_url  # nobody signed in: sent to sign in
        sign_in(browser, hub, "wang", "/registration/patients")
        assert browser.find_element(By.TAG_NAME, "h1").text == "无权访问"
        assert "技师无权" in text(browser, "error-message")
        screenshot(browser, tmp_path / "forbidden.png")
        browser.get(hub.base_url + "/registration/orders")
        assert "技师无权" in text(browser, "error-message")

        follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))
        sign_in(browser, hub, "zhou", "/registration/orders?campus=dongge")
        assert "xianhu" not in browser.current_url
        assert "没有dongge院区的权限" in text(browser, "error-message")
