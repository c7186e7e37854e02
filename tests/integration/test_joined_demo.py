"""``pacs demo`` end to end, as ``make demo`` runs it: the hub and both campuses' edges as
separate processes; orders registered at the hub reach each campus worklist, the simulated
CTs do the exams, and the images end up held at the hub. Full names are never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hub.demo.story import DEMO_PATIENTS
from shared.masking import mask_name

pytestmark = pytest.mark.slow

IMAGES = 2


def test_pacs_demo_runs_the_whole_story(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACS_EDGE_", "PACS_HUB_"))}
    env["PACS_DEMO_EXIT_AFTER_RUN"] = "1"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("pacs")),
            "demo",
            "--images",
            str(IMAGES),
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    ct = [p for p in DEMO_PATIENTS if p.procedure.startswith("CT")]
    assert "demo done: 4 CT exams complete at the hub with their images" in out
    arrived = [line for line in out.splitlines() if "[工作列表 worklist]" in line]
    assert len(arrived) == len(ct)
    for p in DEMO_PATIENTS:
        assert p.name not in out, f"full name {p.name} printed"
        assert mask_name(p.name) in out
    assert "Traceback" not in out
    # calls flow: each CT patient checked in and called, and each campus's board announced it
    for p in ct:
        assert "到 CT1 室检查" in out and mask_name(p.name) in out
    board_calls = [
        line for line in out.splitlines() if "[叫号屏 board" in line and "叫号 / call" in line
    ]
    assert len(board_calls) == len(ct), out

    hub = create_engine(f"sqlite:///{tmp_path / 'hub' / 'hub.sqlite'}")
    try:
        with hub.connect() as conn:
            held = conn.execute(
                text("SELECT count(*) FROM archive_instance WHERE state = 'held'")
            ).scalar_one()
            completed = conn.execute(
                text("SELECT count(*) FROM exam_order WHERE status = 'completed'")
            ).scalar_one()
    finally:
        hub.dispose()
    assert held == IMAGES * len(ct)
    assert completed == len(ct)
