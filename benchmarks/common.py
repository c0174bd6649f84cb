"""Helpers for the benchmark scripts: timing and a printed table."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time


def best_of(fn, repeat: int = 3) -> float:
    """The fastest of `repeat` runs of fn(), in seconds (the least disturbed run)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def interleaved_best(runs: dict, rounds: int = 5, warm=()) -> dict[str, float]:
    """The fastest of `rounds` runs of each function, in seconds, the functions taking turns
    within each round: a slow spell of a shared machine then hits all of them alike, not
    just the one that happened to run during it. Each starts after a full garbage collection,
    so none pays for another's cycles (micrograd's graphs are full of them). The functions
    named in `warm` run once more, untimed, just before: their steady state is measured, the
    data they read already in the caches (as when a formula is evaluated at many points)."""
    import gc

    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            gc.collect()
            if name in warm:
                fn()
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def bp_runs(text: str, point: dict, tag: str) -> dict:
    """Parse, forward and backward of one formula, as functions for interleaved_best."""
    from bpcli import parse

    f = parse(text)
    vals = f.forward(point)
    return {f"{tag} parse": lambda: parse(text), f"{tag} forward": lambda: f.forward(point),
            f"{tag} backward": lambda: f.backward(vals)}


def steady(runs: dict) -> list[str]:
    """What is measured warm: every forward and backward pass, bp's and its peers'. Parsing
    is measured cold, as one run of `bp grad` meets it."""
    return [name for name in runs if not name.endswith(" parse")]


def alternated_medians(commands: list[list[str]], runs: int = 21) -> list[float]:
    """Median wall time of each command, the commands run in turn so drift hits all alike."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[i].append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def table(rows: list[tuple], headers: tuple) -> str:
    """A Markdown table (printable and pasteable into RESULTS.md)."""
    cells = [tuple(str(c) for c in headers)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# A fresh parent per run, so that the peak RSS reported is that one command's alone.
MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_timed(cmd: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one run of a command."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    elapsed, peak = out.stdout.split()
    return float(elapsed), int(peak)


def median_runs(*commands: list[str], repeat: int = 5) -> list[tuple[float, int]]:
    """The median (wall time, peak RSS) of each command, the commands taking turns so that a
    slow spell of the machine hits both sides of a ratio alike."""
    runs: list[list] = [[] for _ in commands]
    for _ in range(repeat):
        for i, cmd in enumerate(commands):
            runs[i].append(run_timed(cmd))
    return [sorted(r, key=lambda x: x[0])[len(r) // 2] for r in runs]


def compile_bytecode() -> None:
    """Compile bp's modules to bytecode first, as pip does when it installs a package (and
    Python on the first run): otherwise every run of an editable install with
    PYTHONDONTWRITEBYTECODE=1 (as on this machine) compiles bp from source, ~25 ms."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("bpcli")
    if spec and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)

