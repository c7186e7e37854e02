"""WADO-RS content negotiation (PS3.18 §8.7): which ``Accept`` headers the hub's
retrieve can honour.

The hub sends every instance as the bytes it received (no transcoding), in a
``multipart/related; type="application/dicom"`` answer. So it honours ``*/*``,
``multipart/*``, ``multipart/related`` with ``type="application/dicom"`` (or no type)
and ``transfer-syntax=*`` or none, and no ``Accept`` at all. A media range naming one
transfer syntax is honoured only when every instance asked for is stored in it.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.services.multipart import content_type_params

DICOM = "application/dicom"
ANY_SYNTAX = "*"


class NotAcceptable(Exception):
    """The caller's ``Accept`` cannot be honoured (HTTP 406); ``detail`` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def media_ranges(accept: str) -> list[str]:
    """The comma-separated media ranges of an ``Accept`` value (commas inside quoted
    parameter values do not split)."""
    ranges: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in accept:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            ranges.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    ranges.append("".join(current).strip())
    return [r for r in ranges if r]


def _quality(params: dict[str, str]) -> float:
    """The range's ``q`` (1 when absent; 0, i.e. refused, when unreadable)."""
    try:
        q = float(params.get("q", "1"))
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0


def acceptable_syntaxes(accept: str | None) -> frozenset[str] | None:
    """The transfer syntaxes the caller takes: None for any (the instances as stored),
    else the UIDs it named. Raises :class:`NotAcceptable` when no media range of
    ``accept`` allows a ``multipart/related; type="application/dicom"`` answer."""
    if accept is None or not accept.strip():
        return None
    named: set[str] = set()
    for media_range in media_ranges(accept):
        media, params = content_type_params(media_range)
        if _quality(params) <= 0.0:
            continue
        if media in ("*/*", "multipart/*"):
            return None
        if media != "multipart/related" or params.get("type", DICOM).lower() != DICOM:
            continue
        syntax = params.get("transfer-syntax", ANY_SYNTAX).strip()
        if syntax == ANY_SYNTAX:
            return None
        named.add(syntax)
    if named:
        return frozenset(named)
    raise NotAcceptable(
        "中心服务器只能以 DICOM 原文件返回影像，请在 Accept 中使用 "
        f'multipart/related; type="{DICOM}" / the hub answers only '
        f'multipart/related; type="{DICOM}" (the instances as stored): '
        f"Accept {accept!r} cannot be honoured"
    )


def require_syntaxes(wanted: frozenset[str] | None, stored: Iterable[str]) -> None:
    """Raise :class:`NotAcceptable` unless every ``stored`` transfer syntax is among
    ``wanted`` (None: any); the hub does not transcode."""
    if wanted is None:
        return
    other = sorted({s for s in stored} - wanted)
    if other:
        raise NotAcceptable(
            f"影像以传输语法 {', '.join(other)} 保存，中心服务器不转换格式，"
            "请用 transfer-syntax=* 调阅 / the instances are stored in transfer syntax "
            f"{', '.join(other)} and the hub does not transcode: ask with transfer-syntax=*"
        )
