"""Cross-checks of a tensor gradient: SymPy elementwise (one expression per entry, within
the time budget) and central finite differences at a seeded sample of entries."""

from __future__ import annotations

import math

from bpcli.check import sympy_bridge as bridge
from bpcli.check.verdicts import (
    FD_ABS,
    FD_REL,
    FD_STEP,
    SYMPY_ABS,
    SYMPY_REL,
    Check,
    InputCheck,
    Steps,
)
from bpcli.engine.numeric import close
from bpcli.engine.ops import CONST, INPUT, OPS, index_key, site
from bpcli.engine.tensor import evaluate
from bpcli.engine.tensor import shapes as infer

FD_SAMPLE = 64  # entries perturbed per input, at most
SEED = 0
SYMPY_ENTRIES = 400  # entries of all inputs together past which SymPy is not tried


def sample(shape: tuple, seed: int = SEED) -> list[tuple]:
    """The entries finite differences perturb: all of them, or FD_SAMPLE chosen by a seeded
    generator (the same every run), in index order."""
    import numpy as np

    size = int(np.prod(shape)) if shape else 1
    flat = range(size) if size <= FD_SAMPLE else sorted(
        np.random.default_rng(seed).choice(size, FD_SAMPLE, replace=False).tolist())
    return [tuple(int(k) for k in np.unravel_index(j, shape)) if shape else () for j in flat]


def finite_differences(formula, point: dict, labels: list[str]) -> dict:
    """{input: (entries, central differences there)} for every input but class labels."""
    return {name: (entries, [float(c) for c in columns])
            for name, (entries, columns) in jacobian_differences(formula, point, labels).items()}


def entry_difference(formula, point: dict, name: str, at, scale: float = 1.0) -> float:
    """The central difference of the output in one entry of one input (step times `scale`)."""
    import numpy as np

    return float(_central(formula, point, name, np.array(point[name], dtype=np.float64), at, scale))


def _central(formula, point: dict, name: str, x, at, scale: float = 1.0):
    """The central difference of the whole output (an array) when entry `at` of input `name`
    (its values `x`) moves by a step of FD_STEP, relative past 1, times `scale`."""
    import numpy as np


    h = FD_STEP * max(1.0, abs(float(x[at]))) * scale
    up, down = x.copy(), x.copy()
    with np.errstate(all="ignore"):  # an inf entry (--allow-nonfinite): IEEE's nan, no warning
        up[at] += h
        down[at] -= h
        return (np.asarray(evaluate(formula, {**point, name: up}).value, dtype=np.float64)
                - np.asarray(evaluate(formula, {**point, name: down}).value, dtype=np.float64)) / (2 * h)


def _differences_alone(formula, point, name: str, g, entries, diffs) -> tuple:
    """Finite differences judging by themselves: each entry that misses backprop is taken again
    at 2h and h/2 (verify.Steps); (True | False | None for no verdict, a note or None)."""
    import numpy as np

    found = []
    for at, d in zip(entries, diffs):
        b = float(np.asarray(g)[at])
        if close(b, d, FD_REL, FD_ABS) or not math.isfinite(d):
            continue
        found.append(Steps(d, entry_difference(formula, point, name, at, 2.0),
                           entry_difference(formula, point, name, at, 0.5)).judge(b))
    if "holds" in found:
        return False, None
    if "moves" in found:
        return None, (f"∂/∂{name}: inconclusive: a finite difference moves with its step as much as it "
                      "misses backprop, too coarse to judge")
    if found:
        return True, f"∂/∂{name}: a finite difference is off by curvature; extrapolated to zero step it agrees"
    return True, None


def sympy_gradient(formula, point: dict, labels: list[str]) -> dict:
    """{input: array of SymPy's ∂output/∂entry at the point}: the formula built entry by entry
    (numpy arrays of SymPy expressions; no recursion), differentiated per entry."""
    import sympy as sp

    out, symbols, subs = _sympy_output(formula, point, labels)
    return {name: _derivatives(sp, out.reshape(()).item(), grid, subs) for name, grid in symbols.items()}


def sympy_jacobian(formula, point: dict, labels: list[str]) -> dict:
    """{input: SymPy's ∂output entry/∂input entry at the point, shape output + input}."""
    import numpy as np
    import sympy as sp

    out, symbols, subs = _sympy_output(formula, point, labels)
    result = {}
    for name, grid in symbols.items():
        block = np.empty(out.shape + grid.shape, dtype=np.float64)
        for o in np.ndindex(*out.shape):
            block[o] = _derivatives(sp, out[o], grid, subs)
        result[name] = block
    return result


def _derivatives(sp, expr, grid, subs: dict):
    """∂expr/∂s for each symbol s of the grid, at the point (nan where SymPy leaves a symbol)."""
    import numpy as np

    g = np.empty(grid.shape, dtype=np.float64)
    for at in np.ndindex(*grid.shape):
        d = sp.diff(expr, grid[at])
        g[at] = float(sp.N(d.subs(subs))) if d.free_symbols <= set(subs) else math.nan
    return g


def _sympy_output(formula, point: dict, labels: list[str]):
    """The output as an array of SymPy expressions in a symbol per input entry (class labels
    stay numbers), the symbols of each input, and their values at the point."""
    import numpy as np
    import sympy as sp


    node_shapes = infer(formula, {n: np.shape(point[n]) for n in formula.inputs})
    symbols, subs = {}, {}
    vals: list = []
    for i, kind in enumerate(formula.kinds):
        if kind == INPUT:
            name = formula.names[i]
            x = np.asarray(point[name], dtype=np.float64)
            if name in labels:
                vals.append(x)
                continue
            grid = np.empty(x.shape, dtype=object)
            for at in np.ndindex(*x.shape):
                s = sp.Symbol(f"{name}_{'_'.join(map(str, at))}", real=True)
                grid[at] = s
                subs[s] = float(x[at])
            symbols[name] = grid
            vals.append(grid)
        elif kind == CONST:
            vals.append(np.asarray(sp.Float(formula.consts[i]), dtype=object))
        else:
            vals.append(_sympy_node(formula, i, vals, node_shapes, sp, np))
    return np.asarray(vals[formula.output], dtype=object), symbols, subs


def _sympy_node(formula, i, vals, node_shapes, sp, np):
    op = OPS[formula.kinds[i]]
    xs = [vals[a] for a in formula.args[i]]
    if op.elementwise:
        return np.vectorize(lambda *e: op.sympy(sp, *e), otypes=[object])(*xs)
    name, params = op.name, formula.params.get(i, ())
    if op.sympy_tensor is not None:
        at = site(name, params, tuple(len(node_shapes[b]) for b in formula.args[i]))
        return np.asarray(op.sympy_tensor(sp, *(np.asarray(x, dtype=object) for x in xs), at), dtype=object)
    a = np.asarray(xs[0], dtype=object)
    if name == "matmul":
        return np.asarray(np.matmul(a, np.asarray(xs[1], dtype=object)), dtype=object)
    if name == "transpose":
        return np.swapaxes(a, -1, -2) if a.ndim >= 2 else a
    if name in ("softmax", "log_softmax"):
        lse = np.vectorize(sp.log, otypes=[object])(np.vectorize(sp.exp, otypes=[object])(a).sum(axis=-1))
        log_p = a - lse[..., None]
        return log_p if name == "log_softmax" else np.vectorize(sp.exp, otypes=[object])(log_p)
    if name == "index":
        return np.asarray(a[index_key(params)], dtype=object)
    if name == "take":
        return np.asarray(a[np.asarray(xs[1], dtype=np.float64).astype(np.int64)], dtype=object)
    raise NotImplementedError(name)


# sympy_work SymPy gets through in a second, measured: a formula with a curved function (tanh,
# sigmoid, log, …) repeats its argument in every derivative, about 500 a second (a one-layer MLP
# of 4: 2,600 steps in 5 s); a polynomial (sums of products, powers), about 10,000.
SYMPY_STEPS = 500
SYMPY_POLYNOMIAL_STEPS = 10_000
POLYNOMIAL = frozenset({"add", "sub", "mul", "neg", "pow", "square", "sum", "mean", "matmul", "transpose", "index",
                        "take", "prod", "var", "cumsum", "cumprod", "reshape", "flatten", "permute", "squeeze",
                        "unsqueeze", "cat", "stack", "pad", "flip", "tril", "triu", "conv1d", "conv2d",
                        "max_pool2d", "avg_pool2d", "mse_loss", "gather"})


def sympy_work(formula, point: dict, labels: list[str]) -> int:
    """An estimate of SymPy's work on the gradient: the entries differentiated times the size of
    the output written out entry by entry (SymPy differentiates the tree, a shared subexpression
    at every use). An MLP's output holds every weight once per path: one hidden layer of 4 makes
    2,600 steps (5 s of SymPy's), two layers of 16 make 2.5 million (hours)."""
    import numpy as np

    node_shapes = infer(formula, {n: np.shape(point[n]) for n in formula.inputs})
    size: list[float] = []
    for i, kind in enumerate(formula.kinds):
        args = [size[a] for a in formula.args[i]]
        if kind in (INPUT, CONST):
            size.append(1.0)
            continue
        op, params = OPS[kind], formula.params.get(i, ())
        first = node_shapes[formula.args[i][0]] if formula.args[i] else ()
        if op.elementwise or op.name in ("index", "take", "gather", "transpose"):
            size.append(1.0 + sum(args))
        elif op.name == "matmul":
            inner = first[-1] if first else 1
            size.append(inner * (args[0] + args[1] + 2))
        elif op.name in ("sum", "mean") and params and params[0] is not None:
            size.append((first[params[0]] if first else 1) * (args[0] + 1))
        else:  # a reduction over the whole input or its last axis (sum, softmax, …): every entry
            size.append(float(np.prod(first, dtype=np.float64)) * (args[0] + 1) * (3 if op.name != "sum" else 1))
    entries = sum(np.size(point[n]) for n in formula.inputs if n not in labels)
    return int(min(entries * size[formula.output], 1e18))


_WRITTEN_HERE = ("matmul", "transpose", "softmax", "log_softmax", "index", "take")  # _sympy_node's own


def without_sympy(formula) -> list[str]:
    """The formula's operations SymPy has no counterpart of (amax: PyTorch's split at a tie is
    no derivative), so the check judges by finite differences alone."""
    kinds = {k for k in formula.kinds if k in OPS and not OPS[k].elementwise}
    return sorted(k for k in kinds if OPS[k].sympy_tensor is None and k not in _WRITTEN_HERE)


def _ask_sympy(job, formula, point: dict, labels: list[str], size: tuple, budget: float, notes: list) -> dict:
    """SymPy's answer (job in its child process, within the budget), or {} with a note saying
    why there is none; `size` is (how many, the bound, what they are)."""
    count, bound, what = size
    missing = without_sympy(formula)
    if missing:
        notes.append(f"SymPy check skipped: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} "
                     "no SymPy counterpart; finite differences only")
        return {}
    if count > bound:
        notes.append(f"SymPy check skipped: {count:,} {what} (more than {bound:,}); finite differences only")
        return {}
    done, answer = bridge.run(job, formula, point, labels, seconds=budget)
    if not done:
        notes.append(f"SymPy check skipped: {answer}; finite differences only")
        return {}
    return answer


def _verdict(c: InputCheck, agrees: bool, fd_ok: bool, at_kink: bool, sampled: tuple, notes: list) -> None:
    """c's status from the comparisons (a disagreement at a kink is PyTorch's convention), and
    the notes they call for; `sampled` is (entries perturbed, entries of the input)."""
    if c.status != "skipped" and not agrees:
        c.status = "convention" if at_kink else "mismatch"
    elif c.status != "skipped" and not fd_ok:
        notes.append(f"∂/∂{c.name}: a finite difference is off (rounding or curvature); SymPy "
                     "agrees with backprop")
    if sampled[0] < sampled[1]:
        notes.append(f"∂/∂{c.name}: finite differences at {sampled[0]} of {sampled[1]} entries "
                     f"(seeded sample, seed {SEED})")


def check(formula, result, point: dict, budget: float = 5.0) -> Check:
    """Compare a tensor gradient with SymPy (entry by entry) and sampled finite differences."""
    import numpy as np

    labels = result.labels()
    notes = []
    fd = finite_differences(formula, point, labels)
    sizes = sum(np.size(point[n]) for n in formula.inputs if n not in labels)
    work = sympy_work(formula, point, labels) if sizes <= SYMPY_ENTRIES else 0
    rate = SYMPY_POLYNOMIAL_STEPS if set(formula.kinds) - {INPUT, CONST} <= POLYNOMIAL else SYMPY_STEPS
    if work > rate * budget:  # known to be beyond SymPy: no waiting out its budget
        notes.append(f"SymPy check skipped: entry by entry the gradient takes about {work:,} derivative steps, "
                     f"more than SymPy finishes in {budget:g} s (about {int(rate * budget):,}); "
                     "finite differences only")
        symbolic = {}
    else:
        symbolic = _ask_sympy(sympy_gradient, formula, point, labels, (sizes, SYMPY_ENTRIES, "entries"),
                              budget, notes)
    at_kink = any(kind == "kink" for kind, _ in result.hits)
    # An inf or nan among the inputs (--allow-nonfinite): SymPy's extended reals are not IEEE
    # arithmetic (1 + nan + oo is oo to it), so where both sides are not finite neither judges.
    ieee = not all(np.isfinite(point[n]).all() for n in formula.inputs if n not in labels)
    if ieee and symbolic:
        notes.append("entries where backprop and SymPy are both inf or nan are not compared: SymPy's "
                     "arithmetic with inf and nan is not IEEE's")
    checks = []
    for name, g in result.gradient.items():
        if name in labels:
            checks.append(InputCheck(name, g, status="skipped"))
            what = f"a class label (p[{name}])" if np.ndim(point[name]) == 0 else "an index (whole numbers)"
            notes.append(f"{name} is {what}: it gets no gradient")
            continue
        entries, diffs = fd[name]
        fd_array = np.full(np.shape(g), np.nan)
        for at, d in zip(entries, diffs):
            fd_array[at] = d
        c = InputCheck(name, g, finite_difference=fd_array, sampled=_taken(np.shape(g), entries))
        pairs = list(zip(entries, diffs))
        if ieee:  # beside an inf or nan a difference is mostly nan: it has nothing to say there
            pairs = [(at, d) for at, d in pairs if math.isfinite(d)]
            if len(pairs) < len(entries):
                notes.append(f"∂/∂{name}: no finite difference at {len(entries) - len(pairs)} of {len(entries)} "
                             "entries: the formula is not finite on both sides of them")
        # A nan difference has no number to judge with (the scalar check's "no finite difference").
        fd_ok = all(close(float(np.asarray(g)[at]), d, FD_REL, FD_ABS) for at, d in pairs if not math.isnan(d))
        if name in symbolic:
            c.sympy = symbolic[name]
            c.derivative = "elementwise"
            agrees, judged = _sympy_verdict(np, g, c.sympy, fd_array, fd_ok, ieee)
            if not judged:  # as the scalar check: neither reference has a number anywhere
                c.status = "skipped"
                notes.append(f"∂/∂{name}: no verdict: neither SymPy nor finite differences give a number "
                             "here, so bp's numbers there (PyTorch's rule) stand unchecked")
        else:
            agrees, note = _differences_alone(formula, point, name, g, entries, diffs)
            notes += [note] if note else []
            fd_ok = True  # judged just now: no note that SymPy agrees
            if agrees is None:
                c.status = "skipped"
        _verdict(c, agrees, fd_ok, at_kink, (len(entries), np.size(g)), notes)
        checks.append(c)
    if at_kink and any(c.status == "convention" for c in checks):
        notes.append("where bp and the check differ, bp follows PyTorch's convention at a kink (see notes)")
    return Check(checks, notes)


def _taken(shape: tuple, entries: list) -> object:
    """Which entries of an input of this shape the finite differences perturbed (a bool array)."""
    import numpy as np

    taken = np.zeros(shape, dtype=bool)
    for at in entries:
        taken[at] = True
    return taken


def _sympy_verdict(np, g, sympy, fd, fd_ok: bool, ieee: bool) -> tuple[bool, int]:
    """(backprop agrees, on how many entries a reference had a number to judge with). An entry
    SymPy has no number for (nan) is judged by its finite difference, or by all of them where
    it was not sampled; where the difference is nan too (not finite on both sides), no verdict."""
    sampled = ~np.isnan(fd)
    judged, agrees = 0, True
    for b, s, d, taken in zip(np.ravel(g).tolist(), np.ravel(sympy).tolist(), np.ravel(fd).tolist(),
                              np.ravel(sampled).tolist()):
        if close(b, s, SYMPY_REL, SYMPY_ABS) or (ieee and not (math.isfinite(b) or math.isfinite(s))):
            judged += 1
        elif not math.isnan(s):
            agrees = False
        elif taken:
            judged += 1
            agrees = agrees and close(b, d, FD_REL, FD_ABS)
        elif fd_ok and math.isfinite(b):
            judged += 1  # not sampled: the differences taken elsewhere all agree
    return agrees, judged


SYMPY_DERIVATIVES = 2_000  # Jacobian entries past which SymPy is not tried (one diff each)


def jacobian_differences(formula, point: dict, labels: list[str]) -> dict:
    """{input: (entries, columns)}: the central difference of the whole output when each
    sampled entry of the input moves (a column of the Jacobian per entry; every input but
    class labels)."""
    import numpy as np

    out = {}
    for name in formula.inputs:
        if name not in labels:
            x = np.array(point[name], dtype=np.float64)
            entries = sample(x.shape)
            out[name] = (entries, [_central(formula, point, name, x, at) for at in entries])
    return out


def _agree(np, block, reference, rel: float, abs_: float) -> tuple[bool, int]:
    """Whether backprop's block and a reference agree on every entry where both are finite
    numbers (a reference's nan: not computed there), and on how many entries that was."""
    both = np.isfinite(block) & np.isfinite(reference)
    pairs = zip(block[both].tolist(), np.asarray(reference)[both].tolist())
    return all(close(b, r, rel, abs_) for b, r in pairs), int(np.count_nonzero(both))


def check_jacobian(formula, jac, point: dict, budget: float = 5.0) -> Check:
    """Compare each Jacobian block with SymPy (entry by entry, within SYMPY_DERIVATIVES and
    the time budget) and finite differences (a column per sampled input entry)."""
    import numpy as np


    probe = evaluate(formula, point)
    labels = probe.labels()
    notes = []
    fd = jacobian_differences(formula, point, labels)
    count = sum(a.size for a in jac.matrices.values())
    symbolic = _ask_sympy(sympy_jacobian, formula, point, labels,
                          (count, SYMPY_DERIVATIVES, "Jacobian entries"), budget, notes)
    at_kink = any(kind == "kink" for kind, _ in probe.hits)
    checks = []
    for name, block in jac.matrices.items():
        entries, columns = fd[name]
        out_axes = tuple(slice(None) for _ in jac.output_shape)
        fd_block = np.full(block.shape, np.nan)
        for at, column in zip(entries, columns):
            fd_block[out_axes + at] = column
        taken = _taken(tuple(jac.input_shapes[name]), entries)
        c = InputCheck(name, block, finite_difference=fd_block,
                       sampled=np.broadcast_to(taken, block.shape).copy())
        fd_ok, compared = _agree(np, block, fd_block, FD_REL, FD_ABS)
        if name in symbolic:
            c.sympy, c.derivative = symbolic[name], "elementwise"
            agrees, by_sympy = _agree(np, block, c.sympy, SYMPY_REL, SYMPY_ABS)
            compared += by_sympy
        else:
            agrees = fd_ok
        odd = int(np.count_nonzero(~np.isfinite(block)))
        if odd:
            notes.append(f"∂/∂{name}: {odd} of {block.size} entries are not finite (inf or nan): "
                         "compared where they are")
        if not compared:
            c.status = "skipped"
        size = int(np.prod(jac.input_shapes[name], dtype=np.int64))
        _verdict(c, agrees, fd_ok, at_kink, (len(entries), size), notes)
        checks.append(c)
    if at_kink and any(c.status == "convention" for c in checks):
        notes.append("where bp and the check differ, bp follows PyTorch's convention at a kink")
    return Check(checks, notes)
