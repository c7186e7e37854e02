"""A streaming parser of ``multipart/related`` bodies (RFC 2046 §5.1, RFC 2387).

Bytes are fed as they arrive (``feed``); each part's body goes straight to a sink
(a file being hashed, for STOW-RS) so a request of any size costs one small buffer.
The buffer only ever holds the unconsumed tail, and consumed bytes are dropped from
the front of a ``bytearray`` (amortised O(1) in CPython), so parsing is linear in the
body size whatever the chunk sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message
from typing import Protocol

MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    """The body is not a well-formed multipart message."""


class PartSink(Protocol):
    def write(self, data: bytes | bytearray | memoryview) -> None: ...


def content_type_params(header: str) -> tuple[str, dict[str, str]]:
    """(lower-case media type, parameters with lower-case names) of a Content-Type
    header value; quoted values are unquoted."""
    msg = Message()
    msg["content-type"] = header
    media = msg.get_content_type().lower()
    params: dict[str, str] = {}
    for key, value in msg.get_params(failobj=[])[1:]:
        params[key.lower()] = str(value)
    return media, params


def parse_headers(block: bytes) -> dict[str, str]:
    """Part headers (names lower-cased; a repeated name keeps the last value)."""
    headers: dict[str, str] = {}
    text = block.decode("latin-1")
    name = ""
    for line in text.split("\r\n"):
        if not line:
            continue
        if line[0] in " \t" and name:  # folded continuation line
            headers[name] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError(f"bad part header line {line[:40]!r}")
        name = name.strip().lower()
        headers[name] = value.strip()
    return headers


class MultipartParser:
    """Feed bytes, get parts. ``on_part(headers)`` returns the sink of that part's body;
    ``on_end(sink)`` is called when the part is complete. ``close()`` raises
    ``MultipartError`` unless the closing delimiter was seen."""

    _PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE = range(5)

    def __init__(
        self,
        boundary: str,
        on_part: Callable[[dict[str, str]], PartSink],
        on_end: Callable[[PartSink], None],
    ) -> None:
        if not boundary or len(boundary) > 200:
            raise MultipartError("missing or overlong multipart boundary")
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._on_part = on_part
        self._on_end = on_end
        # A virtual CRLF before the body lets the first delimiter match like the others.
        self._buf = bytearray(b"\r\n")
        self._state = self._PREAMBLE
        self._sink: PartSink | None = None
        self.parts = 0

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes) -> None:
        if self._state == self._DONE:
            return  # epilogue: ignored
        self._buf += data
        while self._step():
            pass

    def close(self) -> None:
        if self._state != self._DONE:
            raise MultipartError("multipart body ends before its closing boundary")

    def _step(self) -> bool:
        """Advance by one token if the buffer holds it; False when more bytes are needed."""
        if self._state == self._PREAMBLE:
            return self._skip_preamble()
        if self._state == self._AFTER_DELIMITER:
            return self._after_delimiter()
        if self._state == self._HEADERS:
            return self._headers()
        if self._state == self._BODY:
            return self._body()
        return False

    def _skip_preamble(self) -> bool:
        at = self._buf.find(self._delimiter)
        if at < 0:
            keep = len(self._delimiter) - 1
            if len(self._buf) > keep:
                del self._buf[: len(self._buf) - keep]
            return False
        del self._buf[: at + len(self._delimiter)]
        self._state = self._AFTER_DELIMITER
        return True

    def _after_delimiter(self) -> bool:
        if len(self._buf) < 2:
            return False
        if self._buf.startswith(b"--"):
            self._state = self._DONE
            self._buf.clear()
            return False
        eol = self._buf.find(b"\r\n")
        if eol < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise MultipartError("garbage after a multipart boundary")
            return False
        if self._buf[:eol].strip(b" \t"):
            raise MultipartError("garbage after a multipart boundary")
        del self._buf[: eol + 2]
        self._state = self._HEADERS
        return True

    def _headers(self) -> bool:
        if self._buf.startswith(b"\r\n"):  # no headers at all
            block, end = b"", 2
        else:
            at = self._buf.find(b"\r\n\r\n")
            if at < 0:
                if len(self._buf) > MAX_HEADER_BYTES:
                    raise MultipartError("multipart part headers too long")
                return False
            block, end = bytes(self._buf[:at]), at + 4
        headers = parse_headers(block)
        del self._buf[:end]
        self._sink = self._on_part(headers)
        self.parts += 1
        self._state = self._BODY
        return True

    def _body(self) -> bool:
        assert self._sink is not None
        at = self._buf.find(self._delimiter)
        if at < 0:
            safe = len(self._buf) - (len(self._delimiter) - 1)
            if safe > 0:
                self._emit(safe)
            return False
        self._emit(at)
        del self._buf[: len(self._delimiter)]
        sink, self._sink = self._sink, None
        self._on_end(sink)
        self._state = self._AFTER_DELIMITER
        return True

    def _emit(self, size: int) -> None:
        """Hand the first ``size`` buffered bytes to the sink and drop them."""
        assert self._sink is not None
        if size:
            with memoryview(self._buf) as view, view[:size] as chunk:
                self._sink.write(chunk)
            del self._buf[:size]
