"""The technician console in headless Chromium, signed in with a hub user; and the same
console while the hub is away (cached sign-in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text
from sqlmodel import Session, select

from edge_gateway.config import EdgeSettings
from edge_gateway.console.users import ConsoleUsers
from edge_gateway.queue_runtime import QueueRuntime
from edge_gateway.sync.agent import build_agent
from hub.models.audit import AuditEvent
from shared.mqtt.payloads import CallEvent
from shared.mqtt.topics import CallTopic
from tests.integration.queue.support import Listener, runtime, schedule, wait_until
from tests.support.browser import chromium
from tests.support.hub import PASSWORD, RunningHub, start_hub
from tests.support.mosquitto import private_broker


def _text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _press(driver: WebDriver, key: str) -> None:
    """Press a shortcut on the page body and wait for the page that answers it."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.TAG_NAME, "body").send_keys(key)
    WebDriverWait(driver, 10).until(lambda d: _stale(old))


def _click(driver: WebDriver, element_id: str) -> None:
    """Click a submit button and wait for the page that answers it."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, 10).until(lambda d: _stale(old))


def _stale(element: object) -> bool:
    try:
        element.is_enabled()  # type: ignore[attr-defined]
    except Exception:
        return True
    return False


def test_console_in_chromium_with_hub_users(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub")
    hub.add_user("tech1", "technician", campuses="dongge", display_name="李技师")
    hub.add_user("tech_xh", "technician", campuses="xianhu")
    hub.add_user("doctor1", "clinician", campuses="dongge")
    with private_broker(tmp_path / "mosquitto") as broker:
        listener = Listener(broker.url, CallTopic.filter("dongge").pattern)
        rt = runtime(tmp_path / "edge", mqtt_url=broker.url, hub_url=hub.base_url)
        assert rt.console is not None
        base = f"http://127.0.0.1:{rt.console.port}"
        try:
            schedule(rt, "P1", "ZHANG^SANFENG=张^三丰", "ACC1")
            schedule(rt, "P2", "WANG^WU=王^五", "ACC2")
            schedule(rt, "P3", "LI^SI=李^四", "ACC3")
            schedule(rt, "P4", "ZHAO^LIU=赵^六", "ACC4")
            with chromium() as driver:
                driver.get(f"{base}/console/rooms/ct1")
                assert "/console/login" in driver.current_url  # sign-in first
                _sign_in(driver, "tech1", "wrong-password")
                assert "用户名或密码不正确" in _text(driver, "error")
                _sign_in(driver, "doctor1", PASSWORD)
                assert "只有技师和登记员" in _text(driver, "error")
                _sign_in(driver, "tech_xh", PASSWORD)
                assert "不属于本院区" in _text(driver, "error")
                _sign_in(driver, "tech1", PASSWORD)
                assert driver.current_url.endswith("/console/rooms/ct1")
                assert "李技师" in driver.page_source

                # check-in at the console
                driver.find_element(By.ID, "checkin-patient").send_keys("P1")
                _click(driver, "checkin-submit")
                assert "已签到：C001（CT1）" in _text(driver, "message")
                driver.find_element(By.ID, "checkin-accession").send_keys("ACC2")
                _click(driver, "checkin-submit")
                assert "C002" in _text(driver, "message")
                rows = driver.find_elements(By.CSS_SELECTOR, "#waiting tbody tr[data-ticket]")
                assert [r.get_attribute("data-ticket") for r in rows] == ["C001", "C002"]

                # keyboard: N calls next; the technician sees the full name to verify it
                _press(driver, "n")
                assert _text(driver, "current-ticket") == "C001"
                assert _text(driver, "current-name") == "张三丰"
                assert "已叫号：C001" in _text(driver, "message")
                _press(driver, "n")  # not possible while C001 is served
                assert "正在检查C001号，请先完成或过号" in _text(driver, "message")
                _press(driver, "r")
                assert "已重呼" in _text(driver, "message")
                _press(driver, "m")
                assert "已过号：C001" in _text(driver, "message")
                assert "C001" in _text(driver, "missed")
                _click(driver, "return-C001")
                assert "已召回排队" in _text(driver, "message")
                for patient in ("P3", "P4"):
                    driver.find_element(By.ID, "checkin-patient").send_keys(patient)
                    _click(driver, "checkin-submit")
                _press(driver, "n")
                assert _text(driver, "current-ticket") == "C002"
                _press(driver, "e")
                assert "开始检查：C002" in _text(driver, "message")
                assert "检查中" in _text(driver, "current")
                _press(driver, "c")
                assert "检查完成：C002" in _text(driver, "message")
                assert _text(driver, "done-today") == "1"
                _click(driver, "prep-C003")  # a waiting patient sent to drink water
                assert "已去准备：C003" in _text(driver, "message")
                assert "C003" in _text(driver, "preparing")
                old = driver.find_element(By.TAG_NAME, "html")
                driver.find_element(By.ID, "cancel-C004").click()
                driver.switch_to.alert.accept()  # "取消 C004 号的排队？"
                WebDriverWait(driver, 10).until(lambda d: _stale(old))
                assert "已取消：C004" in _text(driver, "message")
                _click(driver, "prep-back-C003")
                assert "准备完成" in _text(driver, "message")
                _press(driver, "s")
                assert "暂停" in _text(driver, "paused")
                _press(driver, "n")
                assert "已暂停，不能叫号" in _text(driver, "message")
                _press(driver, "s")

            # every call made at the console reached the broker, masked
            wait_until(lambda: len(listener.messages()) >= 3, what="calls on the broker")
            calls = [h.envelope.body_as(CallEvent) for h in listener.messages()]
            assert [(c.ticket, c.attempt) for c in calls][:3] == [
                ("C001", 1),
                ("C001", 2),
                ("C002", 1),
            ]
            assert calls[0].masked_name == "张*丰"
            _reads_reach_the_hub_audit(tmp_path, rt, hub)
        finally:
            listener.close()
            rt.stop()
            hub.stop()


def _reads_reach_the_hub_audit(tmp_path: Path, rt: QueueRuntime, hub: RunningHub) -> None:
    """The room pages showed P1 to P4 to tech1: each is reported once to the hub, whose
    audit trail then holds the technician's reads (delivered by the real sync agent)."""
    with rt.engine.connect() as conn:
        payloads = [
            json.loads(p)
            for p in conn.execute(
                text("SELECT payload FROM outbox WHERE kind = 'audit.read' ORDER BY id")
            ).scalars()
        ]
    reported = [pid for p in payloads for pid in p["patient_ids"]]
    assert sorted(reported) == ["P1", "P2", "P3", "P4"] and {p["username"] for p in payloads} == {
        "tech1"
    }
    token_file = tmp_path / "edge.token"
    token_file.write_text(hub.device_token("dongge"), encoding="utf-8")
    agent = build_agent(
        EdgeSettings(
            campus="dongge",
            data_dir=rt.settings.data_dir,
            hub_url=hub.base_url,
            hub_token_file=token_file,
            sync_poll_seconds=0.2,
        )
    )
    assert agent is not None
    agent.start()
    try:

        def audited() -> list[str]:
            with Session(hub.ctx.engine) as session:
                rows = session.exec(
                    select(AuditEvent.patient_id).where(
                        AuditEvent.actor == "tech1", AuditEvent.action == "read"
                    )
                ).all()
            return sorted(str(r) for r in rows)

        wait_until(
            lambda: audited() == ["P1", "P2", "P3", "P4"], timeout=30, what="reads audited at hub"
        )
    finally:
        agent.stop()


def _sign_in(driver: WebDriver, username: str, password: str) -> None:
    field = driver.find_element(By.ID, "username")
    field.clear()
    field.send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    _click(driver, "sign-in")


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "next": "/console/rooms/ct1"},
    )


def test_console_keeps_working_while_the_hub_is_away(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub")
    hub.add_user("tech1", "technician", campuses="dongge")
    hub.add_user("tech2", "technician", campuses="dongge")
    rt = runtime(tmp_path / "edge", hub_url=hub.base_url)
    assert rt.console is not None
    base = f"http://127.0.0.1:{rt.console.port}"
    try:
        schedule(rt, "P1", "LI^SI=李^四", "ACC1")
        with httpx.Client(base_url=base) as client:
            assert _login(client, "tech1", PASSWORD).status_code == 303
        hub.stop()  # the hub goes away
        with httpx.Client(base_url=base) as client:
            refused = _login(client, "tech1", "not-the-password")
            assert refused.status_code == 401 and "用户名或密码不正确" in refused.text
            never = _login(client, "tech2", PASSWORD)  # never signed in here: no record
            assert never.status_code == 401 and "无法连接中心" in never.text
            assert _login(client, "tech1", PASSWORD).status_code == 303
            json_headers = {"Accept": "application/json"}
            checked = client.post(
                "/console/rooms/ct1/check-in", data={"patient_id": "P1"}, headers=json_headers
            )
            assert checked.json() == {
                "ok": True,
                "message": "已签到：C001（CT1） / checked in",
                "tickets": ["C001"],
            }
            called = client.post(
                "/console/rooms/ct1/actions", data={"action": "call_next"}, headers=json_headers
            )
            assert called.status_code == 200 and called.json()["tickets"] == ["C001"]
            again = client.post(
                "/console/rooms/ct1/actions", data={"action": "call_next"}, headers=json_headers
            )
            assert again.status_code == 409 and "请先完成或过号" in again.json()["message"]
            bogus = client.post(
                "/console/rooms/ct1/actions", data={"action": "explode"}, headers=json_headers
            )
            assert bogus.status_code == 409 and "未知操作" in bogus.json()["message"]
            assert client.get("/console/rooms/nowhere").status_code == 404
            incomplete = client.post("/console/rooms/ct1/actions", data={}, headers=json_headers)
            assert incomplete.status_code == 422
            assert "请求不完整（action）" in incomplete.json()["message"]
            assert client.get("/console/rooms/ct1/version").json() == {"seq": rt.desk.seq("ct1")}
        with httpx.Client(base_url=base) as stranger:  # no cookie
            assert stranger.get("/console/rooms/ct1").status_code == 303
            denied = stranger.post(
                "/console/rooms/ct1/actions",
                data={"action": "call_next"},
                headers={"Accept": "application/json"},
            )
            assert denied.status_code == 401
    finally:
        rt.stop()


@pytest.mark.parametrize("forged", ["", "x.y", "eyJ1IjoiYWRtaW4ifQ==.0000"])
def test_forged_cookies_are_refused(tmp_path: Path, forged: str) -> None:
    rt = runtime(tmp_path / "edge")
    assert rt.console is not None
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{rt.console.port}") as client:
            client.cookies.set("pacs_console", forged)
            assert client.get("/console").status_code == 303
    finally:
        rt.stop()


def test_a_second_gateway_on_the_same_data_dir_is_refused_not_obeyed(tmp_path: Path) -> None:
    """Two gateways started on one data directory by mistake: the one that did not write
    last is told so (and writes nothing) instead of overwriting the queue."""
    first = runtime(tmp_path / "edge")
    second = runtime(tmp_path / "edge")
    try:
        schedule(first, "P1", "LI^SI=李^四", "ACC1")
        schedule(first, "P2", "WANG^WU=王^五", "ACC2")
        users = ConsoleUsers(first.engine, "dongge", None)
        users._remember(
            "tech1", PASSWORD, {"role": "technician", "campuses": ["dongge"], "display_name": ""}
        )
        answers = []
        for rt, patient in ((first, "P1"), (second, "P2")):
            assert rt.console is not None
            with httpx.Client(
                base_url=f"http://127.0.0.1:{rt.console.port}",
                headers={"Accept": "application/json"},
            ) as client:
                assert _login(client, "tech1", PASSWORD).status_code == 303
                answers.append(
                    client.post("/console/rooms/ct1/check-in", data={"patient_id": patient})
                )
        assert answers[0].status_code == 200
        assert answers[1].status_code == 409 and "同一数据目录只能运行一个网关" in answers[1].text
        assert [t.patient_id for t in first.desk.queue.tickets.values()] == ["P1"]
    finally:
        second.stop()
        first.stop()


def test_a_gateway_without_a_hub_signs_in_its_own_console_users(tmp_path: Path) -> None:
    program = Path(sys.executable).with_name("pacs-edge")
    data_dir = tmp_path / "edge"
    added = subprocess.run(
        [
            *(str(program), "console-user", "add", "--data-dir", str(data_dir)),
            *("--username", "li", "--role", "technician", "--display-name", "李技师"),
            "--password-stdin",
        ],
        input="Local-Passw0rd\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    short = subprocess.run(
        [str(program), "console-user", "add", "--data-dir", str(data_dir), "--username", "x"],
        input="short\n",
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert short.returncode != 0
    rt = runtime(data_dir)
    assert rt.console is not None
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{rt.console.port}") as client:
            assert _login(client, "li", "wrong-password").status_code == 401
            assert _login(client, "li", "Local-Passw0rd").status_code == 303
            assert "李技师" in client.get("/console/rooms/ct1").text
    finally:
        rt.stop()
    listed = subprocess.run(
        [str(program), "console-user", "list", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "li\t李技师\ttechnician\tlocal" in listed.stdout
