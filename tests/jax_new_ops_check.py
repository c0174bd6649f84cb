"""Run in a child process by test_new_ops.py: every formula of new_ops_cases.CASES exported to
JAX and run here (JAX is multithreaded: kept out of the test process). Prints ok, or each
formula whose script did not say ok."""

from __future__ import annotations

import contextlib
import io

from new_ops_cases import CASES, point

from bpcli import parse
from bpcli.views.export import jax_script


def run(text: str) -> str:
    out = io.StringIO()
    code = None
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(text, "exported.py", "exec"), {"__name__": "__main__"})
        except SystemExit as done:
            code = done.code
    return f"{code}: {out.getvalue()}"


def main() -> None:
    bad = []
    for text, shapes, _ in CASES:
        values = point(shapes, 4)
        done = run(jax_script(parse(text).grad(values), values))
        if done != "0: ok\n":
            bad.append(f"{text}: {done}")
    print("\n".join(bad) if bad else "ok")


if __name__ == "__main__":
    main()
