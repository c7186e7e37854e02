"""``pacs-edge demo`` end to end, as a user runs it: a real process, a real gateway on a
free port, the simulated CT over real associations, and dcmtk's echoscu against it."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from edge_gateway.demo.run import DEMO_ORDERS, EXIT_AFTER_RUN_ENV, MODALITY_AE
from edge_gateway.store.database import open_index
from edge_gateway.store.models import Instance, ScheduledStep, StepStatus
from shared.masking import mask_name
from tests.support.requirements import dcmtk_program

IMAGES = 3
RUN_TIMEOUT_S = 120.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

pytestmark = pytest.mark.slow


def pacs_edge() -> str:
    """The ``pacs-edge`` console script of the virtualenv running the tests."""
    sibling = Path(sys.executable).parent / "pacs-edge"
    if sibling.exists():
        return str(sibling)
    found = shutil.which("pacs-edge")
    assert found, "pacs-edge is not installed: run `make venv`"
    return found


def demo_env(*, exit_after_run: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACS_EDGE_")}
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop(EXIT_AFTER_RUN_ENV, None)
    if exit_after_run:
        env[EXIT_AFTER_RUN_ENV] = "1"
    return env


def run_demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [pacs_edge(), "demo", "--data-dir", str(data_dir), "--images", str(IMAGES)],
        env=demo_env(exit_after_run=True),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def ct_orders() -> list[int]:
    """1-based positions (accession counters) of the demo's CT orders for DEMO_CT1."""
    return [
        n
        for n, order in enumerate(DEMO_ORDERS, start=1)
        if order.modality == "CT" and order.station_ae == MODALITY_AE
    ]


def lines_with(output: str, *needles: str) -> list[str]:
    return [line for line in output.splitlines() if all(n in line for n in needles)]


def test_demo_runs_the_ct_exams_and_shows_masked_names_only(tmp_path: Path) -> None:
    result = run_demo(tmp_path)
    out, err = result.stdout, result.stderr
    assert result.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"

    cts = ct_orders()
    assert len(cts) >= 2
    assert lines_with(out, f"[模拟CT {MODALITY_AE}]", f"worklist query: {len(cts)} items")

    engine = open_index(tmp_path / "edge.sqlite")
    try:
        with engine.connect() as conn:
            steps = conn.execute(
                select(
                    col(ScheduledStep.accession),
                    col(ScheduledStep.modality),
                    col(ScheduledStep.status),
                )
            ).all()
            instances = conn.scalar(select(func.count()).select_from(Instance))
    finally:
        engine.dispose()

    ct_accessions = sorted(a for a, modality, _ in steps if modality == "CT")
    assert len(ct_accessions) == len(cts)
    assert instances == IMAGES * len(cts)
    for accession, modality, step_status in steps:
        expected = StepStatus.COMPLETED if modality == "CT" else StepStatus.SCHEDULED
        assert step_status == expected, (accession, modality, step_status)
    for accession in ct_accessions:
        assert re.fullmatch(r"DG\d{6}\d{4}", accession)  # as the hub numbers them
        assert lines_with(out, accession, "N-CREATE", "0x0000 Success", "MPPS IN PROGRESS")
        assert lines_with(out, accession, f"images sent: {IMAGES} of {IMAGES} stored")
        assert lines_with(out, accession, "N-SET", "0x0000 Success", "MPPS COMPLETED")

    both = out + err
    for order in DEMO_ORDERS:
        full = order.patient_name.replace("^", "")
        assert full not in both, f"full name {full} printed"
        assert order.patient_name not in both, f"full name {order.patient_name} printed"
        assert mask_name(order.patient_name) in out
    assert "张*" in out
    assert "Traceback" not in both
    assert "echoscu" in out and f"-aet {MODALITY_AE}" in out


def test_demo_twice_on_the_same_data_dir_reuses_the_worklist(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, f"stdout:\n{first.stdout}\nstderr:\n{first.stderr}"
    second = run_demo(tmp_path)
    assert second.returncode == 0, f"stdout:\n{second.stdout}\nstderr:\n{second.stderr}"
    assert f"{len(DEMO_ORDERS)} already there (reused)" in second.stdout
    assert "worklist query: 0 items" in second.stdout

    engine = open_index(tmp_path / "edge.sqlite")
    try:
        with engine.connect() as conn:
            steps = conn.scalar(select(func.count()).select_from(ScheduledStep))
            instances = conn.scalar(select(func.count()).select_from(Instance))
    finally:
        engine.dispose()
    assert steps == len(DEMO_ORDERS)
    assert instances == IMAGES * len(ct_orders())


# -- interactive run: serve until SIGINT ------------------------------------------------------


class LineReader:
    """Reads a process's stdout on a thread so the test can wait for a line with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._stream = process.stdout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Return the match of the first new line matching ``pattern``; raise
        ``TimeoutError`` after ``timeout`` s or ``EOFError`` when the output ends."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line matching {pattern!r}; output so far:\n" + self.text)
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise EOFError(f"output ended before {pattern!r}:\n" + self.text)
            self.seen.append(line)
            match = regex.search(line)
            if match:
                return match

    def rest(self, timeout: float) -> None:
        """Collect the remaining lines (after the process ended)."""
        self._thread.join(timeout)
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.seen.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.seen)


@pytest.mark.dcmtk
def test_demo_serves_dcmtk_until_sigint(tmp_path: Path) -> None:
    echoscu = dcmtk_program("echoscu")
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [pacs_edge(), "demo", "--data-dir", str(tmp_path / "data"), "--images", "2"],
            env=demo_env(exit_after_run=False),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
        )
        try:
            reader = LineReader(process)
            port = int(reader.wait_for(r"127\.0\.0\.1:(\d+)", START_TIMEOUT_S).group(1))
            reader.wait_for(r"^echoscu |/echoscu ", RUN_TIMEOUT_S)
            reader.wait_for(r"Ctrl-C", RUN_TIMEOUT_S)

            echo = subprocess.run(
                [echoscu, "-aet", MODALITY_AE, "127.0.0.1", str(port)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert echo.returncode == 0, echo.stdout + echo.stderr

            process.send_signal(signal.SIGINT)
            returncode = process.wait(timeout=STOP_TIMEOUT_S)
            reader.rest(timeout=5)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    errors = stderr_path.read_text(encoding="utf-8")
    assert returncode == 0, f"stdout:\n{reader.text}\nstderr:\n{errors}"
    assert "Traceback" not in errors
    assert "gateway stopped" in reader.text
