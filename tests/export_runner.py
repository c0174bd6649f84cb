"""Run in a child process by test_export_injection.py: exported scripts, each in a directory of
its own as its working directory, in one Python (torch and jax are imported once). Prints a JSON
object: per script, its exit code (or the exception it raised), its output, and the files that
appeared in its directory.

    python export_runner.py SCRIPTS_DIR WORK_DIR
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path


def run(path: Path, work: Path) -> dict:
    work.mkdir()
    os.chdir(work)
    out = io.StringIO()
    code: object = None
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), {"__name__": "__main__"})
    except SystemExit as done:
        code = done.code
    except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
        code = f"{type(error).__name__}: {error}"
    return {"code": code, "stdout": out.getvalue(), "created": sorted(os.listdir(work))}


def main() -> None:
    scripts, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    done = {path.stem: run(path, work / path.stem) for path in sorted(scripts.glob("*.py"))}
    os.chdir(work)
    sys.__stdout__.write(json.dumps(done))


if __name__ == "__main__":
    main()
