"""Jinja2 templates of the web UI (Chinese), with the helpers every page uses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

from shared.settings import CAMPUSES

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.globals["campus_names"] = CAMPUSES
    env.filters["local_time"] = _local_time
    return templates


def _local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime in the hospital's local time (the server's zone)."""
    if value is None:
        return ""
    return value.astimezone().strftime(fmt)
