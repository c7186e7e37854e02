"""Headless Chromium driven through chromedriver (Debian's chromium + chromium-driver)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.requirements import require_tool

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
    "--lang=zh-CN",
)

OFFLINE_FLAG = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
"""Resolves no host name but loopback: a hospital network without internet access."""


@contextmanager
def chromium(
    download_dir: Path | None = None, *, offline: bool = False
) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session; quit at the end. ``offline``: it reaches only loopback
    (``OFFLINE_FLAG``)."""
    require_tool("chromium", package="chromium")
    require_tool("chromedriver", package="chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if offline:
        options.add_argument(OFFLINE_FLAG)
    if download_dir is not None:
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(download_dir),
                "download.prompt_for_download": False,
                "plugins.always_open_pdf_externally": True,
            },
        )
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
