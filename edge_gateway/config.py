"""Edge gateway settings: ``PACS_EDGE_*`` environment variables, overridden by flags."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.dicom.charset import SUPPORTED_CHARSETS, UTF8
from shared.settings import CAMPUSES, ENV_PREFIX, PacsSettings

_AE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


class EdgeSettings(PacsSettings):
    """Everything one campus gateway needs to run.

    ``data_dir`` holds the archive (``archive/``), the index (``edge.sqlite``), files
    kept aside (``superseded/``) and scratch space (``tmp/``).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "EDGE_")

    campus: str = "dongge"
    data_dir: Path = Path("var/edge")
    ae_title: str = "PACS_EDGE"
    dicom_port: int = Field(default=11112, ge=0, le=65535)
    bind: str = "0.0.0.0"
    peers_file: Path | None = None
    accept_any_ae: bool = False
    uid_root: str | None = None
    worklist_charset: str = UTF8
    """Specific Character Set of worklist and query answers (ISO_IR 192 unless configured)."""
    default_charset: str | None = None
    """Character set assumed for received objects that declare none (e.g. GB18030)."""
    max_associations: int = Field(default=32, ge=1, le=512)
    workers: int | None = Field(default=None, ge=1, le=16)
    """Processes serving the DICOM port together (SO_REUSEPORT); each takes up to
    ``max_associations``. Default: one per CPU core, at most 4 (one when the port is 0)."""
    network_timeout: float = Field(default=60.0, gt=0)
    max_pdu: int = Field(default=0, ge=0)
    """Largest PDU the gateway receives; 0 means no limit (fewest round trips)."""

    @field_validator("campus")
    @classmethod
    def _known_campus(cls, value: str) -> str:
        if value not in CAMPUSES:
            known = ", ".join(f"{code} ({name})" for code, name in CAMPUSES.items())
            raise ValueError(f"unknown campus {value!r}; known campuses: {known}")
        return value

    @field_validator("ae_title")
    @classmethod
    def _valid_ae(cls, value: str) -> str:
        value = value.strip()
        if not _AE_RE.match(value):
            raise ValueError(
                f"AE title {value!r} must be 1-16 printable ASCII characters without backslash"
            )
        return value

    @field_validator("worklist_charset", "default_charset")
    @classmethod
    def _known_charset(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip().upper().replace("ISO_IR_", "ISO_IR ")
        if value is not None and value not in SUPPORTED_CHARSETS:
            raise ValueError(
                f"character set {value!r} is not one of {', '.join(SUPPORTED_CHARSETS)}"
            )
        return value

    @property
    def effective_workers(self) -> int:
        """The number of worker processes ``serve`` starts."""
        if self.workers is not None:
            return self.workers
        if self.dicom_port == 0:
            return 1
        return max(1, min(4, os.cpu_count() or 1))

    @property
    def index_path(self) -> Path:
        return self.data_dir / "edge.sqlite"
