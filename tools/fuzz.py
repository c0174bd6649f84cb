"""Fuzz bp's parser and engine for a while and report what was tried and what broke.

    python tools/fuzz.py [SECONDS]      # default 60

Inputs: random Unicode (control characters, NUL, astral planes), grammar-shaped noise,
byte-level mutations of valid formulas, and random valid programs evaluated at random
points. Anything other than a result or bp's own error is a crash, printed with its input;
so is any input on which the lean parse loop and Lark's own loop disagree.
"""

from __future__ import annotations

import math
import random
import sys
import time
import traceback

from bpcli import BPError, parse
from bpcli.ops import OPS

VALID = ["(x*w-y)^2", "y_hat = x*w; r = y_hat - y; loss = r^2", "max(x, 2) + sigmoid(-x)^2",
         "a = 𝜔 * x # weight\nb = a / 2\nb", "2^3^2 - -x**2 / (1e-3 + .5)", "relu(x) + abs(w) + sqrt(y)"]
PIECES = list("xyw()+-*/^,;=.e0123456789 \n\t#_") + ["exp", "max", "**", "1e999", "sigmoid(", "𝜔", "\x00",
                                                    "pi", "ln(", "min(", ")" * 3, "(" * 3]


def random_unicode(rng: random.Random) -> str:
    return "".join(chr(rng.choice([rng.randrange(0, 128), rng.randrange(0, 0x3000),
                                   rng.randrange(0x10000, 0x20000)])) for _ in range(rng.randrange(0, 40)))


def noise(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 40)))


def mutation(rng: random.Random) -> str:
    s = bytearray(rng.choice(VALID).encode())
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(s) + 1)
        op = rng.randrange(3)
        if op == 0 and s:
            del s[min(at, len(s) - 1)]
        elif op == 1:
            s[at:at] = bytes([rng.randrange(256)])
        elif s:
            s[min(at, len(s) - 1)] = rng.randrange(32, 127)
    return s.decode("utf-8", "replace")


def program(rng: random.Random) -> str:
    refs, lines = ["x", "w", "y"], []
    for k in range(rng.randrange(1, 12)):
        op = rng.choice(list(OPS.values()))
        args = [rng.choice(refs + ["2", "0.5", "1e308", "0"]) for _ in range(op.arity)]
        infix = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
        expr = (f"({args[0]}) {infix[op.name]} ({args[1]})" if op.name in infix else
                f"-({args[0]})" if op.name == "neg" else f"{op.name}({', '.join(args)})")
        lines.append(f"t{k} = {expr}")
        refs.append(f"t{k}")
    return "\n".join(lines)


def disagreement(text: str, f) -> str | None:
    """What Lark's own loop gives differently from the lean loop's graph `f` (None: same)."""
    try:
        g = parse(text, lean=False)
    except BPError as e:
        return f"Lark refuses what the lean loop parsed: {e}"
    mine, lark = ((h.kinds, h.args, h.consts, h.names, h.labels) for h in (f, g))
    return None if mine == lark else "the two loops built different graphs"


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    rng = random.Random(0)
    kinds = {"unicode": random_unicode, "noise": noise, "mutation": mutation, "program": program}
    tried = {k: 0 for k in kinds}
    parsed = refused = evaluated = 0
    crashes = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        kind = rng.choice(list(kinds))
        text = kinds[kind](rng)
        tried[kind] += 1
        try:
            f = parse(text)
            parsed += 1
            problem = disagreement(text, f)
            if problem:
                crashes.append((text, problem))
                continue
            point = {n: rng.choice([0.0, -1.0, 1e-300, 1e300, rng.uniform(-5, 5)]) for n in f.inputs}
            r = f.grad(point)
            assert isinstance(r.value, float)
            assert all(isinstance(g, float) for g in r.gradient.values())
            r.edges, r.notes  # noqa: B018 - build them: they must not fail either
            evaluated += 1
        except BPError:
            refused += 1
        except Exception:  # a crash: bp let something else escape
            crashes.append((text, traceback.format_exc(limit=3)))
    total = sum(tried.values())
    print(f"fuzzed {seconds:g} s: {total:,} inputs ({', '.join(f'{k} {v:,}' for k, v in tried.items())})")
    print(f"  parsed {parsed:,} (evaluated forward and backward: {evaluated:,}), refused with bp's error {refused:,}")
    print(f"  crashes: {len(crashes)}")
    for text, tb in crashes[:10]:
        print(repr(text)[:200])
        print(tb)
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
