"""The one place bp meets SymPy: graphs translated into SymPy expressions, SymPy's answers
turned back into floats and bp syntax, and SymPy's work run where it can be stopped.

SymPy only ever sees expressions built from bp's own graph (never user text). Its work
runs in a worker process (bpcli.check.workers; in bp serve, the worker of the request) with a deadline
and a memory limit, killed when either is hit:
SymPy can compute 3^(2^52) exactly while holding the GIL, which no thread budget and no
Ctrl-C can interrupt, and its simplifications can take gigabytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from bpcli.check import workers
from bpcli.engine.graph import CONST, INPUT, NAMED_CONSTANTS
from bpcli.engine.numtext import WRITABLE_BITS, count_text, number_text
from bpcli.engine.ops import OPS

# Past these, SymPy is not asked at all: its expressions are trees (a shared node is
# repeated wherever it is used), its printer and simplifier recurse, and exact powers
# of huge exponents never finish.
MAX_TREE = 10**5  # nodes of the formula written out as one expression
MAX_DEPTH = 400  # longest chain of operations from an input to the output
MAX_EXPONENT = 10**4  # |integer exponent| SymPy would expand exactly
MEMORY = workers.MEMORY  # bytes the child may add to what it inherits


@dataclass(frozen=True)
class Size:
    """How large a formula is as one expression (exact integers: they may be huge)."""

    tree: int  # nodes, a shared node counted at every use
    depth: int


def size(formula) -> Size:
    """The formula's size written out as a tree, counted along the tape (no recursion)."""
    tree = [1] * len(formula)
    depth = [0] * len(formula)
    for i, args in enumerate(formula.args):
        if args:
            tree[i] = 1 + sum(tree[a] for a in args)
            depth[i] = 1 + max(depth[a] for a in args)
    return Size(tree[formula.output], depth[formula.output])


def refusal(formula) -> str | None:
    """Why SymPy should not be asked about this formula, or None."""
    s = size(formula)
    if s.depth > MAX_DEPTH:
        return f"the formula is {s.depth:,} operations deep (SymPy takes at most {MAX_DEPTH})"
    if s.tree > MAX_TREE:
        return (f"written out as one expression the formula has {count_text(s.tree)} terms "
                f"(SymPy takes at most {MAX_TREE:,})")
    folded = None
    for i, kind in enumerate(formula.kinds):
        b = formula.args[i][1] if kind == "pow" else None
        if b is None or formula.differentiable[b]:
            continue
        if folded is None:  # constant exponents, as bp computes them (2*3 or 10^9 alike)
            folded = formula.forward({n: math.nan for n in formula.inputs})
        if abs(folded[b]) > MAX_EXPONENT:
            return (f"the exponent {number_text(folded[b])} is too large for SymPy's exact arithmetic "
                    f"(at most {MAX_EXPONENT:,})")
    return None


# -- running SymPy where it can be stopped ---------------------------------------------
def run(job, *args, seconds: float):
    """job(*args) where it can be stopped: (True, its result) or (False, why there is none).

    The job runs in a worker process (bpcli.check.workers) killed at the deadline, on Ctrl-C
    (which then reaches the caller) and when bp returns. Inside `bp serve` the worker is a
    warm one from the process's pool (see keep_warm); elsewhere it is forked for this job and
    ended after it. Already inside a worker (a computation of bp serve, itself killed at its
    request's deadline), the job runs there under a deadline of its own. The job is a
    module-level function; it, its arguments and its result travel by pipe, so they must
    pickle. Without fork (Windows) the job runs here, unbounded.
    """
    import multiprocessing

    import sympy  # noqa: F401 - imported once here, so every child starts with it

    if workers.inside():
        done, answer = workers.within(job, args, seconds)
        return done, answer if done else _why(answer, seconds)
    if "fork" not in multiprocessing.get_all_start_methods():
        done, answer, _ = workers.outcome(job, args)
        return done, answer if done else _why(answer, seconds)
    pool = _POOL
    worker = workers.Worker(MEMORY) if pool is None else pool.take(seconds)
    if worker is None:
        return False, f"SymPy was busy with other requests for {seconds:g} s"
    fit = False
    try:
        done, answer, fit = worker.ask(job, args, seconds)
        return done, answer if done else _why(answer, seconds)
    finally:
        if pool is None:
            worker.close()
        else:
            pool.give_back(worker, fit)


def _why(failure, seconds: float) -> str:
    """A worker's Failure said of SymPy."""
    return {workers.TIMEOUT: f"SymPy did not finish within {seconds:g} s",
            workers.CRASHED: "SymPy stopped without an answer (out of memory or crashed)",
            workers.MEMORY_ERROR: f"SymPy needed more than {MEMORY >> 30} GiB",
            workers.RECURSION: "the formula is too deep for SymPy",
            workers.FAILED: f"SymPy failed: {failure.detail}"}[failure.kind]


def _warm_up() -> None:
    """Differentiate, print and evaluate a small expression (not any user's): SymPy's first
    derivative in a process costs tens of milliseconds of its own lazy set-up and caches."""
    import sympy as sp

    a, b = sp.symbols("a b", real=True)
    expr = (a * b - 1) ** 2 + sp.sin(a) / sp.exp(b) + sp.log(1 + a**2)
    at = {a: sp.Float(0.5, 30), b: sp.Float(2, 30)}
    for s in (a, b):
        d = sp.diff(expr, s)
        to_bp_syntax(d)
        value_at(d, at)


def warm_up() -> None:
    """Ready this process for SymPy's jobs, so that workers forked from it start warm."""
    import sympy  # noqa: F401 - every worker forked after this starts with it

    _warm_up()


_POOL: workers.Pool | None = None


def keep_warm(size: int) -> None:
    """From now on, run SymPy's jobs in `size` warm workers kept by this process;
    without fork (Windows) jobs keep running in this process."""
    import multiprocessing

    global _POOL
    if _POOL is None and "fork" in multiprocessing.get_all_start_methods():
        _POOL = workers.Pool(size, warm_up, MEMORY)


def stop_warm() -> None:
    """Kill the warm workers; later jobs fork a child each again."""
    global _POOL
    pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()


# -- bp → SymPy --------------------------------------------------------------------------
def to_sympy(formula, sp, named: bool = False, symbols: dict | None = None) -> list:
    """The SymPy expression of every node, built along the tape (no recursion).

    `named`: sigmoid and softplus stay functions of their own (for tidy derivatives in
    bp's vocabulary) instead of their definitions in exp and log (for an independent check).
    `symbols`: nodes to stand as symbols (a program's named intermediates).
    A subgraph of constants reaches SymPy as the float bp computed for it: SymPy would
    compute 2^2^2^2^2^2 exactly, a number of 20,000 digits to the power 2.
    """
    functions = bp_functions(sp) if named else {}
    exprs: list = [None] * len(formula)
    folded = None
    for i, kind in enumerate(formula.kinds):
        if symbols and i in symbols:
            exprs[i] = sp.Symbol(symbols[i], real=True)
        elif kind == INPUT:
            exprs[i] = sp.Symbol(formula.names[i], real=True)
        elif kind == CONST:
            exprs[i] = _constant(sp, formula.names[i], formula.consts[i])
        elif not formula.differentiable[i]:
            if folded is None:
                folded = formula.forward({n: math.nan for n in formula.inputs})
            exprs[i] = _constant(sp, "", folded[i])
        else:
            exprs[i] = node_expr(sp, kind, [exprs[a] for a in formula.args[i]], functions)
    return exprs


def node_expr(sp, kind: str, operands: list, functions: dict):
    """One operation over SymPy operands: bp's own function where `functions` has one
    (bp_functions), else the op table's SymPy counterpart."""
    return functions[kind](*operands) if kind in functions else OPS[kind].sympy(sp, *operands)


def _constant(sp, text: str, value: float):
    if text in NAMED_CONSTANTS:
        return getattr(sp, NAMED_CONSTANTS[text][1])
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if math.isnan(value):
        return sp.nan
    if value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.Float(value)


_FUNCTIONS: dict = {}


def bp_functions(sp) -> dict:
    """sigmoid and softplus as SymPy functions that differentiate into each other."""
    if not _FUNCTIONS:
        class sigmoid(sp.Function):  # noqa: N801 - printed by its class name
            def fdiff(self, argindex=1):
                return sigmoid(self.args[0]) * (1 - sigmoid(self.args[0]))

            def _eval_evalf(self, prec):
                return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

        class softplus(sp.Function):  # noqa: N801
            def fdiff(self, argindex=1):
                return sigmoid(self.args[0])

            def _eval_evalf(self, prec):
                return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)

        _FUNCTIONS.update(sigmoid=sigmoid, softplus=softplus)
    return _FUNCTIONS


def at_point(formula, point: dict[str, float]):
    """SymPy, the output's expression, a symbol per input, and the point as substitutions.

    The point is given as 30-digit numbers (each the double's exact value): substituted
    with xreplace, SymPy evaluates as it rebuilds, far faster than evalf(subs=…).
    """
    import sympy as sp

    expr = to_sympy(formula, sp)[formula.output]
    symbols = {name: sp.Symbol(name, real=True) for name in formula.inputs}
    subs = {symbols[n]: sp.Float(v, 30) for n, v in point.items() if n in symbols}
    return sp, expr, symbols, subs


# -- SymPy → bp ----------------------------------------------------------------------------
def to_float(v) -> float:
    """A SymPy number as a float; anything not real (complex, zoo, nan) is nan."""
    try:
        c = complex(v)
    except (TypeError, ValueError):
        return math.nan
    if c.imag != 0:
        return math.nan
    return c.real


def value_at(d, subs) -> float:
    """A SymPy expression's value at the substituted point, nan where it has none."""
    try:
        return to_float(d.xreplace(subs).evalf(30))
    except (ArithmeticError, ValueError, TypeError):  # e.g. 1/(2*sqrt(x)) at x = 0
        return math.nan


def to_bp_syntax(expr) -> str:
    """A SymPy expression in bp's syntax (Abs → abs, Heaviside → step, E → e, …); floats
    with all 17 digits, integers past 4,300 digits in scientific form (which bp reads as
    too large: such a text is for people, and does not parse back); powers as ^, never **."""
    return _bp_printer()().doprint(expr).replace("**", "^")


@cache
def _bp_printer():
    """SymPy's str printer speaking bp's syntax: a class made once, on the first print."""
    from sympy.printing.str import StrPrinter

    class BpPrinter(StrPrinter):
        def _print_Abs(self, e):
            return f"abs({self._print(e.args[0])})"

        def _print_Heaviside(self, e):
            return f"step({self._print(e.args[0])})"

        def _print_sign(self, e):
            return f"sign({self._print(e.args[0])})"

        def _print_Exp1(self, e):
            return "e"

        def _print_Pi(self, e):
            return "pi"

        def _print_Float(self, e):
            return repr(float(e))

        def _print_Integer(self, e):
            n = int(e)
            return str(n) if n.bit_length() <= WRITABLE_BITS else "-" * (n < 0) + count_text(abs(n))

        def _print_Rational(self, e):
            return f"{self._print_Integer(e.p)}/{self._print_Integer(e.q)}"

        def _nested(self, name, args):
            text = self._print(args[-1])
            for a in reversed(args[:-1]):
                text = f"{name}({self._print(a)}, {text})"
            return text

        def _print_Max(self, e):
            return self._nested("max", e.args)

        def _print_Min(self, e):
            return self._nested("min", e.args)

    return BpPrinter
