"""Run in a child process by test_new_ops.py: every formula of new_ops_cases.CASES exported to
JAX and run here (JAX is multithreaded: kept out of the test process). Prints ok, or each
formula whose script did not say ok."""

from __future__ import annotations

from jax_export_check import run  # an exported script's exit code and output
from new_ops_cases import CASES, point

from bpcli import parse
from bpcli.views.export import jax_script


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
