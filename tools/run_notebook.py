"""Write examples/bp_in_jupyter.ipynb afresh and execute it, outputs kept (nbformat, nbclient,
ipykernel: the test extra). Run after a change to what a result displays:

    python tools/run_notebook.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "bp_in_jupyter.ipynb"

CELLS = [
    ("markdown", """# bp in Jupyter

A result of `bpcli.grad` (or of `parse(...).grad(...)`) shows itself: in a notebook as the page of
`bp view` (the graph stepping through the forward and backward passes, in a frame of its own:
press ▶ or → in it), and as the tables of `bp grad` in text. Nothing is cross-checked here: `bp grad`
in a terminal checks against SymPy."""),
    ("code", """from bpcli import grad, parse

r = grad("(x*w-y)^2", {"x": 2, "w": 3, "y": 4})
r"""),
    ("markdown", "The numbers themselves:"),
    ("code", "r.value, r.gradient"),
    ("markdown", "The tables as text (what a terminal or a plain-text output shows):"),
    ("code", "print(repr(r))"),
    ("markdown", "Compile a formula once and evaluate it at many points (here the lecture's loss, "
                 "as `w` moves towards 2):"),
    ("code", """f = parse("y_hat = x*w; loss = (y_hat - y)^2")
[(w, f.grad({"x": 1, "w": w, "y": 2}).gradient["w"]) for w in (0.5, 1.0, 1.5, 2.0)]"""),
    ("markdown", "A formula bp cannot read raises `ParseError`, which says where:"),
    ("code", """from bpcli import ParseError

try:
    parse("a = x\\nb = * a")
except ParseError as e:
    print(e)
    print(e.position.line, e.position.column)"""),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb.cells = [make[kind](source) for kind, source in CELLS]
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path = ROOT) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel started in `cwd` (the repository: bpcli imports from there)."""
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def main() -> None:
    nb = execute(build())
    nbformat.validate(nb)
    for cell in nb.cells:  # ids and timings made afresh each time would make every run a diff
        cell.pop("id", None)
        cell.metadata.pop("execution", None)
    nb.nbformat_minor = 4
    NOTEBOOK.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({NOTEBOOK.stat().st_size // 1000} kB)", file=sys.stderr)


if __name__ == "__main__":
    main()
