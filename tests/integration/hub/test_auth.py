"""Sign-in, lockout, password change and tokens, through HTTP."""

from __future__ import annotations

from hub.security.roles import Role
from tests.support.hub import PASSWORD, RunningHub


def test_login_and_me(hub: RunningHub) -> None:
    token = hub.add_user("li", Role.REGISTRAR, "dongge", display_name="李登记")
    with hub.client(token) as c:
        me = c.get("/api/v1/auth/me").json()
    assert me == {
        "username": "li",
        "display_name": "李登记",
        "role": "registrar",
        "role_label": "登记员",
        "campuses": ["dongge"],
    }


def test_wrong_password_then_lockout(hub: RunningHub) -> None:
    hub.add_user("wang", Role.TECHNICIAN, "xianhu")
    with hub.client() as c:
        for _ in range(4):
            r = c.post("/api/v1/auth/token", data={"username": "wang", "password": "nope-12345"})
            assert r.status_code == 401
            assert "密码错误" in r.json()["detail"]
        r = c.post("/api/v1/auth/token", data={"username": "wang", "password": "nope-12345"})
        assert r.status_code == 423
        # Even the right password is refused while locked.
        r = c.post("/api/v1/auth/token", data={"username": "wang", "password": PASSWORD})
        assert r.status_code == 423
        assert "锁定" in r.json()["detail"]


def test_unknown_user_and_missing_token(hub: RunningHub) -> None:
    with hub.client() as c:
        r = c.post("/api/v1/auth/token", data={"username": "ghost", "password": PASSWORD})
        assert r.status_code == 401
        assert c.get("/api/v1/auth/me").status_code == 401
    with hub.client("not-a-token") as c:
        assert c.get("/api/v1/auth/me").status_code == 401


def test_password_change_invalidates_old_tokens(hub: RunningHub) -> None:
    token = hub.add_user("zhao", Role.RADIOLOGIST)
    with hub.client(token) as c:
        weak = c.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "short"},
        )
        assert weak.status_code == 400
        r = c.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "N3w-password-long"},
        )
        assert r.status_code == 200, r.text
        assert c.get("/api/v1/auth/me").status_code == 401
    assert hub.login("zhao", "N3w-password-long")


def test_logins_are_audited(hub: RunningHub) -> None:
    hub.add_user("sun", Role.CLINICIAN)
    with hub.client() as c:
        c.post("/api/v1/auth/token", data={"username": "sun", "password": "bad-password-1"})
    auditor = hub.token(Role.AUDITOR)
    with hub.client(auditor) as c:
        rows = c.get("/api/v1/audit", params={"actor": "sun"}).json()["data"]
    assert [r["action"] for r in rows] == ["login_failed", "login"]  # newest first
