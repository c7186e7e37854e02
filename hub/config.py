"""Hub settings: ``PACS_HUB_*`` environment variables, overridden by flags.

The secret that signs login tokens and keys identity-card hashes is never a default:
it comes from ``PACS_HUB_SECRET_KEY`` or from ``data_dir/secret.key``, which the hub
creates once (random, mode 0600) and keeps. Losing that file invalidates tokens and
makes identity-card look-ups miss, so it is part of the backup.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.dicom.uid import UidFactory
from shared.settings import ENV_PREFIX, PacsSettings

_WEAK_SECRETS = {"", "changeme", "secret", "change-me", "changethis", "password"}


class HubSettings(PacsSettings):
    """Everything the central hub needs to run."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "HUB_")

    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///{data_dir}/hub.sqlite``. PostgreSQL in production
    (``postgresql+psycopg://user@host/db``)."""
    data_dir: Path = Path("var/hub")
    port: int = Field(default=8000, ge=0, le=65535)
    bind: str = "127.0.0.1"
    secret_key: SecretStr | None = None
    token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """Lifetime of a person's login token (short-lived by design)."""
    lockout_attempts: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1)
    long_poll_seconds: float = Field(default=25.0, ge=0, le=120)
    """Longest time an edge's order-feed request is held open waiting for a change."""
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    """Serve HTTPS directly with this certificate and key (or put a TLS proxy in front)."""
    public_url: AnyHttpUrl | None = None
    """The scheme, host and port clients reach the hub at (``https://pacs.example.org``).
    STOW-RS answers give their Retrieve URLs there; unset, they take them from each
    request's Host header, which some clients send without the port."""
    stow_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    """Largest STOW-RS request body accepted."""
    uid_root: str | None = None
    """The hospital's DICOM UID root for Study Instance UIDs of new orders (pydicom's root
    when unset)."""
    timezone: str = "Asia/Shanghai"
    """Local time of the campuses: accession-number days, slot templates, the slip."""
    hospital_name: str = "广西中医药大学第一附属医院"
    """Printed on appointment slips."""
    slip_font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    """TrueType font (face 0 of a .ttc) embedded in slips; reportlab's built-in CID font
    STSong-Light is used when the file is missing."""

    @field_validator("public_url")
    @classmethod
    def _origin_only(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and ((value.path or "/") != "/" or value.query or value.fragment):
            raise ValueError(
                "public_url 只写协议、主机和端口 / give only scheme, host and port, "
                "e.g. https://pacs.example.org:8443"
            )
        return value

    @field_validator("secret_key")
    @classmethod
    def _not_weak(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raw = value.get_secret_value()
            if raw.lower() in _WEAK_SECRETS or len(raw) < 32:
                raise ValueError(
                    "PACS_HUB_SECRET_KEY must be at least 32 random characters "
                    "(e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
        return value

    @field_validator("uid_root")
    @classmethod
    def _valid_uid_root(cls, value: str | None) -> str | None:
        if value:
            UidFactory(value)  # raises ValueError naming the fault
        return value or None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hub.sqlite'}"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    def resolve_secret(self) -> bytes:
        """The signing/keying secret: the configured one, else ``data_dir/secret.key``
        (created on first use, mode 0600)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
                fh.flush()
                os.fsync(fh.fileno())
        return path.read_text().strip().encode()
