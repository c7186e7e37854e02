"""Settings base shared by every part.

Every process reads its settings from environment variables with the ``PACS_``
prefix (each part adds its own, e.g. ``PACS_EDGE_``), then from command-line flags
that override them. Settings objects are built by the process's composition root,
never at import time.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PACS_"

CAMPUSES: dict[str, str] = {"dongge": "东葛", "xianhu": "仙葫"}
"""Campus codes (ASCII, used in topics, paths and accession numbers) → Chinese names."""


class PacsSettings(BaseSettings):
    """Base for every part's settings: ``PACS_`` prefix, case-insensitive names,
    unknown variables ignored (the environment is shared by several parts)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
    )


def campus_label(code: str) -> str:
    """Return ``"东葛 dongge"`` for ``"dongge"``; unknown codes are returned as given."""
    name = CAMPUSES.get(code)
    return f"{name} {code}" if name else code
