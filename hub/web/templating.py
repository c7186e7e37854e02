"""Jinja2 templates of the web UI (Chinese), with the helpers every page uses."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from hub.services.clock import as_utc
from shared.settings import CAMPUSES

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.globals["campus_names"] = CAMPUSES
    env.filters["local_time"] = _local_time
    return templates


@pass_context
def _local_time(context: Any, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime (naive values from the database are UTC) in the hospital's local
    time: the hub's configured zone (``HubSettings.timezone``) when the page has a
    request, else the server's zone."""
    if value is None:
        return ""
    return as_utc(value).astimezone(_zone(context)).strftime(fmt)


def _zone(context: Any) -> tzinfo | None:
    request = context.get("request")
    ctx = getattr(getattr(getattr(request, "app", None), "state", None), "ctx", None)
    settings = getattr(ctx, "settings", None)
    zone: tzinfo | None = getattr(settings, "zone", None)
    return zone
