"""The hub as the edge sees it: an HTTPS client for the order feed, the event batches
and STOW-RS, authenticated with the edge's device token.

Every failure is one of three exceptions, so the loops know what to do:
``HubUnavailable`` (network, timeout, 5xx: retry with back-off), ``HubRefused``
(401/403 or no token: an operator must re-enrol the edge) and ``HubRejected`` (another
4xx: this request is wrong, retrying it as is will not help soon).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from edge_gateway.sync.multipart import StowBody, StowResult, UploadFile, parse_stow_reply
from shared.sync import (
    ACCESSIONS_PATH,
    EVENTS_PATH,
    ORDERS_PATH,
    STOW_PATH,
    AccessionReport,
    AccessionReportResult,
    EventBatch,
    EventBatchResult,
    OrderFeed,
)

_M = TypeVar("_M", bound=BaseModel)

REENROL_HINT = (
    "中心拒绝本边缘网关的令牌，请用 pacs-hub device add 重新登记并更新令牌文件 / "
    "the hub refuses this edge's token: re-enrol with pacs-hub device add"
)


class HubError(Exception):
    """A hub request that did not succeed; the message says why."""


class HubUnavailable(HubError):
    """The hub could not be reached or failed (5xx): try again later."""


class HubRefused(HubError):
    """The hub refuses this edge's credentials (401/403), or there is no token."""


class HubRejected(HubError):
    """The hub answered 4xx to this request."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code


class HubClient:
    """One connection pool to the hub. Thread-safe (httpx.Client is); ``close`` at the end.

    The token is read from ``token_file`` before every request, so a re-enrolled edge
    needs no restart.
    """

    def __init__(
        self,
        base_url: str,
        token_file: Path,
        *,
        timeout: float = 120.0,
        ca_file: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_file = token_file
        self.timeout = timeout
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=10.0),
            verify=verify,
            transport=transport,
            headers={"User-Agent": "pacs-edge-sync"},
        )

    def close(self) -> None:
        self._http.close()

    def _auth(self) -> dict[str, str]:
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise HubRefused(
                f"无法读取令牌文件 {self.token_file} / cannot read the token file "
                f"{self.token_file} ({exc.strerror or exc}): save the token from "
                "pacs-hub device add there"
            ) from exc
        if not token:
            raise HubRefused(
                f"令牌文件 {self.token_file} 是空的 / the token file {self.token_file} is empty: "
                "put the token from pacs-hub device add in it"
            )
        return {"Authorization": f"Bearer {token}"}

    def _send(
        self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        headers = {**self._auth(), **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise HubUnavailable(
                f"中心无法连接 / the hub cannot be reached ({type(exc).__name__}: "
                f"{exc or 'no answer'})"
            ) from exc
        _raise_for(response, ok)
        return response

    def orders(self, cursor: int, *, wait: float, limit: int) -> OrderFeed:
        """One page of the order feed after ``cursor`` (held open up to ``wait`` s)."""
        response = self._send(
            "GET",
            ORDERS_PATH,
            params={"cursor": cursor, "wait": f"{wait:g}", "limit": limit},
            timeout=httpx.Timeout(wait + self.timeout, connect=10.0),
        )
        return _model(OrderFeed, response)

    def post_events(self, batch: EventBatch) -> EventBatchResult:
        """Send a batch of events; the hub says which it took, had, or refuses."""
        response = self._send(
            "POST",
            EVENTS_PATH,
            content=batch.model_dump_json().encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        return _model(EventBatchResult, response)

    def report_accessions(self, report: AccessionReport) -> AccessionReportResult:
        """Send the highest accession numbers this edge holds; the hub says which of
        its counters it had to raise."""
        response = self._send(
            "POST",
            ACCESSIONS_PATH,
            content=report.model_dump_json().encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        return _model(AccessionReportResult, response)

    def stow(self, files: Sequence[UploadFile]) -> StowResult:
        """Send ``files`` in one STOW-RS request; return what the hub stored.

        Raises ``OSError`` (a file cannot be opened; nothing was sent) or a ``HubError``.
        A 409 (nothing stored) still returns the per-instance reasons.
        """
        with StowBody(files) as body:
            response = self._send(
                "POST",
                STOW_PATH,
                content=iter(body),
                headers={
                    "Content-Type": body.content_type,
                    "Content-Length": str(body.length),
                    "Accept": "application/dicom+json",
                },
                ok=(409,),
            )
        try:
            return parse_stow_reply(response.json())
        except ValueError:
            return parse_stow_reply(None)


def _raise_for(response: httpx.Response, ok: tuple[int, ...] = ()) -> None:
    code = response.status_code
    if code < 400 or code in ok:
        return
    detail = _detail(response)
    if code in (401, 403):
        raise HubRefused(f"{REENROL_HINT} (HTTP {code}: {detail})")
    if code >= 500 or code in (408, 429):
        raise HubUnavailable(f"中心暂时出错 / the hub failed (HTTP {code}: {detail})")
    raise HubRejected(code, detail)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


def _model(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise HubRejected(
            response.status_code, f"unexpected answer from the hub ({exc.error_count()} errors)"
        ) from exc
