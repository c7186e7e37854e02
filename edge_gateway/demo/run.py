"""``pacs-edge demo``: a whole exam day in one command, on the loopback interface.

:func:`run_demo` starts the edge gateway of campus 东葛 (dongge) in this process, with a
peers table that knows only the simulated CT (``DEMO_CT1``); fills today's worklist with
a few patients; lets the simulated CT do each of its exams (worklist, MPPS, images); prints
what is in the archive and the dcmtk commands to try; then serves until Ctrl-C or SIGTERM.

Patients' names are printed masked only (张*, 欧阳*娜). With ``PACS_DEMO_EXIT_AFTER_RUN=1``
the demo stops right after printing the commands (for tests and scripted runs). Running it
again on the same ``--data-dir`` reuses today's accession numbers.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from types import FrameType

from pydicom.data import get_testdata_file
from sqlalchemy import Engine, func, select
from sqlmodel import col

from edge_gateway.config import EdgeSettings
from edge_gateway.demo.modality import (
    TEMPLATE_FILE,
    ModalityError,
    SentSeries,
    SimulatedModality,
    WorklistItem,
)
from edge_gateway.gateway import Gateway, build_gateway
from edge_gateway.peers import Peer, PeerTable, Permission
from edge_gateway.store.models import Instance, Patient, Study
from edge_gateway.store.worklist import DuplicateStep, StepIn, add_step, find_steps
from shared.accession import format_accession
from shared.dicom import status
from shared.dicom.uid import UidFactory
from shared.masking import mask_name
from shared.settings import CAMPUSES, campus_label

EXIT_AFTER_RUN_ENV = "PACS_DEMO_EXIT_AFTER_RUN"
"""Set to ``1`` to return right after the commands are printed instead of serving."""

CAMPUS = "dongge"
BIND = "127.0.0.1"
MODALITY_AE = "DEMO_CT1"
MODALITY = "CT"
MAX_IMAGES = 500

_TAG = f"[模拟CT {MODALITY_AE}]"
_DIR = "@DIR@"  # stands for the temporary directory in printed commands

_STEP_STATUS_ZH = {
    "SCHEDULED": "待检查",
    "IN PROGRESS": "检查中",
    "COMPLETED": "已完成",
    "DISCONTINUED": "已中止",
}


@dataclass(frozen=True)
class DemoOrder:
    """One exam of the demo worklist (the name in DICOM PN form, 姓^名)."""

    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    modality: str
    procedure: str
    station_ae: str
    at: time


DEMO_ORDERS: tuple[DemoOrder, ...] = (
    DemoOrder("DG100231", "张^三", "1978-03-12", "M", "CT", "胸部CT平扫", MODALITY_AE, time(8, 30)),
    DemoOrder("DG100232", "欧阳^娜娜", "1992-07-08", "F", "MR", "头颅MR平扫", "DEMO_MR1", time(9)),
    DemoOrder("DG100233", "单^雄信", "1965-11-20", "M", "CT", "胸部CT平扫", MODALITY_AE, time(9)),
    DemoOrder("DG100234", "曾^小贤", "1985-06-06", "M", "DX", "胸部正位DR", "DEMO_DR1", time(10)),
)


def say(text: str = "") -> None:
    """Print one line of the demo's narration at once (also when stdout is a pipe)."""
    print(text, flush=True)


def run_demo(data_dir: Path | None, port: int, images: int) -> int:
    """Run the demo; return 0 when every step succeeded, 1 when one failed or the port
    cannot be bound, 2 for bad arguments. ``data_dir`` None means a temporary directory
    removed at the end; ``port`` 0 means any free port."""
    _prepare_stdout()
    if not 1 <= images <= MAX_IMAGES:
        _error(f"--images 须在 1 到 {MAX_IMAGES} 之间 / must be between 1 and {MAX_IMAGES}")
        return 2
    stop = threading.Event()
    with _stop_on_signals(stop), _data_dir(data_dir) as root:
        settings = EdgeSettings(
            campus=CAMPUS, data_dir=root, dicom_port=port, bind=BIND, accept_any_ae=False
        )
        gateway = build_gateway(settings, demo_peers())
        try:
            try:
                gateway.start()
            except OSError as exc:
                _error(
                    f"无法在 {BIND}:{port} 监听，请换一个 --dicom-port 或不给 / "
                    f"cannot listen on {BIND}:{port} ({exc.strerror}); "
                    "choose another --dicom-port, or none for any free port"
                )
                return 1
            ok = _run(gateway, images, stop)
            _serve_until_stopped(stop)
        finally:
            gateway.stop()
        say("网关已停止 / gateway stopped")
    if data_dir is None:
        say("临时数据目录已删除 / the temporary data dir was removed")
    return 0 if ok else 1


def _serve_until_stopped(stop: threading.Event) -> None:
    """Wait for SIGINT/SIGTERM, unless ``PACS_DEMO_EXIT_AFTER_RUN=1`` or already stopped."""
    if os.environ.get(EXIT_AFTER_RUN_ENV, "") == "1":
        say(f"{EXIT_AFTER_RUN_ENV}=1: 演示结束，网关停止 / demo done, stopping the gateway")
        return
    if stop.is_set():
        return
    say("网关继续运行，按 Ctrl-C 停止 / the gateway keeps running; press Ctrl-C to stop")
    stop.wait()
    say("收到停止信号，正在停止 / stop requested, stopping")


def _error(text: str) -> None:
    print(f"pacs-edge demo: {text}", file=sys.stderr, flush=True)


def demo_peers() -> PeerTable:
    """The demo's peers table: only the simulated CT, allowed everything it needs."""
    allow = frozenset(
        {
            Permission.ECHO,
            Permission.STORE,
            Permission.WORKLIST,
            Permission.MPPS,
            Permission.QUERY,
            Permission.RETRIEVE,
        }
    )
    peer = Peer(ae_title=MODALITY_AE, allow=allow, description="演示用模拟CT / simulated CT")
    return PeerTable({MODALITY_AE: peer}, accept_any=False)


def fill_worklist(engine: Engine, uids: UidFactory, day: date) -> tuple[int, int]:
    """Put :data:`DEMO_ORDERS` on the worklist of ``day``; return (added, already there).

    Accession numbers already on the worklist (an earlier run on the same data dir) are
    reused as they are."""
    added = reused = 0
    for counter, order in enumerate(DEMO_ORDERS, start=1):
        step = StepIn(
            patient_id=order.patient_id,
            patient_name=order.patient_name,
            modality=order.modality,
            accession=format_accession(CAMPUS, day, counter),
            station_ae=order.station_ae,
            scheduled=datetime.combine(day, order.at),
            procedure=order.procedure,
            birth_date=order.birth_date,
            sex=order.sex,
            source="demo",
        )
        try:
            add_step(engine, step, uids)
            added += 1
        except DuplicateStep:
            reused += 1
    return added, reused


# -- the story ------------------------------------------------------------------------------
def _run(gateway: Gateway, images: int, stop: threading.Event) -> bool:
    s = gateway.settings
    today = date.today()
    say(f"== 院区 PACS 演示 / Campus PACS demo: {campus_label(s.campus)} ==")
    say(
        f"边缘网关 / edge gateway: AE {s.ae_title} @ {BIND}:{gateway.port}, "
        f"只接受 / accepting only {MODALITY_AE}"
    )
    say(f"数据目录 / data dir: {s.data_dir}")
    added, reused = fill_worklist(gateway.engine, gateway.uids, today)
    say(
        f"今天的工作列表 / today's worklist: 新增 {added} 项, 沿用 {reused} 项 / "
        f"{added} added, {reused} already there (reused)"
    )
    _print_worklist(gateway.engine, today)
    say()
    ok = _simulate_modality(gateway, images, today, stop)
    say()
    _print_summary(gateway.engine, today)
    if not stop.is_set():  # commands for a gateway about to stop would only mislead
        say()
        _print_commands(gateway, today)
    if not ok:
        say("注意：演示中有步骤失败，见上文 / note: a step of the demo failed, see above")
    return ok


def _simulate_modality(gateway: Gateway, images: int, today: date, stop: threading.Event) -> bool:
    s = gateway.settings
    modality = SimulatedModality(
        ae_title=MODALITY_AE,
        host=BIND,
        port=gateway.port,
        gateway_ae=s.ae_title,
        uids=gateway.uids,
        station_name="CT1",
        institution=f"{CAMPUSES[s.campus]}院区",
    )
    try:
        items = modality.query_worklist(modality=MODALITY, date=f"{today:%Y%m%d}")
    except ModalityError as exc:
        say(f"{_TAG} 查询工作列表失败 / worklist query failed: {exc}")
        return False
    say(f"{_TAG} 查询工作列表: {len(items)} 项 / worklist query: {len(items)} items")
    if not items:
        say(
            f"{_TAG} 今天没有待做的CT检查（都已完成）/ "
            "no open CT exams today (all done already; use a new --data-dir to see them again)"
        )
    ok = True
    for item in items:
        if stop.is_set():
            say(f"{_TAG} 收到停止信号，不再继续 / stop requested, not going on")
            return ok
        ok = _perform(modality, item, images) and ok
    return ok


def _perform(modality: SimulatedModality, item: WorklistItem, images: int) -> bool:
    """One exam: MPPS IN PROGRESS, images, MPPS COMPLETED. Returns False on a failure."""
    tag = f"{_TAG} {item.accession}"
    say(f"{tag} {mask_name(item.patient_name)} {item.procedure}: 开始检查 / starting the exam")
    try:
        started = modality.start_mpps(item)
        say(
            f"{tag} MPPS 进行中 (N-CREATE): {status.status_name(started.status)} / MPPS IN PROGRESS"
        )
        series = modality.send_images(item, images, mpps_uid=started.uid)
        say(f"{tag} {_images_line(series)}")
        code = modality.complete_mpps(started.uid, [series])
    except ModalityError as exc:
        say(f"{tag} 失败 / failed: {exc}")
        return False
    say(
        f"{tag} MPPS 已完成 (N-SET, 1 个序列 {len(series.stored)} 幅图像): "
        f"{status.status_name(code)} / MPPS COMPLETED (1 series, {len(series.stored)} images)"
    )
    return not series.failed


def _images_line(series: SentSeries) -> str:
    stored, total = len(series.stored), series.attempted
    line = f"发送图像 {stored}/{total} 张已存档 / images sent: {stored} of {total} stored"
    if series.failed:
        refused = ", ".join(sorted({status.status_name(c) for c in series.failed}))
        return f"{line}; 被拒绝 / refused: {refused}"
    return f"{line} ({status.status_name(status.SUCCESS)})"


def _print_worklist(engine: Engine, day: date) -> None:
    keys = {"ScheduledProcedureStepStartDate": f"{day:%Y%m%d}", "ScheduledProcedureStepStatus": "*"}
    for row in find_steps(engine, {}, keys, 1000):
        step_status = str(row["status"])
        say(
            f"  {row['start_time'][:2]}:{row['start_time'][2:4]} {row['modality']:<3} "
            f"{row['accession']} {mask_name(row['patient_name'])} {row['sps_description']} "
            f"→ {row['station_ae']} [{_STEP_STATUS_ZH.get(step_status, '')} {step_status}]"
        )


def _print_summary(engine: Engine, day: date) -> None:
    with engine.connect() as conn:
        patients = conn.scalar(select(func.count()).select_from(Patient)) or 0
        studies = conn.scalar(select(func.count()).select_from(Study)) or 0
        instances = conn.scalar(select(func.count()).select_from(Instance)) or 0
        size = conn.scalar(select(func.coalesce(func.sum(Instance.size_bytes), 0))) or 0
    say("== 结果 / result ==")
    say(
        f"档案库 / archive: {patients} 位患者, {studies} 个检查, {instances} 幅图像 / "
        f"{patients} patients, {studies} studies, {instances} instances ({size / 1e6:.1f} MB)"
    )
    say("工作列表 / worklist:")
    _print_worklist(engine, day)


# -- dcmtk commands ---------------------------------------------------------------------------
def _print_commands(gateway: Gateway, day: date) -> None:
    s = gateway.settings
    net = ["-aet", MODALITY_AE, "-aec", s.ae_title]
    peer = [BIND, str(gateway.port)]
    found = {name: _dcmtk(name) for name in ("echoscu", "findscu", "storescu", "getscu", "dcmdump")}
    tools = {name: path or name for name, path in found.items()}
    say("== 用 dcmtk 试试 / try it with dcmtk ==")
    say(
        f"网关只接受调用方 AE {MODALITY_AE}，所以每条命令都带 -aet {MODALITY_AE} / "
        f"the gateway accepts calling AE {MODALITY_AE} only, hence -aet {MODALITY_AE}"
    )
    if None in found.values():
        say("（需要 dcmtk：sudo apt install dcmtk / needs dcmtk: sudo apt install dcmtk）")
    say("# 连通测试 / verification (C-ECHO)")
    say(shlex.join([tools["echoscu"], "-v", *net, *peer]))
    say(
        "# 今天的CT工作列表（含已完成的），结果存为文件再用 dcmdump 显示中文 / "
        "today's CT worklist (done ones too), saved to files and shown by dcmdump"
    )
    wl_keys = _keys(
        "ScheduledProcedureStepSequence[0].Modality=CT",
        f"ScheduledProcedureStepSequence[0].ScheduledStationAETitle={MODALITY_AE}",
        f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={day:%Y%m%d}",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus=*",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "StudyInstanceUID",
    )
    findscu_wl = shlex.join([tools["findscu"], "-W", "-X", "-od", _DIR, *net, *wl_keys, *peer])
    dcmdump = shlex.join([tools["dcmdump"], "+U8"])
    say(_in_temp_dir(f"{findscu_wl} && {dcmdump} {_DIR}/rsp*.dcm"))
    say("# 检查级查询（今天的检查）/ study-level query (today's studies)")
    study_keys = _keys(
        "QueryRetrieveLevel=STUDY",
        f"StudyDate={day:%Y%m%d}",
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "StudyDescription",
        "StudyInstanceUID",
        "NumberOfStudyRelatedInstances",
    )
    findscu_study = shlex.join(
        [tools["findscu"], "-S", "-X", "-od", _DIR, *net, *study_keys, *peer]
    )
    say(_in_temp_dir(f"{findscu_study} && {dcmdump} {_DIR}/rsp*.dcm"))
    sample = get_testdata_file(TEMPLATE_FILE)
    if isinstance(sample, str):
        say("# 存入一幅图像（pydicom 自带的样例）/ store one image (pydicom's sample)")
        say(shlex.join([tools["storescu"], "-v", *net, *peer, sample]))
    study_uid = _first_study(gateway.engine)
    if study_uid:
        say("# 取回一个检查到临时目录 (C-GET) / retrieve one study into a temporary dir (C-GET)")
        get_keys = _keys("QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study_uid}")
        getscu = shlex.join([tools["getscu"], "-S", "-od", _DIR, *net, *get_keys, *peer])
        say(_in_temp_dir(f"{getscu} && ls -l {_DIR}"))


def _keys(*keys: str) -> list[str]:
    return [part for key in keys for part in ("-k", key)]


def _in_temp_dir(command: str) -> str:
    """A shell line running ``command`` with :data:`_DIR` standing for a new temporary
    directory (``mktemp -d``)."""
    return "DIR=$(mktemp -d) && " + command.replace(_DIR, '"$DIR"')


def _first_study(engine: Engine) -> str:
    with engine.connect() as conn:
        uid = conn.scalar(select(col(Study.study_uid)).order_by(col(Study.id)).limit(1))
    return str(uid) if uid else ""


def _dcmtk(name: str) -> str | None:
    """How to call dcmtk's ``name``: the bare name when PATH finds dcmtk's program, else
    its full path (pynetdicom installs same-named programs into virtualenvs); None when
    dcmtk is not installed."""
    first = shutil.which(name)
    if first is not None and _is_dcmtk(first):
        return name
    for folder in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin", "/usr/local/bin"]:
        candidate = Path(folder) / name
        if folder and os.access(candidate, os.X_OK) and _is_dcmtk(str(candidate)):
            return str(candidate)
    return None


def _is_dcmtk(program: str) -> bool:
    try:
        out = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return "dcmtk" in (out.stdout + out.stderr).lower()


# -- process plumbing -------------------------------------------------------------------------
def _prepare_stdout() -> None:
    """Line-buffered stdout that never fails on Chinese text in a non-UTF-8 terminal."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")


@contextmanager
def _data_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="pacs-demo-") as tmp:
        yield Path(tmp)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT and SIGTERM while inside (main thread only); restore after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # only this: printing here could re-enter a print in progress

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
