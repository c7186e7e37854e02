"""Run a program's ``main()`` with timers around chosen functions and/or under cProfile in
every thread (or the threads named), and write the figures when it returns — for
benchmarks that start the hub or the edge as subprocesses and want to know where their
time goes.

    python bench/profiled.py --out hub.prof hub.cli:main -- serve --port 8000
    python bench/profiled.py --out edge.prof --threads sync- --no-main \\
        edge_gateway.cli:main -- serve --hub-url …
    python bench/profiled.py --no-profile --timers-out t.json \\
        --timer hub.services.stow_store:read_meta hub.cli:main -- serve …
    python -m pstats hub.prof          # or bench.profiled.summary(path)

A timer (``module:function`` or ``module:Class.method``) replaces that attribute with a
wrapper adding up calls and wall seconds per thread of the caller; it costs about a
microsecond per call, so timed runs keep their speed. Patch the name where it is looked
up: ``hub.services.stow_store:fsync_path``, not where it is defined. Nested timers
overlap (a timer's seconds include those of the timers it calls). SIGUSR1 sets every
timer back to zero.

cProfile slows Python code down (roughly 1.5–2×), so profiled figures are for finding
where time goes, not for the tables. Threads are profiled from their start (a hook set
with ``threading.setprofile``); processes forked by the program are not written out.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import io
import json
import pstats
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any


class ThreadProfiles:
    """One ``cProfile.Profile`` per thread whose name starts with one of ``prefixes``
    (every thread when empty), started by a ``threading.setprofile`` hook."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes
        self.profiles: list[tuple[str, cProfile.Profile]] = []
        self._lock = threading.Lock()

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        sys.setprofile(None)
        name = threading.current_thread().name
        if self.prefixes and not name.startswith(self.prefixes):
            return
        profile = cProfile.Profile()
        with self._lock:
            self.profiles.append((name, profile))
        profile.enable()

    def install(self) -> None:
        threading.setprofile(self._hook)

    def uninstall(self) -> None:
        threading.setprofile(None)


class Timers:
    """Wall seconds and calls of the wrapped functions (thread-safe)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def install(self, spec: str) -> None:
        """Wrap ``module:name`` or ``module:Class.name``; ``SystemExit`` when missing."""
        module_name, _, path = spec.partition(":")
        owner: Any = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        original = getattr(owner, attr, None)
        if not callable(original):
            raise SystemExit(f"profiled.py: {spec} is not a function")
        self.seconds.setdefault(spec, 0.0)
        self.calls.setdefault(spec, 0)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                with self._lock:
                    self.seconds[spec] += elapsed
                    self.calls[spec] += 1

        setattr(owner, attr, timed)

    def reset(self) -> None:
        with self._lock:
            for key in self.seconds:
                self.seconds[key], self.calls[key] = 0.0, 0

    def to_json(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {k: {"seconds": self.seconds[k], "calls": self.calls[k]} for k in self.seconds}


def _target(spec: str) -> Callable[[], Any]:
    module, _, attr = spec.partition(":")
    func = getattr(importlib.import_module(module), attr or "main")
    if not callable(func):
        raise SystemExit(f"{spec} is not callable")
    return func  # type: ignore[no-any-return]


def summary(path: Path, limit: int = 30, sort: str = "cumulative") -> str:
    """The top ``limit`` functions of a stats file, as ``pstats`` prints them."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    return out.getvalue()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="where the merged cProfile stats go")
    p.add_argument("--no-profile", action="store_true", help="timers only, no cProfile")
    p.add_argument("--timer", action="append", default=[], help="module:function to time")
    p.add_argument("--timers-out", type=Path, help="where the timers go (JSON)")
    p.add_argument("--threads", default="", help="comma-separated thread-name prefixes")
    p.add_argument("--no-main", action="store_true", help="do not profile the main thread")
    p.add_argument("target", help="module:function to run, e.g. hub.cli:main")
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- then the program's arguments")
    args = p.parse_args()
    argv = args.args[1:] if args.args[:1] == ["--"] else args.args
    if not args.no_profile and args.out is None:
        p.error("--out is needed unless --no-profile")
    func = _target(args.target)
    timers = Timers()
    for spec in args.timer:
        timers.install(spec)
    prefixes = tuple(x for x in args.threads.split(",") if x)
    threads = ThreadProfiles(prefixes)
    if not args.no_profile:
        threads.install()
    main_profile = None if args.no_main or args.no_profile else cProfile.Profile()
    # SIGUSR1 starts the timers over (e.g. once a benchmark's warm-up phase is over)
    signal.signal(signal.SIGUSR1, lambda *_: timers.reset())
    sys.argv = [args.target, *argv]
    code: Any = 0
    try:
        if main_profile is not None:
            main_profile.enable()
        code = func()
    finally:
        if main_profile is not None:
            main_profile.disable()
        threads.uninstall()
        if args.timers_out is not None:
            args.timers_out.write_text(json.dumps(timers.to_json(), indent=2), encoding="utf-8")
        profiles = [prof for _, prof in threads.profiles]
        if main_profile is not None:
            profiles.append(main_profile)
        for prof in profiles:
            prof.create_stats()
        if profiles:
            merged = pstats.Stats(profiles[0])
            for prof in profiles[1:]:
                merged.add(prof)
            merged.dump_stats(str(args.out or "profile.prof"))
            names = sorted({name for name, _ in threads.profiles})
            print(f"profiled.py: {len(profiles)} thread(s) {names} → {args.out}", file=sys.stderr)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
