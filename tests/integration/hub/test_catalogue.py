"""The procedure catalogue: the shipped file through ``pacs-hub catalogue import`` (an
idempotent upsert), the API for IT, and ``pacs-hub room add``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from hub.cli import main as hub_cli
from hub.security.roles import Role
from hub.services.catalogue import default_catalogue
from tests.integration.hub.factories import API, audit_rows, ok
from tests.support.hub import RunningHub


def test_shipped_catalogue_is_realistic() -> None:
    entries = tomllib.loads(default_catalogue().read_text(encoding="utf-8"))["procedure"]
    modalities = {e["modality"] for e in entries}
    assert {"CT", "MR", "DX", "US", "MG"} <= modalities
    assert len({e["code"] for e in entries}) == len(entries) >= 30
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e["name"]) for e in entries)
    preparations = " ".join(e["preparation"] for e in entries)
    for phrase in ("禁食4小时", "憋尿", "金属物品"):
        assert phrase in preparations


def test_import_is_an_idempotent_upsert(
    hub: RunningHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = hub.ctx.settings.effective_database_url
    count = len(tomllib.loads(default_catalogue().read_text(encoding="utf-8"))["procedure"])
    assert hub_cli(["catalogue", "import", "--database-url", url]) == 0
    assert f"{count} added, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert hub_cli(["catalogue", "import", "--database-url", url]) == 0
    assert f"0 added, 0 updated, {count} unchanged" in capsys.readouterr().out

    local = tmp_path / "local.toml"
    local.write_text(
        '[[procedure]]\ncode = "CT-HEAD"\nname = "头颅CT平扫（急诊）"\nmodality = "CT"\n'
        'body_part = "HEAD"\nminutes = 8\n\n'
        '[[procedure]]\ncode = "US-KIDNEY-TX"\nname = "移植肾超声"\nmodality = "US"\n'
        'body_part = "ABDOMEN"\nminutes = 20\npreparation = "无需空腹"\n',
        encoding="utf-8",
    )
    assert hub_cli(["catalogue", "import", str(local), "--database-url", url]) == 0
    assert "1 added, 1 updated, 0 unchanged" in capsys.readouterr().out

    bad = tmp_path / "bad.toml"
    bad.write_text('[[procedure]]\ncode = "X1"\nname = "某检查"\nmodality = "ZZ"\n', "utf-8")
    assert hub_cli(["catalogue", "import", str(bad), "--database-url", url]) == 2
    assert "检查类型" in capsys.readouterr().err

    with hub.client(hub.token(Role.AUDITOR)) as c:
        page = ok(c.get(f"{API}/catalogue/procedures"))
        assert page["count"] == count + 1
        head = next(p for p in page["data"] if p["code"] == "CT-HEAD")
        assert (head["name"], head["minutes"]) == ("头颅CT平扫（急诊）", 8)
        us = ok(c.get(f"{API}/catalogue/procedures", params={"modality": "us"}))["data"]
        assert {p["modality"] for p in us} == {"US"}
        modalities = ok(c.get(f"{API}/catalogue/modalities"))
        assert {"code": "MR", "label": "磁共振"} in modalities
    updates = [r for r in audit_rows(hub, resource="procedure", action="update")]
    assert [r["resource_id"] for r in updates] == ["CT-HEAD"]
    assert updates[0]["actor"].startswith("cli:")


def test_it_admin_maintains_the_catalogue(hub: RunningHub) -> None:
    entry = {
        "code": "MG-TOMO",
        "name": "乳腺断层摄影（DBT）",
        "modality": "MG",
        "body_part": "breast",
        "minutes": 15,
        "preparation": "避开月经期",
    }
    with hub.client(hub.token(Role.REGISTRAR)) as c:
        assert c.post(f"{API}/catalogue/procedures", json=entry).status_code == 403
        assert c.patch(f"{API}/catalogue/procedures/MG-TOMO", json={}).status_code == 403
    with hub.client(hub.token(Role.IT_ADMIN)) as c:
        created = ok(c.post(f"{API}/catalogue/procedures", json=entry), 201)
        assert created["body_part"] == "BREAST" and created["active"] is True
        r = c.post(f"{API}/catalogue/procedures", json=entry)
        assert r.status_code == 409 and "已存在" in r.json()["detail"]
        r = c.post(f"{API}/catalogue/procedures", json={**entry, "code": "A B"})
        assert r.status_code == 400
        changed = ok(
            c.patch(f"{API}/catalogue/procedures/MG-TOMO", json={"minutes": 20, "active": False})
        )
        assert (changed["minutes"], changed["active"]) == (20, False)
        r = c.patch(f"{API}/catalogue/procedures/NOPE", json={"minutes": 5})
        assert r.status_code == 404 and "不存在" in r.json()["detail"]
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        assert ok(c.get(f"{API}/catalogue/procedures"))["count"] == 0
        everything = ok(c.get(f"{API}/catalogue/procedures", params={"include_inactive": True}))
        assert [p["code"] for p in everything["data"]] == ["MG-TOMO"]
    [update] = audit_rows(hub, resource="procedure", action="update")
    assert json.loads(update["detail"])["changed"]["minutes"] == [15, 20]


def test_room_add_command(hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> None:
    url = hub.ctx.settings.effective_database_url
    args = ["room", "add", "--database-url", url, "--campus", "xianhu", "--code", "CT1"]
    assert hub_cli([*args, "--name", "CT1室", "--modality", "CT", "--station-ae", "XH_CT1"]) == 0
    assert "xianhu/CT1" in capsys.readouterr().out
    assert hub_cli([*args, "--modality", "CT"]) == 2
    assert "已有检查室" in capsys.readouterr().err
    assert hub_cli([*args[:-1], "MR9", "--modality", "PET-CT"]) == 2
    assert "检查类型" in capsys.readouterr().err
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        rooms = ok(c.get(f"{API}/rooms", params={"campus": "xianhu"}))
    assert [(r["code"], r["station_ae"], r["modality"]) for r in rooms] == [("CT1", "XH_CT1", "CT")]
