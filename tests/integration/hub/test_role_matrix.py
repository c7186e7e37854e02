"""Every API endpoint declares who may call it, and the whole role × endpoint matrix
holds over HTTP: each role gets through exactly where it is allowed (403 elsewhere),
devices only where devices are allowed, and nobody without a token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from hub.api import deps
from hub.app import API_MODULES, API_PREFIX
from hub.security.roles import Role
from tests.support.hub import RunningHub

_ACCESS_TYPES = tuple(
    t
    for t in (
        deps.RequireRoles,
        deps.RequireDevice,
        deps.Public,
        getattr(deps, "RequireRolesOrDevice", None),
    )
    if t is not None
)


@dataclass(frozen=True)
class Access:
    roles: frozenset[Role]
    device_kinds: frozenset[str]
    public: bool


def _walk(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _walk(sub)


def access_of(route: APIRoute) -> Access:
    """The access rule a route declares; fails unless it declares exactly one."""
    found = [c for c in _walk(route.dependant) if isinstance(c, _ACCESS_TYPES)]
    assert len(found) == 1, f"{route.methods} {route.path} declares {len(found)} access rules"
    rule = found[0]
    roles = frozenset(getattr(rule, "allowed", frozenset()))
    kinds = frozenset(getattr(rule, "kinds", frozenset()))
    return Access(roles=roles, device_kinds=kinds, public=isinstance(rule, deps.Public))


def api_routes() -> list[tuple[str, str, Access]]:
    routes: list[tuple[str, str, Access]] = []
    for module in API_MODULES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute), route
            access = access_of(route)
            path = API_PREFIX + re.sub(r"\{[^}]+\}", "X", route.path)
            for method in sorted(route.methods or ()):
                routes.append((method, path, access))
    return routes


REGISTRAR_ONLY = frozenset({Role.REGISTRAR})

EXPECTED: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", "/api/v1/orders"): REGISTRAR_ONLY,
    ("PATCH", "/api/v1/orders/X"): REGISTRAR_ONLY,
    ("POST", "/api/v1/orders/X/cancel"): REGISTRAR_ONLY,
    ("POST", "/api/v1/orders/X/arrive"): REGISTRAR_ONLY,
}
"""Routes whose declared roles are pinned here (people only: no device, not public), so a
widened rule is noticed; the matrix below then checks them over HTTP."""


def _call(hub: RunningHub, method: str, path: str, token: str | None) -> int:
    with hub.client(token) as c:
        kwargs: dict[str, object] = {"params": {"wait": 0}}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = {}
        return c.request(method, path, **kwargs).status_code  # type: ignore[arg-type]


def test_every_api_route_declares_access() -> None:
    routes = api_routes()
    assert len(routes) >= 5
    for method, path, access in routes:
        assert access.public or access.roles or access.device_kinds, (method, path)


def test_pinned_routes_declare_the_expected_roles() -> None:
    declared = {(method, path): access for method, path, access in api_routes()}
    for key, roles in EXPECTED.items():
        assert key in declared, f"{key} is not a route"
        access = declared[key]
        got = (access.roles, access.device_kinds, access.public)
        assert got == (roles, frozenset(), False), key


def test_role_matrix(sqlite_hub: RunningHub) -> None:
    hub = sqlite_hub
    tokens = {role: hub.token(role) for role in Role}
    device = hub.device_token("dongge")
    failures: list[str] = []
    for method, path, access in api_routes():
        if access.public:
            continue
        anonymous = _call(hub, method, path, None)
        if anonymous != 401:
            failures.append(f"{method} {path} without a token: {anonymous}, expected 401")
        for role, token in tokens.items():
            got = _call(hub, method, path, token)
            if role in access.roles and got in (401, 403):
                failures.append(f"{method} {path} as {role.value}: {got}, expected allowed")
            if role not in access.roles and got != 403 and not (access.device_kinds and got == 401):
                failures.append(f"{method} {path} as {role.value}: {got}, expected 403")
        got = _call(hub, method, path, device)
        if access.device_kinds and "edge" in access.device_kinds:
            if got in (401, 403):
                failures.append(f"{method} {path} as edge device: {got}, expected allowed")
        elif got not in (401, 403):
            failures.append(f"{method} {path} as edge device: {got}, expected 401/403")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", list(Role))
def test_role_labels_are_chinese(role: Role) -> None:
    assert any("\u4e00" <= ch <= "\u9fff" for ch in role.label)
