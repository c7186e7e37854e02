"""What one hub process holds: settings, database engine, hashing and signing, the
change notifier. Built once by ``create_app`` (no import-time singletons)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from hub.config import HubSettings
from hub.db import make_engine
from hub.notify import ChangeNotifier
from hub.security.passwords import Passwords
from hub.security.tokens import TokenSigner
from hub.services.users import LockoutPolicy


@dataclass
class HubContext:
    settings: HubSettings
    engine: Engine
    secret: bytes
    passwords: Passwords
    signer: TokenSigner
    lockout: LockoutPolicy
    notifier: ChangeNotifier = field(default_factory=ChangeNotifier)


def build_context(settings: HubSettings, engine: Engine | None = None) -> HubContext:
    secret = settings.resolve_secret()
    return HubContext(
        settings=settings,
        engine=engine or make_engine(settings.effective_database_url),
        secret=secret,
        passwords=Passwords(),
        signer=TokenSigner(secret, timedelta(minutes=settings.token_minutes)),
        lockout=LockoutPolicy(
            attempts=settings.lockout_attempts,
            duration=timedelta(minutes=settings.lockout_minutes),
            zone=settings.zone,
        ),
    )
