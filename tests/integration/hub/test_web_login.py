"""The web UI in headless Chromium: sign-in, a wrong password, the home page, sign-out."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from hub.security.roles import Role
from tests.support.browser import chromium
from tests.support.hub import PASSWORD, RunningHub


def test_sign_in_and_out(sqlite_hub: RunningHub, tmp_path: Path) -> None:
    sqlite_hub.add_user("huang", Role.REGISTRAR, "dongge", display_name="黄登记")
    with chromium() as browser:
        browser.get(sqlite_hub.base_url + "/")
        assert "/login" in browser.current_url  # not signed in: sent to the sign-in page
        browser.find_element(By.ID, "username").send_keys("huang")
        browser.find_element(By.ID, "password").send_keys("wrong-password-1")
        browser.find_element(By.ID, "login-button").click()
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "error"))
        assert "用户名或密码错误" in browser.find_element(By.ID, "error").text

        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login-button").click()
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "who"))
        assert browser.find_element(By.ID, "who").text == "黄登记（登记员）"
        assert "东葛" in browser.find_element(By.TAG_NAME, "main").text
        browser.save_screenshot(str(tmp_path / "home.png"))

        browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        WebDriverWait(browser, 30).until(lambda b: "/login" in b.current_url)
        browser.get(sqlite_hub.base_url + "/")
        assert "/login" in browser.current_url
