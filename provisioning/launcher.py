"""``pacs``: one command for every part of Campus PACS.

    pacs demo [--images N] [--data-dir DIR]
                            runs the hub and both campuses' edges together (provisioning.demo)
    pacs edge ARGS          runs  pacs-edge ARGS
    pacs hub ARGS           runs  pacs-hub ARGS      (likewise kiosk, signage, provision)
    pacs --help             lists the parts

Each part is its own console script, found next to the running Python (the same
virtualenv) or else on PATH; on POSIX it replaces this process (``os.execv``), so signals
and the exit status are the part's own. This module never imports the parts themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Part:
    """A sub-command of ``pacs``: the console script it runs and how it is described."""

    name: str
    program: str
    prefix: tuple[str, ...]
    """Arguments put before the user's (``demo`` for ``pacs demo``)."""
    zh: str
    en: str


PARTS: tuple[Part, ...] = (
    Part(
        "demo",
        "pacs-hub",
        ("demo",),
        "演示：中心服务器加东葛、仙葫两个院区的边缘网关与模拟CT",
        "demo: the hub and both campuses' edge gateways with simulated CTs",
    ),
    Part(
        "edge",
        "pacs-edge",
        (),
        "边缘网关（每个院区一台）：DICOM 服务、工作列表、本地存档",
        "edge gateway (one per campus): DICOM services, worklist, local archive",
    ),
    Part(
        "hub",
        "pacs-hub",
        (),
        "中心服务器：登记预约、权限、归档、与院区同步",
        "central hub: registration, appointments, people, archive, edge sync",
    ),
    Part(
        "kiosk",
        "pacs-kiosk",
        (),
        "自助机：签到与取报告（尚未发布）",
        "self-service kiosk: check-in and report pickup (not released yet)",
    ),
    Part(
        "signage",
        "pacs-signage",
        (),
        "叫号屏：候诊显示与语音叫号",
        "call-out board: waiting-room display and voice",
    ),
    Part(
        "provision",
        "pacs-provision",
        (),
        "设备管理：登记、凭据、版本发布（尚未发布）",
        "provisioning: devices, credentials, releases (not released yet)",
    ),
)
_BY_NAME = {part.name: part for part in PARTS}


def usage() -> str:
    """The ``pacs --help`` text: one line per part, Chinese first."""
    lines = [
        "pacs — 院区 PACS 统一入口 / the Campus PACS launcher",
        "",
        "用法 / usage: pacs PART [ARGS...]",
        "",
    ]
    width = max(len(part.name) for part in PARTS)
    lines += [f"  {part.name:<{width}}  {part.zh} / {part.en}" for part in PARTS]
    lines += [
        "",
        "pacs PART --help 显示该部分的选项 / shows the options of that part.",
    ]
    return "\n".join(lines)


def find_program(name: str) -> Path | None:
    """The console script ``name`` next to the running Python, else on PATH; None if
    neither has it."""
    folder = Path(sys.executable).parent
    for candidate in (folder / name, folder / f"{name}.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the part named by the first argument with the rest. Returns 0 for ``--help``,
    2 for a missing or unknown part, 127 when the part's program is not installed;
    otherwise does not return on POSIX (the part replaces this process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if not args:
        print(usage(), file=sys.stderr)
        return 2
    if args[0] == "demo":
        from provisioning.demo import run

        return run(args[1:], find_program)
    part = _BY_NAME.get(args[0])
    if part is None:
        names = ", ".join(_BY_NAME)
        print(
            f"pacs: 没有 {args[0]!r} 这一部分，可选：{names} / "
            f"there is no part {args[0]!r}; choose one of: {names} (pacs --help)",
            file=sys.stderr,
        )
        return 2
    program = find_program(part.program)
    if program is None:
        print(
            f"pacs: 找不到 {part.program}，请重新安装本项目 / {part.program} is not installed "
            f"next to {sys.executable} nor on PATH; reinstall the project "
            "(make venv, or pip install -e '.[edge]')",
            file=sys.stderr,
        )
        return 127
    return _run([str(program), *part.prefix, *args[1:]])


def _run(command: list[str]) -> int:
    """Replace this process by ``command`` on POSIX; elsewhere run it and return its
    exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(command[0], command)
    return subprocess.call(command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
