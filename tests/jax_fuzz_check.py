"""Run in a child process by test_tensor_fuzz.py: the seeded random tensor formulas of
test_tensor_fuzz.case that bp computes, exported to JAX and run here (JAX is multithreaded: kept
out of the test process). Prints ok, or each formula whose script did not exit 0. A script that
says "ok under JAX's convention at a kink" exits 0: the difference is JAX's, said aloud."""

from __future__ import annotations

import numpy as np
from jax_export_check import run  # an exported script's exit code and output
from test_tensor_fuzz import case

from bpcli import parse
from bpcli.errors import BPError
from bpcli.views.export import jax_script


def main(seeds: range) -> None:
    bad, ran = [], 0
    for seed in seeds:
        text, values = case(seed)
        if any(np.abs(v).max(initial=0) > 1e100 for v in values.values()):
            continue  # entries of 1e300: where the libraries' rules overflow apart (test_op_precision.py)
        try:
            result = parse(text).grad(values)
        except BPError:
            continue
        done = run(jax_script(result, values))
        ran += 1
        if not done.startswith("0: ok"):
            bad.append(f"{seed} {text}: {done}")
    print("\n".join(bad) if bad else f"ok ({ran} scripts)")


if __name__ == "__main__":
    main(range(200))  # no arguments: jax_export_check reads its own from sys.argv
