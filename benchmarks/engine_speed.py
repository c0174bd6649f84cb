"""bp's engine against PyTorch, micrograd and SymPy, all measured in this one run.

    python benchmarks/engine_speed.py         # prints a table of figures and ratios

Peers are optional benchmark extras, never dependencies of bp:
    pip install torch==2.13.0 micrograd
A peer that is not installed gets a row saying so.
Targets (issue: speed and scale): on a random DAG of about 100,000 scalar operations,
bp's forward + backward at most 1/3 of PyTorch's (0-dim float64 tensors), and parse +
forward + backward at most 1.5x PyTorch's forward + backward; 1,000,000 points of the card
formula at most 1.5x PyTorch's vectorised autograd; 10x the operations at most 12x the time
(PyTorch's own scaling on the same graphs beside it); the reverse pass at most 3x the forward
pass. Parse throughput is reported three ways: bp's lean loop over Lark's tables, Lark's own
loop building the same graph, and Lark alone building nothing, with its basic and its
contextual lexer.
"""

from __future__ import annotations

import gc
import math
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_of, bp_runs, compile_bytecode, interleaved_best, machine, steady, table  # noqa: E402
from workloads import compact_dag, random_dag, spec  # noqa: E402

OPS = 100_000


def torch_run(steps, point: dict):
    """PyTorch's forward + backward of the same graph (0-dim float64 tensors), or None."""
    try:
        import torch
    except ImportError:
        return None
    unary = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "sin": torch.sin}
    binary = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}

    def run():
        nodes = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point.values()]
        for op, a, b in steps:
            nodes.append(unary[op](nodes[a]) if b < 0 else binary[op](nodes[a], nodes[b]))
        nodes[-1].backward()
        return nodes

    return run


def lark_alone(text: str) -> dict[str, float]:
    """Lark's own parse of the text with nothing built (a transformer that returns None),
    by lexer: how far Lark goes before bp does any work."""
    from lark import Lark, Tree

    from bpcli.language.parser import grammar_text

    class Nothing:
        def __default__(self, data, children, meta):
            return Tree(data, children) if data.startswith("_") else None  # _x: Lark splices them

    times = {}
    gc.disable()  # as bp's parse does
    try:
        for lexer in ("basic", "contextual"):
            lark = Lark(grammar_text(), parser="lalr", lexer=lexer, transformer=Nothing())
            times[lexer] = best_of(lambda lark=lark: lark.parse(text), 1)
    finally:
        gc.enable()
    return times


def micrograd_run(steps, point: dict):
    """micrograd's Value class, extended as its README extends it with tanh, sigmoid and sin;
    its forward + backward as a function (to run in `deep_thread`), or None."""
    try:
        from micrograd.engine import Value
    except ImportError:
        return None

    def unary(fn, d):
        def apply(v):
            out = Value(fn(v.data), (v,), "f")

            def _backward():
                v.grad += d(v.data, out.data) * out.grad

            out._backward = _backward
            return out

        return apply

    ops = {
        "tanh": unary(math.tanh, lambda x, y: 1 - y * y),
        "sigmoid": unary(lambda x: 1 / (1 + math.exp(-x)), lambda x, y: y * (1 - y)),
        "sin": unary(math.sin, lambda x, y: math.cos(x)),
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    }

    def run():
        nodes = [Value(v) for v in point.values()]
        for op, a, b in steps:
            nodes.append(ops[op](nodes[a]) if b < 0 else ops[op](nodes[a], nodes[b]))
        nodes[-1].backward()

    return run


def deep_thread(fn, levels: int):
    """fn() in a thread with the stack and recursion limit for `levels` levels of recursion:
    micrograd's topological sort recurses once per level of the graph."""
    box = {}
    sys.setrecursionlimit(10 * levels + 1000)
    threading.stack_size(1 << 29)
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()))
    thread.start()
    thread.join()
    threading.stack_size(0)
    return box["result"]


def peer_runs(tag: str, ops: int) -> dict:
    """PyTorch's and micrograd's forward + backward of the DAG of `ops` operations."""
    steps = spec(ops)
    _, point = random_dag(ops)
    runs = {f"torch {tag}": torch_run(steps, point), f"micrograd {tag}": micrograd_run(steps, point)}
    return {name: run for name, run in runs.items() if run is not None}


def sympy_vs_bp(ops: int = 30) -> tuple[float, float]:
    """Gradient of a smaller graph: SymPy's diff for every input plus evaluation, against bp."""
    import sympy  # noqa: F401

    from bpcli import parse
    from bpcli.check.verify import sympy_derivatives

    text, point = random_dag(ops, inputs=5, seed=1)
    f = parse(text)
    point = {k: v for k, v in point.items() if k in f.inputs}
    t_sympy = best_of(lambda: sympy_derivatives(f, point), 1)
    t_bp = best_of(lambda: parse(text).grad(point), 3)
    return t_bp, t_sympy


def vectorised(n: int = 1_000_000) -> tuple[float, float | None]:
    import numpy as np

    from bpcli import parse
    from bpcli.engine.numeric import ArrayMath

    rng = np.random.default_rng(0)
    x, w, y = (rng.uniform(-2, 2, n) for _ in range(3))
    f = parse("(x*w-y)^2")
    many = ArrayMath("float64")  # arrays as a million points of the scalar formula
    t_bp = best_of(lambda: f.grad({"x": x, "w": w, "y": y}, many), 5)
    try:
        import torch
    except ImportError:
        return t_bp, None

    def run():
        tx, tw, ty = (torch.tensor(a, requires_grad=True) for a in (x, w, y))
        loss = (tx * tw - ty) ** 2
        loss.backward(torch.ones_like(loss))  # per-point gradients, as bp gives
        return tx.grad, tw.grad, ty.grad

    return t_bp, best_of(run, 5)


def main() -> None:
    compile_bytecode()
    rows = []
    text, point = random_dag(OPS)
    small_text, small_point = random_dag(OPS // 10)
    tiny_text, tiny_point = random_dag(OPS // 100)
    # bp at three sizes, PyTorch and micrograd at two take turns, round after round: ratios
    # from one round's conditions, not from two different minutes of a shared machine.
    runs = {**bp_runs(text, point, "big"), **bp_runs(small_text, small_point, "small"),
            **bp_runs(tiny_text, tiny_point, "tiny"), **peer_runs("big", OPS), **peer_runs("small", OPS // 10)}
    best = deep_thread(lambda: interleaved_best(runs, rounds=5, warm=steady(runs)), OPS)
    t_parse, t_fwd, t_bwd = best["big parse"], best["big forward"], best["big backward"]
    s_parse, s_fwd, s_bwd = best["small parse"], best["small forward"], best["small backward"]
    t_torch, t_mg = best.get("torch big"), best.get("micrograd big")
    mb = len(text.encode()) / 1e6
    rows.append((f"{OPS:,}-op DAG: bp parse", f"{t_parse:.3f} s", f"{mb:.2f} MB, {mb / t_parse:.2f} MB/s", "", ""))
    rows.append(("  bp forward / backward", f"{t_fwd * 1e3:.1f} / {t_bwd * 1e3:.1f} ms", "",
                 f"backward = {t_bwd / t_fwd:.2f}x forward", "<= 3x"))
    if t_torch is None:
        rows.append(("  PyTorch forward + backward", "not installed", "", "", ""))
    else:
        rows.append(("  vs PyTorch forward + backward", f"{(t_fwd + t_bwd) * 1e3:.0f} ms",
                     f"PyTorch {t_torch * 1e3:.0f} ms", f"{(t_fwd + t_bwd) / t_torch:.3f}x", "<= 0.333x"))
        total = t_parse + t_fwd + t_bwd
        rows.append(("  parse + forward + backward vs PyTorch", f"{total:.2f} s", f"PyTorch {t_torch:.2f} s",
                     f"{total / t_torch:.2f}x", "<= 1.5x"))
    from bpcli import parse

    t_lark = best_of(lambda: parse(text, lean=False), 1)
    rows.append(("  parse with Lark's own loop (reference)", f"{t_lark:.3f} s", f"{mb / t_lark:.2f} MB/s",
                 f"lean loop {t_lark / t_parse:.1f}x faster", ""))
    for lexer, t in lark_alone(text).items():
        rows.append((f"  Lark alone, {lexer} lexer, nothing built", f"{t:.3f} s", f"{mb / t:.2f} MB/s", "", ""))
    compact, _ = compact_dag(OPS)
    c_parse = best_of(lambda: parse(compact), 3)
    cmb = len(compact.encode()) / 1e6
    rows.append(("  the same DAG written compactly: parse", f"{c_parse:.3f} s",
                 f"{cmb:.2f} MB, {cmb / c_parse:.2f} MB/s",
                 "" if t_torch is None else f"{(c_parse + t_fwd + t_bwd) / t_torch:.2f}x PyTorch", "<= 1.5x"))
    rows.append(("  vs micrograd forward + backward", f"{(t_fwd + t_bwd) * 1e3:.0f} ms",
                 "not installed" if t_mg is None else f"micrograd {t_mg * 1e3:.0f} ms",
                 "" if t_mg is None else f"{(t_fwd + t_bwd) / t_mg:.3f}x", ""))
    rows.append(("scaling 10k -> 100k ops: parse", "", "", f"{t_parse / s_parse:.1f}x", "<= 12x"))
    # PyTorch's for reference (micrograd's swings 8-50x with when the garbage collector runs).
    peer = f"PyTorch {t_torch / best['torch small']:.1f}x" if t_torch else ""
    rows.append(("scaling 10k -> 100k ops: forward + backward", "", peer,
                 f"{(t_fwd + t_bwd) / (s_fwd + s_bwd):.1f}x", "<= 12x"))
    per_op = [(best[f"{tag} forward"] + best[f"{tag} backward"]) / (OPS // scale) * 1e9
              for tag, scale in (("tiny", 100), ("small", 10), ("big", 1))]
    rows.append(("  bp forward + backward per op: 1k / 10k / 100k ops",
                 " / ".join(f"{t:.0f}" for t in per_op) + " ns", "", "", ""))
    t_bp, t_sympy = sympy_vs_bp()
    rows.append(("30-op DAG gradient: bp parse + grad vs SymPy diff + eval", f"{t_bp * 1e3:.1f} ms",
                 f"SymPy {t_sympy:.2f} s", f"{t_sympy / t_bp:.0f}x faster", ""))
    t_vec, t_vec_torch = vectorised()
    rows.append(("1,000,000 points of (x*w-y)^2: f.grad with arrays", f"{t_vec * 1e3:.1f} ms",
                 "PyTorch not installed" if t_vec_torch is None else f"PyTorch {t_vec_torch * 1e3:.1f} ms",
                 "" if t_vec_torch is None else f"{t_vec / t_vec_torch:.2f}x", "<= 1.5x"))
    print(f"machine: {machine()}")
    print(table(rows, ("measure", "bp", "peer", "ratio", "target")))


if __name__ == "__main__":
    main()
