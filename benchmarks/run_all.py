"""Run every benchmark in one go and write benchmarks/RESULTS.md with the machine's description.

    python benchmarks/run_all.py
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine  # noqa: E402

SCRIPTS = [
    ("bp grad: start-up and formula size", "grad_speed.py"),
    ("bp grad's start-up against the commit before issue 13 grew the op table", "startup_history.py"),
    ("bp train: against the lecture's PyTorch loop and hand-written scripts", "train_speed.py"),
    ("The engine: against PyTorch, micrograd and SymPy", "engine_speed.py"),
    ("bp train mlp: a network against the same network in PyTorch", "mlp_speed.py"),
    ("Precision of the functions: largest relative error against mpmath at 50 digits", "precision.py"),
    ("The web face: bp view, the page in Chromium, bp serve", "web_speed.py"),
    ("Memory at the bounds: the largest inputs the Limits let through", "memory.py"),
]


def main() -> None:
    parts = [f"# Benchmark results\n\nMeasured {datetime.date.today().isoformat()} on {machine()}, "
             "all peers in the same run (`python benchmarks/run_all.py`).\n"]
    for title, script in SCRIPTS:
        out = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True)
        body = "\n".join(line for line in out.stdout.splitlines() if not line.startswith("machine:"))
        if out.returncode != 0:
            body += f"\n\n(failed: {out.stderr.strip()[-500:]})"
        parts.append(f"## {title}\n\n`python benchmarks/{script}`\n\n{body}\n")
        print(f"## {title}\n{body}\n", flush=True)
    parts.append(_design_figures())
    (HERE / "RESULTS.md").write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {HERE / 'RESULTS.md'}")


DESIGN = "## Design figures"


def _design_figures() -> str:
    """The hand-kept section of figures behind design choices, carried over from the last file."""
    try:
        text = (HERE / "RESULTS.md").read_text(encoding="utf-8")
    except OSError:
        return ""
    start = text.find(DESIGN)
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(DESIGN))
    return text[start:] if end < 0 else text[start:end + 1]


if __name__ == "__main__":
    main()
