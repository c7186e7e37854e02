"""The appointment slip PDF: Chinese text (pdftotext) and the accession number in the
Code 128 barcode and the QR code (pdftoppm, then zbarimg)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hub.security.roles import Role
from tests.integration.hub.factories import (
    API,
    audit_rows,
    book,
    create_order,
    create_patient,
    create_room,
    free_slots,
    generate_slots,
    load_catalogue,
    registrar,
)
from tests.support.hub import RunningHub, start_hub
from tests.support.requirements import require_tool


def _booked_order(hub: RunningHub, procedure_code: str = "CT-ABD") -> dict[str, Any]:
    load_catalogue(hub)
    create_room(hub, code="CT2", name="CT2室（一楼）", station_ae="DG_CT2")
    generate_slots(hub, room="CT2", start="08:30", end="09:00")
    patient = create_patient(hub, name="司马懿", sex="M", birth_date="1979-01-01")
    order = create_order(hub, patient["patient_id"], procedure_code=procedure_code)
    book(hub, order["accession"], free_slots(hub)[0]["id"])
    return order


def _slip(hub: RunningHub, accession: str, folder: Path) -> Path:
    with hub.client(registrar(hub)) as c:
        r = c.get(f"{API}/orders/{accession}/slip.pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    path = folder / f"{accession}.pdf"
    path.write_bytes(r.content)
    return path


def _text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def _codes(pdf: Path, folder: Path) -> list[str]:
    """What zbarimg reads on the page rendered at 200 dpi (``CODE-128:…``, ``QR-Code:…``)."""
    subprocess.run(
        ["pdftoppm", "-r", "200", "-gray", "-png", "-singlefile", str(pdf), str(folder / "page")],
        check=True,
    )
    result = subprocess.run(
        ["zbarimg", "--quiet", str(folder / "page.png")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def test_slip_shows_chinese_text_and_machine_readable_accession(
    sqlite_hub: RunningHub, tmp_path: Path
) -> None:
    require_tool("pdftotext", "pdftoppm", "pdffonts", package="poppler-utils")
    require_tool("zbarimg", package="zbar-tools")
    hub = sqlite_hub
    order = _booked_order(hub)
    accession = order["accession"]
    pdf = _slip(hub, accession, tmp_path)

    text = _text(pdf)
    for expected in (
        "广西中医药大学第一附属医院",
        "东葛院区",
        "检查预约单",
        "司马懿",
        order["patient_id"],
        "男 / ",
        "全腹部CT平扫",
        accession,
        "CT2室（一楼）",
        "检查前禁食4小时",
        "迟到",
    ):
        assert expected in text, f"{expected!r} not in slip text:\n{text}"
    assert _codes(pdf, tmp_path) == [f"CODE-128:{accession}", f"QR-Code:{accession}"]

    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "emb" in fonts.splitlines()[0] and " yes " in fonts

    [printed] = audit_rows(hub, action="print")
    assert printed["resource"] == "slip" and printed["resource_id"] == accession
    assert printed["patient_id"] == order["patient_id"]
    with hub.client(hub.token(Role.TECHNICIAN)) as c:
        assert c.get(f"{API}/orders/{accession}/slip.pdf").status_code == 403
    with hub.client(registrar(hub)) as c:
        assert c.get(f"{API}/orders/DG0000000000/slip.pdf").status_code == 404


def test_slip_without_the_font_file_uses_the_builtin_cid_font(tmp_path: Path) -> None:
    require_tool("pdftotext", "pdftoppm", "pdffonts", package="poppler-utils")
    require_tool("zbarimg", package="zbar-tools")
    hub = start_hub(tmp_path / "hub", slip_font=tmp_path / "missing.ttc")
    try:
        order = _booked_order(hub, procedure_code="CT-HEAD")
        pdf = _slip(hub, order["accession"], tmp_path)
    finally:
        hub.stop()
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "STSong-Light" in fonts
    text = _text(pdf)
    assert "检查预约单" in text and "头颅CT平扫" in text
    assert f"QR-Code:{order['accession']}" in _codes(pdf, tmp_path)
