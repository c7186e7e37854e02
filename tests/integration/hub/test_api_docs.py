"""The API documentation (/docs: Swagger UI, /redoc: ReDoc) works without internet access:
the pages name no other host, the hub serves every script and stylesheet they load and the
OpenAPI document they show, and in a browser that resolves no host name but loopback the
pages render the hub's operations."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import chromium
from tests.support.hub import RunningHub

PAGES = ("/docs", "/redoc")
ANY_URL = re.compile(r"""\b[a-z][a-z0-9+.-]*://[^\s"'<>)]+""", re.IGNORECASE)
SPEC_URL = re.compile(r"""url:\s*'([^']+)'|spec-url="([^"]+)\"""")
JS_TYPES = ("text/javascript", "application/javascript")
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""ReDoc's "API docs by Redocly" badge image; offline it fails to load and ReDoc hides it."""


class _Assets(HTMLParser):
    """The scripts and stylesheets (and icons) a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.icons: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(str(a["src"]))
        if tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").split()
            if "stylesheet" in rel:
                self.stylesheets.append(str(a["href"]))
            elif "icon" in rel:
                self.icons.append(str(a["href"]))


def _page(hub: RunningHub, path: str) -> tuple[str, _Assets]:
    with hub.client() as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assets = _Assets()
    assets.feed(r.text)
    return r.text, assets


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_names_no_other_host(sqlite_hub: RunningHub, path: str) -> None:
    html, assets = _page(sqlite_hub, path)
    foreign = [u for u in ANY_URL.findall(html) if not u.startswith(sqlite_hub.base_url)]
    assert foreign == [], f"{path} names other hosts: {foreign}"
    assert assets.scripts, f"{path} loads no script"
    for url in [*assets.scripts, *assets.stylesheets, *assets.icons]:
        assert url.startswith("/"), f"{path} loads {url} from elsewhere than the hub"
    assert "fonts.googleapis.com" not in html


@pytest.mark.parametrize("path", PAGES)
def test_hub_serves_what_the_docs_page_loads(sqlite_hub: RunningHub, path: str) -> None:
    html, assets = _page(sqlite_hub, path)
    if path == "/docs":
        assert assets.stylesheets, "Swagger UI's page links no stylesheet"
    with sqlite_hub.client() as c:
        for url in assets.scripts:
            r = c.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-type"].startswith(JS_TYPES), (url, r.headers)
            assert len(r.content) > 100_000, f"{url} is not the whole bundle"
        for url in assets.stylesheets:
            r = c.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-type"].startswith("text/css"), (url, r.headers)
        for url in assets.icons:
            r = c.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-type"].startswith("image/"), (url, r.headers)

        match = SPEC_URL.search(html)
        assert match, f"{path} names no OpenAPI document"
        spec_url = match.group(1) or match.group(2)
        assert spec_url == sqlite_hub.app.openapi_url
        r = c.get(spec_url)
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/health" in spec["paths"]
    assert not any(p in spec["paths"] for p in PAGES)  # the pages are not API operations


def test_fastapi_cdn_pages_are_not_installed(sqlite_hub: RunningHub) -> None:
    """Only the hub's own pages answer at /docs and /redoc (FastAPI's would load a CDN)."""
    docs_routes = [
        r for r in sqlite_hub.app.routes if getattr(r, "path", None) in (*PAGES, "/openapi.json")
    ]
    assert sorted(getattr(r, "path", "") for r in docs_routes) == [
        "/docs",
        "/openapi.json",
        "/redoc",
    ]
    assert sqlite_hub.app.docs_url is None
    assert sqlite_hub.app.redoc_url is None


# A page counts as rendered when it shows an operation of the hub's API: Swagger UI's
# ".opblock" (one per operation), ReDoc's operation sections.
RENDERED = {
    "/docs": "#swagger-ui .opblock",
    "/redoc": "[data-section-id^='operation/']",
}


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_renders_without_internet(sqlite_hub: RunningHub, path: str) -> None:
    with chromium(offline=True) as browser:
        with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED"):
            browser.get("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css")

        browser.get(sqlite_hub.base_url + path)
        WebDriverWait(browser, 60).until(
            lambda b: (
                b.find_elements(By.CSS_SELECTOR, RENDERED[path])
                or "Unable to render" in b.find_element(By.TAG_NAME, "body").text
            )
        )
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Unable to render" not in body, body[:500]
        assert "/api/v1/health" in body or "Health" in body
        loaded: list[str] = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
    assert any(u.endswith("/openapi.json") for u in loaded), loaded
    foreign = [u for u in loaded if not u.startswith(sqlite_hub.base_url)]
    assert set(foreign) <= {REDOCLY_LOGO}, f"{path} reached for other hosts: {foreign}"
