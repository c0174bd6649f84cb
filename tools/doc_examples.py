"""The console examples of README.md and docs/: cog runs each command and writes its real output.

A Markdown file holds blocks such as

    <!-- [[[cog console('bp grad "(x*w-y)^2" --x 2 --w 3 --y 4 --no-check') ]]] -->
    ```console
    $ bp grad "(x*w-y)^2" --x 2 --w 3 --y 4 --no-check
    (what bp printed)
    ```
    <!-- [[[end]]] -->

The comments are invisible on GitHub and in the MkDocs site. Regenerate every block after a change
of bp's output, and check that none is stale (tests/test_docs.py runs the check on each file):

    python tools/doc_examples.py            # cog -r: rewrite the blocks
    python tools/doc_examples.py --check    # cog --check: exit 5 when a block would change

(the same as `cog -r -I tools -p "from doc_examples import *" README.md docs/*.md`).

Each command runs in bash, in a fresh temporary directory where `examples/` is bp's examples
folder, with a fixed environment (80 columns, no colour, a dumb terminal, UTF-8), so the output
is the same on every machine and run. stdout and stderr are shown together, as a terminal shows
them. A command must exit with the code it declares (0 unless `sh(..., code=N)` says otherwise),
so an example that starts failing cannot slip into the docs as an error message.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROLOGUE = "from doc_examples import *"
# The environment every example runs in; the variables that would change bp's output are set.
FIXED = {
    "COLUMNS": "80",
    "LINES": "50",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as they are written
    "PYTHONHASHSEED": "0",
}
DROPPED = ("FORCE_COLOR", "CLICOLOR_FORCE", "PYTHONUTF8", "MPLCONFIGDIR", "OPENBLAS_NUM_THREADS")
TIMEOUT = 300  # seconds for one command


def documents() -> list[Path]:
    """README.md and every page of docs/, the files whose examples are generated."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in DROPPED}
    env.update(FIXED)
    # bp and python are the ones of the interpreter running cog (the project's virtualenv)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


@dataclass
class Command:
    """One shell command of an example: what to type, its exit code, which of its lines to show."""

    text: str
    code: int = 0
    keep: list[tuple[int | str | None, int | None]] = field(default_factory=list)


def sh(text: str, *, code: int = 0, keep: list[tuple[int | str | None, int | None]] | None = None) -> Command:
    """A command that exits with `code`; `keep` shows only those slices of its lines, `…` between.

    A slice is (start, stop) as in Python, or (text, count): the first line containing text and the lines after it,
    count in all.
    """
    return Command(text, code, keep or [])


def span(lines: list[str], start: int | str | None, stop: int | None) -> range:
    """The indices of a slice of lines; a text start is the first line containing it, and then stop counts lines."""
    if isinstance(start, str):
        first = next((i for i, line in enumerate(lines) if start in line), None)
        if first is None:
            raise RuntimeError(f"no line contains {start!r}")
        return range(first, min(first + (stop or 1), len(lines)))
    return range(len(lines))[start:stop]


def run(command: Command, cwd: str) -> str:
    done = subprocess.run(["bash", "-c", command.text], cwd=cwd, env=environment(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)
    output = done.stdout.decode("utf-8")
    if "]]]" in output or "[[[" in output:  # cog would take them for its own markers
        raise RuntimeError(f"{command.text!r} prints ]]] or [[[, which cog reads as a marker: show less of it")
    if done.returncode != command.code:
        raise RuntimeError(f"{command.text!r} exited with {done.returncode}, not {command.code}:\n{output}")
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if command.keep:
        indices = sorted({i for part in command.keep for i in span(lines, *part)})
        shown, previous = [], -1
        for i in indices:
            if i != previous + 1:
                shown.append("…")
            shown.append(lines[i])
            previous = i
        if previous != len(lines) - 1:
            shown.append("…")
        lines = shown
    return "\n".join(lines)


def fence(text: str, language: str) -> str:
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{language}\n{text}\n{ticks}"


def transcript(*commands: str | Command) -> str:
    """Run the commands one after another in one fresh directory: `$ command` and its output each."""
    parts = []
    with tempfile.TemporaryDirectory(prefix="bp-docs-") as cwd:
        os.symlink(ROOT / "examples", Path(cwd) / "examples")
        os.symlink(ROOT / "tools", Path(cwd) / "tools")  # python tools/digits_csv.py (docs/train.md)
        code = 0
        for item in commands:
            command = item if isinstance(item, Command) else Command(item)
            if command.text == "echo $?":  # each command runs in a shell of its own: say the last one's code
                output = str(code)
            else:
                output = run(command, cwd)
                code = command.code  # run() made sure it exited with it
            parts.append(f"$ {command.text}" + (f"\n{output}" if output else ""))
    return "\n".join(parts)


def console(*commands: str | Command) -> None:
    """Write a ```console block of the commands and what they print (from inside a cog block)."""
    import cog  # cog's own module, present while cog runs the block

    cog.outl(fence(transcript(*commands), "console"))


def terminal(text: str, answers: list[str]) -> None:
    """Write a ```console block of an interactive session: `text` runs in a pseudo-terminal and gets each
    answer when it asks (a prompt that ends in "= ", as bp quiz's), the answers echoed as a terminal does."""
    import cog
    import pexpect  # the test extra has it (bp quiz's own tests)

    with tempfile.TemporaryDirectory(prefix="bp-docs-") as cwd:
        os.symlink(ROOT / "examples", Path(cwd) / "examples")
        os.symlink(ROOT / "tools", Path(cwd) / "tools")  # python tools/digits_csv.py (docs/train.md)
        child = pexpect.spawn("bash", ["-c", text], cwd=cwd, env=environment(), encoding="utf-8",
                              dimensions=(50, 80), timeout=TIMEOUT)
        seen = io.StringIO()
        child.logfile_read = seen
        for answer in answers:
            child.expect(r"\[\d+\] [^\r\n]*= ")
            child.expect([pexpect.TIMEOUT], timeout=0.3)  # the whole prompt, before answering
            child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
    output = "\n".join(line.rstrip() for line in seen.getvalue().replace("\r\n", "\n").splitlines())
    cog.outl(fence(f"$ {text}\n{output}", "console"))


def python(source: str) -> None:
    """Write a ```python block of the source, then a ```text block of what running it prints."""
    import cog

    source = source.strip("\n")
    with tempfile.TemporaryDirectory(prefix="bp-docs-") as cwd:
        os.symlink(ROOT / "examples", Path(cwd) / "examples")
        os.symlink(ROOT / "tools", Path(cwd) / "tools")  # python tools/digits_csv.py (docs/train.md)
        output = run(Command(f"python - <<'EOF'\n{source}\nEOF"), cwd)
    cog.outl(fence(source, "python"))
    cog.outl(fence(output, "text"))


def main(argv: list[str]) -> int:
    from cogapp import Cog

    check = "--check" in argv
    files = [arg for arg in argv if arg != "--check"] or [str(path) for path in documents()]
    flags = ["--check", "--diff"] if check else ["-r"]
    return Cog().main(["cog", *flags, "-I", str(ROOT / "tools"), "-p", PROLOGUE, *files])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
