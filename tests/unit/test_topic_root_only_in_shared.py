"""The MQTT topic root is spelled once, in shared/mqtt/topics.py; everything else builds
topic names through shared.mqtt.topics. This test reads every Python file of the
repository (tests and benchmarks included) and names each file that spells the root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

ROOT_TEXT = "pacs" + "/" + "v1"  # built, so this file does not spell it
REPO = Path(__file__).resolve().parents[2]
THIS_FILE = Path(__file__).resolve()
SKIPPED_DIRS = {
    ".venv",
    "venv",
    ".git",
    "build",
    "dist",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".import_linter_cache",
}


def python_files(top: Path) -> Iterator[Path]:
    """Every *.py file under ``top``, not descending into virtualenvs, caches or builds."""
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith(".py"):
                yield Path(folder) / name


def spelling_files(top: Path) -> list[str]:
    return sorted(
        str(path.relative_to(REPO))
        for path in python_files(top)
        if path.resolve() != THIS_FILE
        and ROOT_TEXT in path.read_text(encoding="utf-8", errors="replace")
    )


def test_topic_root_is_spelled_only_in_shared() -> None:
    shared = REPO / "shared"
    offenders = [p for p in spelling_files(REPO) if not (REPO / p).is_relative_to(shared)]
    assert not offenders, (
        f"{ROOT_TEXT!r} is spelled in {offenders}; build topics with shared.mqtt.topics "
        "(e.g. QueueStateTopic(campus, room).topic, or TOPIC_ROOT) instead"
    )


def test_topic_root_is_spelled_once_in_shared() -> None:
    topics_module = REPO / "shared" / "mqtt" / "topics.py"
    assert spelling_files(REPO / "shared") == [str(topics_module.relative_to(REPO))]
    assert topics_module.read_text(encoding="utf-8").count(ROOT_TEXT) == 1


def test_the_walk_reaches_tests_and_skips_the_virtualenv() -> None:
    files = {path.resolve() for path in python_files(REPO)}
    assert THIS_FILE in files
    assert not any(".venv" in path.parts for path in files)
