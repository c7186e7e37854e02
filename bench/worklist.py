"""Modality Worklist benchmark: 10,000 scheduled steps, C-FIND latency of typical modality
queries against the edge gateway, and the same queries against Orthanc's Worklists plugin.

Goal (from the issue): p95 <= 30 ms for typical modality queries with 10,000 scheduled steps.

    .venv/bin/python bench/worklist.py
    .venv/bin/python bench/worklist.py --steps 10000 --runs 50 --json bench/out/worklist.json
    .venv/bin/python bench/worklist.py --skip-orthanc --runs 20

The edge's index is filled through ``edge_gateway.store.worklist.add_step`` (the code
behind ``pacs-edge worklist add``), then ``pacs-edge serve`` is started on a free port.
Orthanc gets the same steps as ``.wl`` files. Each query is timed three ways:

- ``findscu``: wall time of one dcmtk ``findscu -W`` process (start, associate, C-FIND,
  release, exit), as a modality script sees it; ``echoscu`` gives the floor of that figure
  (process start + association, no query).
- ``findscu --repeat``: one findscu process sends the query ``runs + 1`` times on one
  association; each C-FIND is timed from findscu's own log (request sent → final response
  received): what a C/C++ modality client that keeps its association waits.
- ``pynetdicom``: one C-FIND on an association kept open, in-process, the client decoding
  each answer with pydicom (pynetdicom's logging off, as in the gateway).

It prints figures and is never part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import json
import math
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Run as a script (python bench/worklist.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom import _config as pynetdicom_config

from bench.peers import (
    HOST,
    Edge,
    Orthanc,
    Receiver,
    dcmtk_tool,
    progress,
    round_env,
    run_in_workdir,
    wait_exactly,
    write_json,
)
from edge_gateway.dicom.transport import handle_conn_open
from edge_gateway.store.database import open_index
from edge_gateway.store.worklist import StepIn, add_step
from shared.dicom import status
from shared.dicom.uid import UidFactory

GOAL_P95_MS = 30.0
MWL_FIND = UID("1.2.840.10008.5.1.4.31")  # Modality Worklist Information Model - FIND
DAYS = 30
CALLING_AE = "CT1"
ORTHANC_WL_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
QUERY_TIMEOUT_S = 120.0
UTF8 = "ISO_IR 192"
SPS = "ScheduledProcedureStepSequence"

# Station AE title → (modality code, share of the day's steps in %). DR rooms send DX.
STATIONS: dict[str, tuple[str, float]] = {
    **{f"CT{i}": ("CT", 25 / 4) for i in range(1, 5)},
    **{f"MR{i}": ("MR", 10 / 3) for i in range(1, 4)},
    **{f"DR{i}": ("DX", 32 / 6) for i in range(1, 7)},
    **{f"US{i}": ("US", 25 / 5) for i in range(1, 6)},
    "MG1": ("MG", 5.0),
    "XA1": ("XA", 3.0),
}
PROCEDURES: dict[str, list[str]] = {
    "CT": ["胸部CT平扫", "头颅CT平扫", "上腹部CT增强", "腰椎CT平扫", "冠状动脉CTA", "鼻窦CT平扫"],
    "MR": ["头颅MR平扫", "腰椎MR平扫", "膝关节MR平扫", "上腹部MR增强", "颈椎MR平扫"],
    "DX": ["胸部正侧位片", "腰椎正侧位片", "颈椎正侧位片", "膝关节正侧位片", "骨盆正位片"],
    "US": ["腹部彩超", "甲状腺彩超", "乳腺彩超", "心脏彩超", "妇科彩超", "泌尿系彩超"],
    "MG": ["双侧乳腺钼靶"],
    "XA": ["冠状动脉造影", "脑血管造影(DSA)", "下肢动脉造影"],
}
# Surnames with a Guangxi (Nanning) flavour, weights roughly in per cent.
SURNAMES: dict[str, float] = {
    "黄": 9, "李": 6, "陈": 5, "韦": 5, "张": 4, "梁": 4, "刘": 4, "覃": 3, "王": 3, "莫": 3,
    "蒙": 2, "潘": 2, "唐": 2, "陆": 2, "廖": 2, "林": 2, "周": 2, "杨": 2, "吴": 2, "罗": 2,
    "农": 1, "谢": 1, "何": 1, "赵": 1, "卢": 1, "邓": 1, "钟": 1, "蓝": 1, "苏": 1, "徐": 1,
    "马": 1, "冯": 1, "曾": 1, "蒋": 1, "秦": 1, "宁": 1,
}  # fmt: skip
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉春梅"
    "林文红海波宁丹斌燕婷鹏辉玲峰志凤东萍云琳三丰"
)

# The return keys a typical modality asks for; a query adds its matching values.
RETURN_KEYS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyInstanceUID",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
)
SPS_RETURN_KEYS: tuple[str, ...] = (
    "Modality",
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepID",
    "ScheduledPerformingPhysicianName",
)


# -- the worklist --------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    patient_id: str
    name: str
    birth_date: str
    sex: str


def _name(rng: random.Random) -> str:
    surname = rng.choices(list(SURNAMES), weights=list(SURNAMES.values()))[0]
    given = "".join(rng.choices(GIVEN_CHARS, k=rng.choice((1, 2, 2))))
    return f"{surname}^{given}"


def make_patients(rng: random.Random, count: int) -> list[Patient]:
    """``count`` patients with distinct 10-digit hospital numbers."""
    ids = rng.sample(range(10**9, 10**10), count)
    return [
        Patient(
            patient_id=f"{pid:010d}",
            name=_name(rng),
            birth_date=(dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(80 * 365))).strftime(
                "%Y%m%d"
            ),
            sex=rng.choice("MF"),
        )
        for pid in ids
    ]


def make_steps(count: int, today: dt.date, seed: int) -> list[StepIn]:
    """``count`` scheduled steps over ``DAYS`` days from ``today``, 08:00-17:55, on the
    ``STATIONS`` with their shares; about 1.6 steps per patient. Deterministic for a seed."""
    rng = random.Random(seed)
    uids = UidFactory()
    patients = make_patients(rng, max(1, count * 10 // 16))
    doctors = [_name(rng) for _ in range(40)]
    stations = list(STATIONS)
    weights = [share for _, share in STATIONS.values()]
    steps = []
    for i in range(count):
        station = rng.choices(stations, weights=weights)[0]
        modality = STATIONS[station][0]
        day = today + dt.timedelta(days=rng.randrange(DAYS))
        minute = 8 * 60 + 5 * rng.randrange(120)
        scheduled = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
        patient = rng.choice(patients)
        steps.append(
            StepIn(
                patient_id=patient.patient_id,
                patient_name=patient.name,
                birth_date=patient.birth_date,
                sex=patient.sex,
                modality=modality,
                accession=f"DG{day:%Y%m%d}{i:05d}",
                station_ae=station,
                scheduled=scheduled,
                procedure=rng.choice(PROCEDURES[modality]),
                referring_physician=rng.choice(doctors),
                study_uid=uids.new(),
            )
        )
    return steps


def fill_edge_index(index_path: Path, steps: list[StepIn]) -> float:
    """Add every step with ``add_step`` (one transaction each, as ``pacs-edge worklist
    add`` does); return the seconds taken."""
    engine = open_index(index_path)
    uids = UidFactory()
    start = time.perf_counter()
    try:
        for step in steps:
            add_step(engine, step, uids)
    finally:
        engine.dispose()
    return time.perf_counter() - start


def worklist_item(step: StepIn) -> Dataset:
    """The Orthanc worklist file for ``step``: the attributes the edge answers with."""
    ds = Dataset()
    ds.SpecificCharacterSet = UTF8
    ds.PatientName = step.patient_name
    ds.PatientID = step.patient_id
    ds.PatientBirthDate = step.birth_date
    ds.PatientSex = step.sex
    ds.AccessionNumber = step.accession
    ds.ReferringPhysicianName = step.referring_physician
    ds.StudyInstanceUID = step.study_uid
    ds.RequestedProcedureID = step.accession
    ds.RequestedProcedureDescription = step.procedure
    item = Dataset()
    item.Modality = step.modality
    item.ScheduledStationAETitle = step.station_ae
    item.ScheduledProcedureStepStartDate = step.scheduled.strftime("%Y%m%d")
    item.ScheduledProcedureStepStartTime = step.scheduled.strftime("%H%M%S")
    item.ScheduledProcedureStepDescription = step.procedure
    item.ScheduledProcedureStepID = step.accession
    item.ScheduledPerformingPhysicianName = ""
    item.ScheduledProcedureStepStatus = "SCHEDULED"
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def write_wl_files(folder: Path, steps: list[StepIn]) -> float:
    """Write one DICOM file ``<accession>.wl`` per step into ``folder``; return seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = UidFactory()
    start = time.perf_counter()
    for step in steps:
        ds = worklist_item(step)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MWL_FIND
        ds.file_meta.MediaStorageSOPInstanceUID = UID(uids.new())
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(folder / f"{step.accession}.wl", enforce_file_format=True)
    return time.perf_counter() - start


# -- the queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A worklist query: matching values over the typical return keys.

    ``top`` and ``sps`` map keywords to matching values (top level and inside the
    Scheduled Procedure Step Sequence); every other return key is asked for empty.
    """

    key: str
    label: str
    top: dict[str, str] = field(default_factory=dict)
    sps: dict[str, str] = field(default_factory=dict)

    def dataset(self) -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = UTF8
        for keyword in RETURN_KEYS:
            setattr(ds, keyword, self.top.get(keyword, ""))
        item = Dataset()
        for keyword in SPS_RETURN_KEYS:
            setattr(item, keyword, self.sps.get(keyword, ""))
        ds.ScheduledProcedureStepSequence = [item]
        return ds

    def findscu_keys(self) -> list[str]:
        """``-k`` arguments for dcmtk ``findscu``."""
        args = ["-k", f"SpecificCharacterSet={UTF8}"]
        for keyword in RETURN_KEYS:
            value = self.top.get(keyword, "")
            args += ["-k", f"{keyword}={value}" if value else keyword]
        for keyword in SPS_RETURN_KEYS:
            value = self.sps.get(keyword, "")
            path = f"{SPS}[0].{keyword}"
            args += ["-k", f"{path}={value}" if value else path]
        return args


def make_queries(steps: list[StepIn], today: dt.date) -> list[Query]:
    """The five typical queries; patient ID and accession are taken from a CT1 step of
    today (or the first step when there is none)."""
    day = today.strftime("%Y%m%d")
    last = (today + dt.timedelta(days=2)).strftime("%Y%m%d")
    todays_ct1 = sorted(
        (s for s in steps if s.station_ae == "CT1" and s.scheduled.date() == today),
        key=lambda s: s.scheduled,
    )
    sample = todays_ct1[0] if todays_ct1 else steps[0]
    return [
        Query(
            "a",
            "CT1 today (Modality, station AE, date)",
            sps={
                "Modality": "CT",
                "ScheduledStationAETitle": "CT1",
                "ScheduledProcedureStepStartDate": day,
            },
        ),
        Query(
            "b",
            "CT, 3-day date range",
            sps={"Modality": "CT", "ScheduledProcedureStepStartDate": f"{day}-{last}"},
        ),
        Query("c", "patient ID exact", top={"PatientID": sample.patient_id}),
        Query("d", "patient name 张* (wildcard)", top={"PatientName": "张*"}),
        Query("e", "accession number", top={"AccessionNumber": sample.accession}),
    ]


# -- timing --------------------------------------------------------------------------------


@dataclass
class Cell:
    """The runs of one (server, client, query)."""

    server: str
    client: str
    query: str
    label: str
    matches: int | None = None
    samples_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    has_goal: bool = True

    @property
    def ok(self) -> bool:
        return bool(self.samples_ms) and not self.problems

    def median(self) -> float | None:
        return statistics.median(self.samples_ms) if self.samples_ms else None

    def p95(self) -> float | None:
        """Nearest-rank 95th percentile."""
        if not self.samples_ms:
            return None
        ordered = sorted(self.samples_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def max(self) -> float | None:
        return max(self.samples_ms) if self.samples_ms else None

    def verdict(self) -> str:
        if not self.has_goal:
            return "-"
        p95 = self.p95()
        if p95 is None or self.problems:
            return "n/a"
        return "PASS" if p95 <= GOAL_P95_MS else "MISS"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(median_ms=self.median(), p95_ms=self.p95(), max_ms=self.max())
        data["verdict"] = self.verdict()
        return data


@dataclass(frozen=True)
class Server:
    name: str
    ae_title: str
    port: int


def _tail(text: str, lines: int = 4) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _findscu_cmd(server: Server, query: Query, verbose: bool) -> list[str]:
    cmd = [dcmtk_tool("findscu"), "-W", "-aet", CALLING_AE, "-aec", server.ae_title]
    cmd.append("-v" if verbose else "-q")
    return [*cmd, *query.findscu_keys(), HOST, str(server.port)]


def count_with_findscu(server: Server, query: Query, env: dict[str, str]) -> tuple[int, str]:
    """Run findscu once, verbose; return (pending responses, problem or '').

    Also warms the server up for the timed runs.
    """
    try:
        out = subprocess.run(
            _findscu_cmd(server, query, verbose=True),
            capture_output=True,
            text=True,
            env=env,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 0, f"findscu did not finish within {QUERY_TIMEOUT_S:.0f} s"
    text = out.stdout + out.stderr
    pending = sum(
        1 for line in text.splitlines() if "Find Response:" in line and "(Pending)" in line
    )
    if out.returncode != 0:
        return pending, f"findscu exited with {out.returncode}: {_tail(text)}"
    if "Received Final Find Response (Success)" not in text:
        return pending, f"findscu got no final Success: {_tail(text)}"
    return pending, ""


def time_process(cmd: list[str], runs: int, env: dict[str, str], cell: Cell) -> None:
    """Append the wall time of ``runs`` runs of ``cmd`` to ``cell``; stop at a failure."""
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        if not wait_exactly(process, QUERY_TIMEOUT_S):
            cell.problems.append(f"{Path(cmd[0]).name} did not finish in {QUERY_TIMEOUT_S:.0f} s")
            return
        code = process.returncode
        elapsed = (time.perf_counter() - start) * 1000
        if code != 0:
            cell.problems.append(f"{Path(cmd[0]).name} exited with {code}")
            return
        cell.samples_ms.append(elapsed)


def time_findscu(server: Server, query: Query, runs: int, env: dict[str, str]) -> Cell:
    """One counted (verbose) run, untimed, then ``runs`` timed quiet runs of findscu."""
    cell = Cell(server.name, "findscu", query.key, query.label)
    cell.matches, problem = count_with_findscu(server, query, env)
    if problem:
        cell.problems.append(problem)
        return cell
    time_process(_findscu_cmd(server, query, verbose=False), runs, env, cell)
    return cell


# dcmtk's log (log4cplus) with microsecond timestamps; the per-response dumps left out.
FINDSCU_LOG_CONFIG = """\
log4cplus.rootLogger = INFO, console
log4cplus.appender.console = log4cplus::ConsoleAppender
log4cplus.appender.console.ImmediateFlush = true
log4cplus.appender.console.layout = log4cplus::PatternLayout
log4cplus.appender.console.layout.ConversionPattern = %D{%H:%M:%S.%Q} %m%n
log4cplus.logger.dcmtk.dcmnet.responses = WARN
"""
_STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3})\.(\d{3}) (.*)$")


def query_times(log: str) -> tuple[list[float], list[int]]:
    """From a ``findscu --repeat`` log written with :data:`FINDSCU_LOG_CONFIG`: the
    milliseconds from each "Sending Find Request" to its "Received Final Find
    Response", and the pending responses of each."""
    times: list[float] = []
    matches: list[int] = []
    sent: float | None = None
    pending = 0
    for line in log.splitlines():
        found = _STAMP.match(line)
        if not found:
            continue
        hours, minutes, seconds, millis, micros, text = found.groups()
        at = (int(hours) * 60 + int(minutes)) * 60 + int(seconds) + int(millis) / 1e3
        at += int(micros) / 1e6
        if text.startswith("Sending Find Request"):
            sent, pending = at, 0
        elif text.startswith("Received Find Response") and "(Pending)" in text:
            pending += 1
        elif text.startswith("Received Final Find Response") and sent is not None:
            elapsed = at - sent
            if elapsed < 0:  # past midnight
                elapsed += 86400
            times.append(elapsed * 1000)
            matches.append(pending)
            sent = None
    return times, matches


def time_findscu_open(
    server: Server, query: Query, runs: int, env: dict[str, str], log_config: Path
) -> Cell:
    """One ``findscu -W --repeat`` process: ``runs + 1`` C-FINDs on one association (the
    first a warm-up), each timed by findscu's own log — what a modality written in
    C/C++ that keeps its association open waits for, with neither process start-up nor
    association set-up."""
    cell = Cell(server.name, "findscu --repeat", query.key, query.label)
    cmd = [dcmtk_tool("findscu"), "-W", "--repeat", str(runs + 1), "-lc", str(log_config)]
    cmd += ["-aet", CALLING_AE, "-aec", server.ae_title, *query.findscu_keys()]
    cmd += [HOST, str(server.port)]
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env,
            timeout=QUERY_TIMEOUT_S * (runs + 1),
            check=False,
        )
    except subprocess.TimeoutExpired:
        cell.problems.append("findscu --repeat did not finish in time")
        return cell
    text = out.stdout + out.stderr
    times, matches = query_times(text)
    if out.returncode != 0 or len(times) != runs + 1:
        cell.problems.append(
            f"findscu --repeat exited with {out.returncode} after {len(times)} of {runs + 1} "
            f"queries: {_tail(text)}"
        )
        return cell
    cell.matches = matches[0]
    cell.samples_ms = times[1:]
    if len(set(matches)) > 1:
        cell.problems.append(f"match counts differ between runs: {sorted(set(matches))}")
    return cell


def time_echoscu(server: Server, runs: int, env: dict[str, str]) -> Cell:
    """The floor of a findscu figure: an echoscu process (start, associate, C-ECHO, release).
    One warm-up run, then ``runs`` timed ones."""
    cell = Cell(server.name, "echoscu", "-", "echo only (process + association floor)")
    cell.has_goal = False
    cmd = [dcmtk_tool("echoscu"), "-q", "-aet", CALLING_AE, "-aec", server.ae_title]
    cmd += [HOST, str(server.port)]
    time_process(cmd, 1, env, cell)
    cell.samples_ms.clear()
    time_process(cmd, runs, env, cell)
    return cell


def quiet_client() -> None:
    """Keep pynetdicom's logging out of the timed client, as the gateway keeps it out of
    the server (``configure_pynetdicom``): by default pynetdicom formats every received
    identifier for a DEBUG line, and binds handlers that log every PDU and message,
    whether or not anything is logged — in a profile, half of this client's CPU for a
    14-item answer, on a 2-core machine the server shares."""
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"


@contextmanager
def scu_association(server: Server) -> Iterator[Any]:
    """A pynetdicom association for worklist C-FIND, its socket tuned like the gateway's
    (TCP_NODELAY, TCP_QUICKACK); released (or aborted) on exit.

    Raises ``RuntimeError`` when the server does not accept it.
    """
    ae = AE(ae_title=CALLING_AE)
    ae.add_requested_context(MWL_FIND)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = QUERY_TIMEOUT_S
    assoc = ae.associate(
        HOST,
        server.port,
        ae_title=server.ae_title,
        evt_handlers=[(evt.EVT_CONN_OPEN, handle_conn_open)],
    )
    try:
        if not assoc.is_established:
            raise RuntimeError(f"{server.name} did not accept a worklist association")
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def _c_find(assoc: Any, query: Dataset) -> tuple[int, int | None]:
    """Run one C-FIND to the end; return (pending responses, final status or None when
    the association was lost)."""
    matches = 0
    final: int | None = None
    for response, _identifier in assoc.send_c_find(query, MWL_FIND):
        if not response:  # no status: the association timed out or was aborted
            return matches, None
        code = int(response.Status)
        if code in (status.PENDING, status.PENDING_WARNING):
            matches += 1
        else:
            final = code
    return matches, final


def time_pynetdicom(server: Server, query: Query, runs: int) -> Cell:
    """On one association kept open: a warm-up C-FIND (which counts the matches), then
    ``runs`` timed ones."""
    cell = Cell(server.name, "pynetdicom", query.key, query.label)
    ds = query.dataset()
    try:
        with scu_association(server) as assoc:
            for i in range(runs + 1):
                start = time.perf_counter()
                matches, final = _c_find(assoc, ds)
                elapsed = (time.perf_counter() - start) * 1000
                if final != status.SUCCESS:
                    text = "none (association lost)" if final is None else status.status_name(final)
                    cell.problems.append(f"C-FIND ended with status {text}")
                    break
                if i == 0:
                    cell.matches = matches
                    continue
                cell.samples_ms.append(elapsed)
                if matches != cell.matches:
                    cell.problems.append(f"run {i}: {matches} matches, first run {cell.matches}")
    except RuntimeError as exc:
        cell.problems.append(str(exc))
    return cell


def measure(
    rx: Receiver, queries: list[Query], runs: int, env: dict[str, str], log_config: Path
) -> list[Cell]:
    """Every row of one running server: echoscu, then per query findscu (a process per
    query), findscu --repeat (one association) and pynetdicom.

    Stops early, with the reason in the last row, when the server process exits.
    """
    server = Server(rx.name, rx.ae_title, rx.port)
    jobs: list[tuple[str, Callable[[], Cell]]] = [
        ("echoscu", lambda: time_echoscu(server, runs, env))
    ]
    for q in queries:
        jobs.append((f"findscu ({q.key})", functools.partial(time_findscu, server, q, runs, env)))
    for q in queries:
        jobs.append(
            (
                f"findscu --repeat ({q.key})",
                functools.partial(time_findscu_open, server, q, runs, env, log_config),
            )
        )
    for q in queries:
        jobs.append((f"pynetdicom ({q.key})", functools.partial(time_pynetdicom, server, q, runs)))
    cells = []
    for what, job in jobs:
        cell = job()
        cells.append(cell)
        gone = _server_gone(rx) if cell.problems else ""
        if gone:
            cell.problems.append(gone)
        progress(f"  {rx.name} {what} {_summary(cell)}")
        if gone:
            break
    return cells


def _server_gone(rx: Receiver) -> str:
    """Why ``rx`` no longer serves ('' while it does): it exited, or it stopped listening
    (it is shutting down, e.g. after a signal from outside the benchmark)."""
    if rx.process is None or rx.process.poll() is not None:
        code = None if rx.process is None else rx.process.returncode
        return f"{rx.name} exited ({code}) during the run: {rx.log_tail(2)}"
    try:
        with socket.create_connection((HOST, rx.port), timeout=2):
            return ""
    except OSError as exc:
        return f"{rx.name} no longer listens ({exc}): {rx.log_tail(2)}"


def _summary(cell: Cell) -> str:
    if not cell.ok:
        return "FAILED: " + "; ".join(cell.problems)
    found = "" if cell.matches is None else f"{cell.matches} matches, "
    return f"{found}median {cell.median():.1f} ms, p95 {cell.p95():.1f} ms"


# -- the servers ---------------------------------------------------------------------------


class PrefilledEdge(Edge):
    """``pacs-edge serve`` on a data dir whose index was filled beforehand (the base
    class wants to create the directory itself)."""

    def start(self) -> None:
        self.launch()


class WorklistOrthanc(Orthanc):
    """Orthanc with the Modality Worklists plugin reading ``.wl`` files from ``worklists``;
    C-FIND allowed from any calling AE, UTF-8 as the default encoding."""

    def __init__(self, storage: Path, logfile: Path, env: dict[str, str], worklists: Path) -> None:
        super().__init__(storage, logfile, env)
        self.worklists = worklists

    def _command(self) -> list[str]:
        config = {
            "Name": "bench-orthanc-worklist",
            "StorageDirectory": str(self.storage / "storage"),
            "IndexDirectory": str(self.storage / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.port,
            "DicomAet": self.ae_title,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowFindWorklist": True,  # Orthanc 1.10: Find alone is not enough
            "DefaultEncoding": "Utf8",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [str(ORTHANC_WL_PLUGIN)],
            "Worklists": {"Enable": True, "Database": str(self.worklists)},
        }
        self.config.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return [self.binary(), str(self.config)]


# -- report --------------------------------------------------------------------------------


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """A plain-text table; columns in ``right`` are right-aligned."""
    widths = [max(_width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(_pad(c, widths[i], i in right) for i, c in enumerate(cells)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(cells: list[Cell], header: str) -> str:
    order = {"edge": 0, "orthanc": 1}
    clients = {"echoscu": 0, "findscu": 1, "findscu --repeat": 2, "pynetdicom": 3}
    ranked = sorted(cells, key=lambda c: (c.query, clients[c.client], order.get(c.server, 9)))
    rows = [
        [
            c.label if c.query == "-" else f"({c.query}) {c.label}",
            c.client,
            c.server,
            "-" if c.matches is None else str(c.matches),
            _fmt(c.median()),
            _fmt(c.p95()),
            _fmt(c.max()),
            c.verdict(),
        ]
        for c in ranked
    ]
    parts = [
        header,
        "",
        table(
            ["query", "client", "server", "matches", "median ms", "p95 ms", "max ms",
             f"p95<={GOAL_P95_MS:g}ms"],
            rows,
            right={3, 4, 5, 6},
        ),
    ]  # fmt: skip
    notes = _consistency(cells)
    for c in cells:
        notes += [f"  FAILED {c.server}/{c.client}/{c.query}: {p}" for p in c.problems]
    if notes:
        parts += ["", "Notes", *notes]
    return "\n".join(parts)


def _consistency(cells: list[Cell]) -> list[str]:
    """A note for every query whose match counts differ between clients or servers."""
    notes = []
    for query in dict.fromkeys(c.query for c in cells if c.query != "-"):
        counts = {f"{c.server}/{c.client}": c.matches for c in cells if c.query == query}
        if len({v for v in counts.values() if v is not None}) > 1:
            text = ", ".join(f"{k}={v}" for k, v in counts.items())
            notes.append(f"  ({query}) match counts differ: {text}")
    return notes


def _header(meta: dict[str, Any]) -> str:
    mix = ", ".join(f"{m} {n}" for m, n in meta["modality_mix"].items())
    lines = [
        f"Worklist C-FIND benchmark, {meta['date']} on {meta['host']} ({meta['cpus']} CPUs)",
        f"  {meta['dcmtk']}; Orthanc {meta['orthanc']}; edge: {meta['edge']}",
        f"  {meta['steps']} scheduled steps over {DAYS} days from {meta['today']} on "
        f"{len(STATIONS)} stations ({mix}); {meta['patients']} patients",
        f"  edge index filled with add_step in {meta['fill_s']:.1f} s; "
        f"Orthanc .wl files written in {meta['wl_s']}",
        f"  {meta['runs']} timed runs per row after one warm-up; p95 = nearest rank; "
        f"findscu/echoscu sockets: {meta['sockets']}",
        "  findscu = wall time of one findscu -W process (start, associate, query, release, exit)",
        "  findscu --repeat = one C-FIND on the association of one findscu process, request "
        "to final response, from findscu's own log",
        "  pynetdicom = one C-FIND on a kept-open association (TCP_NODELAY), in-process, "
        "the client decoding each answer with pydicom",
    ]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Modality Worklist C-FIND latency of the edge gateway (and Orthanc's "
        f"Worklists plugin) with N scheduled steps; goal p95 <= {GOAL_P95_MS:g} ms.",
    )
    p.add_argument("--steps", type=int, default=10_000, help="scheduled steps (default 10000)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per query and client (50)")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    p.add_argument("--skip-orthanc", action="store_true", help="measure the edge gateway only")
    p.add_argument(
        "--nodelay",
        action="store_true",
        help="run findscu, echoscu and Orthanc with TCP_NODELAY=1 (default: default sockets, "
        "as most modalities have; the edge sets TCP_NODELAY itself either way)",
    )
    p.add_argument("--seed", type=int, default=20261125, help="seed of the generated worklist")
    p.add_argument("--workdir", type=Path, help="where the data dirs live (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the data dirs and server logs")
    p.add_argument(
        "--edge-bin",
        type=Path,
        default=Edge.DEFAULT_EXECUTABLE,
        help="the edge gateway's CLI (default: the repository's .venv/bin/pacs-edge)",
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.runs < 1:
        p.error("--steps and --runs must be >= 1")
    return args


def _check_tools(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError naming what is missing."""
    dcmtk_tool("findscu")
    dcmtk_tool("echoscu")
    ok, why = Edge.available(args.edge_bin)
    if not ok:
        raise FileNotFoundError(f"the edge gateway cannot be started: {why} (run make venv)")
    if not args.skip_orthanc:
        Orthanc.binary()
        if not ORTHANC_WL_PLUGIN.exists():
            raise FileNotFoundError(
                f"{ORTHANC_WL_PLUGIN} not found: install the Debian package 'orthanc' "
                "or run with --skip-orthanc"
            )


def run(args: argparse.Namespace, workdir: Path) -> int:
    _check_tools(args)
    quiet_client()
    today = dt.date.today()
    env = round_env(nodelay=args.nodelay)
    started = time.perf_counter()
    steps = make_steps(args.steps, today, args.seed)
    queries = make_queries(steps, today)
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "dcmtk": _version([dcmtk_tool("findscu"), "--version"]).strip("$ ").removeprefix("dcmtk: "),
        "orthanc": "not measured",
        "edge": f"{args.edge_bin.name} serve (campus-pacs "
        f"{importlib.metadata.version('campus-pacs')})",
        "today": today.isoformat(),
        "steps": len(steps),
        "patients": len({s.patient_id for s in steps}),
        "modality_mix": dict(Counter(s.modality for s in steps).most_common()),
        "runs": args.runs,
        "sockets": "TCP_NODELAY=1" if args.nodelay else "default (Nagle on)",
        "queries": [asdict(q) for q in queries],
        "wl_s": "-",
    }
    progress(f"work directory: {workdir}; {len(steps)} steps made in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    data_dir = workdir / "edge"
    meta["fill_s"] = fill_edge_index(data_dir / "edge.sqlite", steps)
    progress(f"edge index filled in {meta['fill_s']:.1f} s")

    log_config = workdir / "findscu-log.cfg"
    log_config.write_text(FINDSCU_LOG_CONFIG, encoding="ascii")
    cells: list[Cell] = []
    edge = PrefilledEdge(data_dir, workdir / "logs" / "edge.log", env, executable=args.edge_bin)
    with edge:
        progress(f"edge gateway listening on {HOST}:{edge.port}")
        cells += measure(edge, queries, args.runs, env, log_config)
    if not args.skip_orthanc:
        wl_s = write_wl_files(workdir / "worklists", steps)
        meta["wl_s"] = f"{wl_s:.1f} s"
        progress(f"{len(steps)} .wl files written in {wl_s:.1f} s")
        orthanc = WorklistOrthanc(
            workdir / "orthanc", workdir / "logs" / "orthanc.log", env, workdir / "worklists"
        )
        with orthanc:
            meta["orthanc"] = orthanc.version()
            progress(f"Orthanc {meta['orthanc']} listening on {HOST}:{orthanc.port}")
            cells += measure(orthanc, queries, args.runs, env, log_config)

    print(render(cells, _header(meta)))
    if args.json:
        _write_json(args.json, meta, cells)
        progress(f"JSON written to {args.json}")
    return 0 if all(c.ok for c in cells) else 1


def _write_json(path: Path, meta: dict[str, Any], cells: list[Cell]) -> None:
    data = {
        "benchmark": "worklist",
        "goal_p95_ms": GOAL_P95_MS,
        "meta": meta,
        "cells": [c.to_json() for c in cells],
    }
    write_json(path, data)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir(
        functools.partial(run, args),
        prefix="pacs-bench-worklist-",
        workdir=args.workdir,
        keep=args.keep,
        fresh=("edge", "orthanc", "worklists"),
    )


if __name__ == "__main__":
    sys.exit(main())
