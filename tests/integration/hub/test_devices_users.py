"""IT administrators manage people and devices; a revoked device token stops working;
the audit trail records it all and cannot be edited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hub.cli import main as hub_cli
from hub.security.roles import Role
from tests.support.hub import PASSWORD, RunningHub


def test_admin_adds_person_who_signs_in(hub: RunningHub) -> None:
    admin = hub.token(Role.IT_ADMIN)
    with hub.client(admin) as c:
        r = c.post(
            "/api/v1/users",
            json={
                "username": "tech1",
                "password": PASSWORD,
                "role": "technician",
                "campuses": ["xianhu"],
                "display_name": "仙葫技师",
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["campuses"] == ["xianhu"]
        again = c.post(
            "/api/v1/users",
            json={
                "username": "tech1",
                "password": PASSWORD,
                "role": "technician",
                "campuses": ["xianhu"],
            },
        )
        assert again.status_code == 400
        weak = c.post(
            "/api/v1/users",
            json={
                "username": "tech2",
                "password": "123",
                "role": "technician",
                "campuses": ["xianhu"],
            },
        )
        assert weak.status_code == 400 and "密码" in weak.json()["detail"]
    token = hub.login("tech1")
    with hub.client(token) as c:
        assert c.get("/api/v1/auth/me").json()["role"] == "technician"
    with hub.client(admin) as c:
        r = c.patch("/api/v1/users/tech1", json={"active": False})
        assert r.status_code == 200
    with hub.client(token) as c:
        assert c.get("/api/v1/auth/me").status_code == 401  # deactivated: token dead at once


def test_admin_unlocks_a_locked_account(hub: RunningHub) -> None:
    hub.add_user("zhou", Role.REGISTRAR)
    with hub.client() as c:
        for _ in range(5):
            c.post("/api/v1/auth/token", data={"username": "zhou", "password": "bad-pass-000"})
        assert (
            c.post(
                "/api/v1/auth/token", data={"username": "zhou", "password": PASSWORD}
            ).status_code
            == 423
        )
    with hub.client(hub.token(Role.IT_ADMIN)) as c:
        assert c.patch("/api/v1/users/zhou", json={"unlock": True}).status_code == 200
    assert hub.login("zhou")


def test_device_enrol_and_revoke(hub: RunningHub) -> None:
    admin = hub.token(Role.IT_ADMIN)
    with hub.client(admin) as c:
        r = c.post(
            "/api/v1/devices",
            json={"kind": "edge", "campus": "xianhu", "device_id": "edge-xianhu-1"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert c.post("/api/v1/devices", json={"kind": "edge", "campus": "moon"}).status_code == 400
        listed = c.get("/api/v1/devices").json()["data"]
        assert [d["device_id"] for d in listed] == ["edge-xianhu-1"]
        assert "token" not in listed[0]
    stored = hub.ctx.engine.connect().execute(text("SELECT token_hash FROM device")).scalar_one()
    assert token not in stored
    with hub.client(admin) as c:
        assert c.post("/api/v1/devices/edge-xianhu-1/revoke").json()["revoked"] is True
        assert c.post("/api/v1/devices/nope/revoke").status_code == 404


def test_audit_trail_is_append_only(hub: RunningHub) -> None:
    hub.token(Role.IT_ADMIN)  # a sign-in: one audit row at least
    with hub.ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() >= 1
    statements = ["UPDATE audit_event SET actor = 'someone-else'", "DELETE FROM audit_event"]
    if hub.ctx.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_event")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), hub.ctx.engine.begin() as conn:
            conn.execute(text(statement))
    with hub.ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() >= 1


def test_operator_commands_are_audited_and_reset_a_password(
    hub: RunningHub, tmp_path: Path
) -> None:
    url = hub.ctx.settings.effective_database_url
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    assert (
        hub_cli(
            [
                "user",
                "add",
                "--database-url",
                url,
                "--username",
                "ops1",
                "--password-file",
                str(secret),
                "--role",
                "it_admin",
                "--campus",
                "both",
            ]
        )
        == 0
    )
    with hub.client() as c:
        for _ in range(5):
            c.post("/api/v1/auth/token", data={"username": "ops1", "password": "wrong-pass-1"})
    new = tmp_path / "new"
    new.write_text("Another-passw0rd\n", encoding="utf-8")
    assert (
        hub_cli(
            [
                "user",
                "password",
                "--database-url",
                url,
                "--username",
                "ops1",
                "--password-file",
                str(new),
            ]
        )
        == 0
    )
    assert hub.login("ops1", "Another-passw0rd")  # unlocked, new password
    assert (
        hub_cli(
            [
                "user",
                "password",
                "--database-url",
                url,
                "--username",
                "nobody",
                "--password-file",
                str(new),
            ]
        )
        == 2
    )
    with hub.client(hub.token(Role.AUDITOR)) as c:
        rows = c.get("/api/v1/audit", params={"resource": "user"}).json()["data"]
        resets = c.get("/api/v1/audit", params={"resource": "password"}).json()["data"]
    assert any(r["actor"].startswith("cli:") and r["resource_id"] == "ops1" for r in rows)
    assert any(r["actor"].startswith("cli:") and r["action"] == "update" for r in resets)
