"""Check-in (报到) on the registrar's order page in headless Chromium against a real hub:
the button moves the order to 已报到 (history, audit, the edge's order feed), disappears
afterwards, and an order cancelled meanwhile shows the refusal on the page."""

from __future__ import annotations

import json
from pathlib import Path

from selenium.webdriver.common.by import By

from hub.security.roles import Role
from shared.sync import ORDERS_PATH
from tests.integration.hub.factories import (
    API,
    audit_rows,
    create_order,
    create_patient,
    load_catalogue,
    ok,
    registrar,
)
from tests.integration.hub.web_steps import go, rows, screenshot, sign_in, text
from tests.support.browser import chromium
from tests.support.hub import RunningHub


def test_check_in_button(sqlite_hub: RunningHub, tmp_path: Path) -> None:
    hub = sqlite_hub
    load_catalogue(hub)
    patient = create_patient(hub, name="王五")
    order = create_order(hub, patient["patient_id"])["accession"]
    later = create_order(hub, patient["patient_id"])["accession"]
    edge = hub.device_token("dongge")
    with hub.client(edge) as c:
        cursor = ok(c.get(ORDERS_PATH))["cursor"]
    hub.add_user("huang", Role.REGISTRAR, "dongge", display_name="黄登记")
    with chromium() as browser:
        sign_in(browser, hub, "huang", f"/registration/orders/{order}")
        assert text(browser, "order-status") == "已登记"
        assert text(browser, "arrive-button") == "报到 / Check in"
        screenshot(browser, tmp_path / "order_before_check_in.png")
        go(browser, "arrive-button")
        assert text(browser, "order-status") == "已报到"
        assert text(browser, "flash") == f"已报到 {order}"
        assert not browser.find_elements(By.ID, "arrive-button")
        history = rows(browser, "#history-table tr.history-row")
        assert len(history) == 2 and "已登记 → 已报到" in history[1]
        assert "报到" in history[1] and "huang" in history[1]
        screenshot(browser, tmp_path / "order_arrived.png")

        # Cancelled at another desk while this page was open: the refusal is shown.
        browser.get(f"{hub.base_url}/registration/orders/{later}")
        with hub.client(registrar(hub)) as c:
            ok(c.post(f"{API}/orders/{later}/cancel", json={"reason": "患者离院"}))
        go(browser, "arrive-button")
        refusal = text(browser, "form-errors").splitlines()
        assert refusal[0] == "未能报到："
        assert refusal[1].startswith(f"检查 {later} 已取消，不能报到；如仍需检查请重新登记 / ")
        assert text(browser, "order-status") == "已取消"
        assert not browser.find_elements(By.ID, "arrive-button")
        screenshot(browser, tmp_path / "order_arrive_refused.png")

    with hub.client(edge) as c:
        feed = ok(c.get(ORDERS_PATH, params={"cursor": cursor}))["orders"]
    assert [(o["accession"], o["status"]) for o in feed] == [
        (order, "arrived"),
        (later, "cancelled"),
    ]
    [update] = audit_rows(hub, actor="huang", action="update")
    assert update["resource_id"] == order and update["patient_id"] == patient["patient_id"]
    assert json.loads(update["detail"])["status"] == ["registered", "arrived"]
