"""bp grad's start-up now against an earlier commit (by default the last one before issue 13
grew the op table from 21 rows to 62): each checked out in a temporary git worktree, byte-
compiled, and run in turn with the card formula (--no-check --json), beside the bare imports.

    python benchmarks/startup_history.py [COMMIT] [RUNS]

Figures are CPU time (user + system of the child), medians: on a shared machine wall time
mostly measures the other programs. Target (issue 13): within 10% of the earlier commit.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, table  # noqa: E402

BEFORE_THE_TABLE_GREW = "d594b7e"  # the parent of cab6f42, "Issue 13: 33 functions in the op table"
CARD = ["grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--json", "--no-check"]


def cpu_seconds(cmd: list[str], env: dict | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   cwd=tempfile.gettempdir())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(trees: dict[str, Path], runs: int) -> dict[str, float]:
    """CPU medians of the bare imports and of bp from each tree, taking turns run by run."""
    bare = [sys.executable, "-c", "import typer, rich.table, lark"]
    commands = {"bare imports (typer, rich.table, lark)": (bare, None)}
    for label, tree in trees.items():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "bpcli")], check=True)
        commands[label] = ([sys.executable, "-m", "bpcli", *CARD], {**os.environ, "PYTHONPATH": str(tree)})
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, (cmd, env) in commands.items():
            times[label].append(cpu_seconds(cmd, env))
    return {label: statistics.median(ts) for label, ts in times.items()}


def main() -> None:
    commit = sys.argv[1] if len(sys.argv) > 1 else BEFORE_THE_TABLE_GREW
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 41
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), commit], check=True)
        try:
            got = medians({f"bp at {commit}": old, "bp now": ROOT}, runs)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    bare, then, now = got.values()
    rows = [(label, f"{t * 1e3:.1f} ms", f"{t / bare:.2f}x", "") for label, t in got.items()]
    rows.append((f"bp now vs bp at {commit}", "", f"{now / then:.3f}x", "<= 1.10x"))
    print(f"machine: {machine()}")
    print(table(rows, ("start-up (bp grad card --no-check --json)", f"CPU time, median of {runs}", "ratio",
                       "target")))


if __name__ == "__main__":
    main()
