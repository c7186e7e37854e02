"""The benchmarks see a timed process end when it ends, and kill one that overruns."""

from __future__ import annotations

import subprocess

from bench.peers import wait_exactly


def test_a_process_that_ends_in_time_is_waited_for() -> None:
    process = subprocess.Popen(["sh", "-c", "exit 3"])
    assert wait_exactly(process, 60)
    assert process.returncode == 3


def test_a_process_past_its_deadline_is_killed() -> None:
    process = subprocess.Popen(["sleep", "60"])
    assert not wait_exactly(process, 0.2)
    assert process.returncode == -9
