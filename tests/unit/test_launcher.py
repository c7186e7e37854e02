"""The ``pacs`` launcher and the honest entry points of the parts not built yet."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from kiosk import cli as kiosk_cli
from provisioning import cli as provision_cli
from provisioning import launcher

BIN = Path(sys.executable).parent


def script(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}: run `make venv`"
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, encoding="utf-8", timeout=60, check=False
    )


def test_pacs_help_lists_every_part_in_chinese_and_english() -> None:
    result = run(script("pacs"), "--help")
    assert result.returncode == 0, result.stderr
    for part in launcher.PARTS:
        lines = [line for line in result.stdout.splitlines() if line.split()[:1] == [part.name]]
        assert len(lines) == 1, f"{part.name}: {result.stdout}"
        assert part.zh in lines[0] and part.en in lines[0]
        assert lines[0].index(part.zh) < lines[0].index(part.en)


def test_pacs_without_a_part_or_with_an_unknown_one_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert launcher.main([]) == 2
    assert "pacs PART" in capsys.readouterr().err
    assert launcher.main(["nonsense"]) == 2
    err = capsys.readouterr().err
    assert "there is no part 'nonsense'" in err and "demo" in err


def test_pacs_demo_help_names_both_parts() -> None:
    result = run(script("pacs"), "demo", "--help")
    assert result.returncode == 0, result.stderr
    assert "pacs-hub demo" in result.stdout and "pacs-edge demo" in result.stdout
    assert "--images" in result.stdout


def test_pacs_hub_passes_arguments_and_exit_status_through() -> None:
    result = run(script("pacs"), "hub", "--anything")
    assert result.returncode == 2  # argparse: unknown option, no sub-command
    assert "usage: pacs-hub" in result.stderr


def test_pacs_hub_help_lists_its_commands() -> None:
    result = run(script("pacs"), "hub", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "db", "user", "device", "demo"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("main", "program"),
    [
        (kiosk_cli.main, "pacs-kiosk"),
        (provision_cli.main, "pacs-provision"),
    ],
)
def test_unreleased_parts_exit_2_with_one_sentence(
    main: Callable[[Sequence[str] | None], int],
    program: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{program}: ")
    assert "not part of this release yet" in captured.err
    assert captured.err.count("\n") == 1


def test_find_program_prefers_the_running_virtualenv() -> None:
    found = launcher.find_program("pacs-edge")
    assert found is not None and found.parent == BIN
    assert launcher.find_program("pacs-no-such-part") is None
