"""Steps the browser tests of the registrar's pages share: sign in, read an element,
choose from a select, take a whole-page screenshot, fetch a URL with the browser's
session cookie."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from hub.api.deps import SESSION_COOKIE
from tests.support.hub import PASSWORD, RunningHub

PAGE_WAIT = 30.0
"""Longest wait for a page to replace the previous one (a bound, not a pause)."""
_NEW_PAGE_LOADED = "return !window.pacsOldPage && document.readyState === 'complete'"


def sign_in(browser: WebDriver, hub: RunningHub, username: str, next_path: str = "/") -> None:
    """Sign in through the sign-in page, which then opens ``next_path``."""
    browser.get(f"{hub.base_url}/login?next={next_path}")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    go(browser, "login-button")
    assert "/login" not in browser.current_url, text(browser, "error")


def text(browser: WebDriver, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def value(browser: WebDriver, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).get_attribute("value") or "")


def fill(browser: WebDriver, fields: dict[str, str]) -> None:
    """Type into inputs and text areas by id (clearing them first)."""
    for element_id, typed in fields.items():
        element = browser.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(typed)


def choose(browser: WebDriver, element_id: str, option_value: str) -> None:
    Select(browser.find_element(By.ID, element_id)).select_by_value(option_value)


def click(browser: WebDriver, element_id: str) -> None:
    """Click an element that does not leave the page (a radio button, a checkbox)."""
    browser.find_element(By.ID, element_id).click()


def go(browser: WebDriver, element_id: str) -> None:
    """Click a link or submit button and wait until the next page has replaced this one
    (a click can return before the navigation starts)."""
    follow(browser, browser.find_element(By.ID, element_id))


def follow(browser: WebDriver, element: WebElement) -> None:
    """Click ``element`` and wait for the page it leads to."""
    browser.execute_script("window.pacsOldPage = true")
    element.click()
    # Mid-navigation, the driver may fail a command outright: such errors are retried.
    wait = WebDriverWait(browser, PAGE_WAIT, ignored_exceptions=(WebDriverException,))
    wait.until(lambda b: b.execute_script(_NEW_PAGE_LOADED))


def rows(browser: WebDriver, css: str) -> list[str]:
    """The text of each element matching ``css`` (e.g. table rows)."""
    return [str(e.text) for e in browser.find_elements(By.CSS_SELECTOR, css)]


def screenshot(browser: WebDriver, path: Path) -> Path:
    """The whole page as a PNG (the window is stretched to the page's height)."""
    width, height = 1366, 900
    page = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(width, max(height, min(page + 140, 4000)))
    browser.save_screenshot(str(path))
    browser.set_window_size(width, height)
    return path


def fetch(browser: WebDriver, hub: RunningHub, url: str) -> httpx.Response:
    """GET ``url`` (absolute, or a path on the hub) as the browser's signed-in person."""
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None, "not signed in"
    with httpx.Client(base_url=hub.base_url, timeout=30) as client:
        client.cookies.set(SESSION_COOKIE, str(cookie["value"]))
        return client.get(url)
