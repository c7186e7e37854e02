"""Edge gateway settings: ``PACS_EDGE_*`` environment variables, overridden by flags."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.dicom.charset import SUPPORTED_CHARSETS, UTF8
from shared.mqtt.broker import parse_broker_url
from shared.settings import CAMPUSES, ENV_PREFIX, PacsSettings
from shared.sync import MAX_EVENTS_PER_BATCH

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
    """Processes serving the DICOM port together (one shared listening socket); each takes up to
    ``max_associations``. Default: one per CPU core, at most 4 (one when the port is 0)."""
    network_timeout: float = Field(default=60.0, gt=0)
    max_pdu: int = Field(default=0, ge=0)
    """Largest PDU the gateway receives; 0 means no limit (fewest round trips)."""

    # --- sync with the hub (no hub_url: the edge runs alone) ---
    hub_url: str | None = None
    """Base URL of the hub, e.g. https://pacs-hub.example.org (PACS_EDGE_HUB_URL)."""
    hub_token_file: Path | None = None
    """File holding this edge's device token from ``pacs-hub device add``."""
    hub_ca_file: Path | None = None
    """CA certificate(s) to trust for the hub's HTTPS, when not a public CA."""
    sync_batch_events: int = Field(default=200, ge=1, le=MAX_EVENTS_PER_BATCH)
    """Outbox events sent per batch."""
    sync_batch_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    """Image bytes sent per STOW-RS request (one larger file still goes alone)."""
    sync_wait_seconds: float = Field(default=25.0, ge=0, le=60)
    """How long the hub may hold an order-feed request open (long-poll)."""
    sync_poll_seconds: float = Field(default=2.0, gt=0)
    """How often an idle agent looks for new outbox events."""
    sync_retry_cap_seconds: float = Field(default=60.0, ge=1)
    """Longest wait between retries while the hub fails: also the longest delay before the
    backlog starts to drain once the hub is back."""
    sync_timeout_seconds: float = Field(default=120.0, gt=0)
    """Time allowed for one request (an upload of one batch)."""
    sync_stale_lock_seconds: float = Field(default=300.0, gt=0)
    """Claimed events older than this go back to READY (their sender died)."""
    sync_keep_done_days: int = Field(default=30, ge=1)
    """Delivered (DONE) outbox events are deleted after this many days."""
    metrics_dir: Path | None = None
    """Where ``edge_sync.prom`` is written for node_exporter (default data_dir/metrics)."""

    # --- the campus queue, its broker and the technician console ---
    queue: bool = True
    """Run the campus queue (check-in, calls, console, boards); ``--no-queue`` turns it off."""
    queue_config: Path | None = None
    """TOML file of rooms and queue rules (see edge_gateway/queue/config_file.py)."""
    timezone: str = "Asia/Shanghai"
    mqtt_url: str | None = None
    """The campus broker, e.g. mqtt://127.0.0.1:1883 (Mosquitto). Without it and without
    ``mqtt_embedded_port`` the queue runs but no board is told anything."""
    mqtt_password_file: Path | None = None
    mqtt_ca_file: Path | None = None
    mqtt_embedded_port: int | None = Field(default=None, ge=1, le=65535)
    """Run a small MQTT 3.1.1 broker inside the gateway on this port (demo, trials)."""
    mqtt_embedded_bind: str = "127.0.0.1"
    """Address of the built-in broker. It has no passwords: widen it (e.g. 0.0.0.0 for
    boards on other PCs) only on a trial network, never next to patients' devices."""
    console_port: int = Field(default=8080, ge=0, le=65535)
    """HTTP port of the technician console (0: any free port)."""
    console_bind: str | None = None
    """Address the console listens on (default: ``bind``)."""
    console_secure_cookie: bool = False
    """Mark the sign-in cookie Secure (set when a TLS proxy fronts the console)."""

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

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_broker_url(value)
        return value.strip()

    @field_validator("hub_url")
    @classmethod
    def _hub_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"hub URL {value!r} must start with https:// (or http:// on a lab net)"
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
    def console_key_path(self) -> Path:
        """Key signing the console's sign-in cookies."""
        return self.data_dir / "console.key"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "edge.sqlite"

    @property
    def sync_metrics_path(self) -> Path:
        """The Prometheus text file of the sync backlog."""
        return (self.metrics_dir or self.data_dir / "metrics") / "edge_sync.prom"
