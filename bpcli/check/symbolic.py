"""Derivatives as formulas: reverse mode run on the graph itself, building new nodes.

Each edge's local partial comes from the op table's derivative in bp syntax, copied into
the graph with its operands; adjoints are sums of products of those nodes. The result is
a bp formula per input, which bp can evaluate, print, and differentiate again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from functools import cache

from bpcli.check import sympy_bridge as bridge
from bpcli.check.verify import SYMPY_ABS, SYMPY_REL, close
from bpcli.engine.graph import CONST, GraphBuilder
from bpcli.engine.numtext import count_text
from bpcli.engine.ops import OPS
from bpcli.errors import BPError, setting
from bpcli.language.parser import parse
from bpcli.language.printer import program

# Past this many terms as one expression a derivative is printed as bp's program with
# named intermediates: SymPy's one-expression form would be too long to read (or to make).
TIDY_TREE = 500
# A tidy form must agree with bp's own derivative at these values of every input.
SAMPLES = [0.0, 0.1, -0.1, 0.7, -0.7, 2.5, -2.5, 20.0, -20.0, 100.0, -100.0, 800.0, -800.0, 1000.0, -1000.0]
TIDY_REL, TIDY_ABS = 1e-7, 1e-9


@cache
def _template(op_name: str, slot: int, textbook: bool = False):
    op = OPS[op_name]
    return parse((op.shown_derivative if textbook else op.derivative)[slot])


def derivatives(formula, wrt: list[str] | None = None, textbook: bool = False) -> dict:
    """{input: Formula of ∂output/∂input}, for `wrt` (default: every input); a name the
    formula does not use has the derivative 0. `textbook`: built from the partials as people
    read them (b*a^(b - 1), not the masked form that computes right at a = 0), for printing;
    without it (Hessians, anything evaluated) from the partials bp computes with."""
    wrt = list(formula.inputs) if wrt is None else wrt
    wanted = formula.depends_on(set(wrt))
    g = GraphBuilder()
    ids = g.insert(formula, {})
    one = g.const(1.0)
    adj: dict[int, int] = {formula.output: one}
    for i in range(len(formula) - 1, -1, -1):
        kind = formula.kinds[i]
        if i not in adj or kind not in OPS:
            continue
        args = formula.args[i]
        env = dict(zip("abc", (ids[a] for a in args)))
        zero = OPS[kind].constant_partials
        for slot, a in enumerate(args):
            if not wanted[a] or (zero is not None and zero[slot] == 0):  # sign, step: no term
                continue
            local = g.insert(_template(kind, slot, textbook), env)[-1]
            term = local if adj[i] == one else adj[i] if local == one else g.apply("mul", (adj[i], local))
            adj[a] = term if a not in adj else g.apply("add", (adj[a], term))
    out = {}
    for name in wrt:
        node = adj.get(formula.inputs.get(name, -1))
        if node is None:
            node = g.const(0.0)
        out[name] = g.freeze(node, f"d({formula.text.strip()})/d{name}")
    return out


def textbook_notes(formula, wrt: list[str]) -> list[str]:
    """Where a textbook derivative of `derivatives(..., textbook=True)` differs from what bp
    computes: one note per operation of the formula that has one, on the way to `wrt`."""
    wanted = formula.depends_on(set(wrt))
    notes = {}
    for i, kind in enumerate(formula.kinds):
        op = OPS.get(kind)
        args = formula.args[i]
        if op is None or not op.textbook_note or not any(wanted[a] for a in args):
            continue
        consts = [formula.consts[a] if formula.kinds[a] == CONST else None for a in args]
        if kind not in notes and _forms_differ(kind, tuple(consts)):
            notes[kind] = (f"{op.show.format('a', 'b', 'c')} is differentiated as a textbook writes it "
                           f"({', '.join(op.textbook)}); {op.textbook_note}")
    return list(notes.values())


@cache
def _forms_differ(kind: str, consts: tuple) -> bool:
    """The textbook and the computed partials differ where every operand that is not a
    constant is 0 (the kinks the notes speak of): x^n, x^0 and sinc(x) do; x^3 does not."""
    point = {v: 0.0 if c is None else c for v, c in zip("abc", consts)}
    for slot in (s for s, c in enumerate(consts) if c is None):  # a constant is not differentiated
        shown, computed = (_template(kind, slot, t) for t in (True, False))
        t = shown.evaluate({n: point[n] for n in shown.inputs})
        c = computed.evaluate({n: point[n] for n in computed.inputs})
        if not (t == c or (math.isnan(t) and math.isnan(c))):
            return True
    return False


# -- Hessians --------------------------------------------------------------------------
MAX_HESSIAN = 1_000  # inputs: the matrix has their square of entries, each a backward pass


@dataclass
class Hessian:
    """Second derivatives at a point and how SymPy's compare: status is ok, convention
    (bp follows PyTorch at a kink), mismatch, or None when not checked."""

    matrix: dict[str, dict[str, float]]
    status: str | None = None
    notes: list[str] = field(default_factory=list)


def hessian(formula, point: dict[str, float]) -> dict[str, dict[str, float]]:
    """Second derivatives at a point: reverse mode over each differentiated graph."""
    return _hessian_and_kinks(formula, point)[0]


def _hessian_and_kinks(formula, point):
    """The matrix, and whether the formula or one of its derivatives is at a kink here that
    the second derivatives go through: a kink no gradient reaches (adjoint 0, as the masks in
    pow's derivative formulas, sign(abs(a) + abs(b)), whose partial is 0) cannot make them
    differ from SymPy's, so a disagreement there is real, never a convention."""
    rows, kink = {}, _at_kink(formula.grad(point))
    for name, d in derivatives(formula).items():
        local = {n: v for n, v in point.items() if n in d.inputs}
        result = d.grad(local) if d.inputs else None
        kink = kink or (result is not None and _at_kink(result, flowing=True))
        grad = result.gradient if result is not None else {}
        rows[name] = {col: float(grad.get(col, 0.0)) + 0.0 for col in formula.inputs}  # + 0.0: no -0.0
    return rows, kink


def _at_kink(result, flowing: bool = False) -> bool:
    """A node at its kink; with `flowing`, only one whose adjoint is not 0 (nan counts)."""
    return any(kind == "kink" and (not flowing or result.adjoints[i] != 0) for kind, i in result.hits)


def sympy_hessian(formula, point: dict[str, float]) -> dict[str, dict[str, float]]:
    """The same matrix from SymPy (in this process), for the cross-check."""
    sp, expr, symbols, subs = bridge.at_point(formula, point)
    return {r: {c: bridge.value_at(sp.diff(expr, symbols[r], symbols[c]), subs) for c in symbols}
            for r in symbols}


def checked_hessian(formula, point: dict[str, float], budget: float | None = 5.0) -> Hessian:
    """bp's Hessian, compared with SymPy's within the budget (None: not compared)."""
    ours, kink = _hessian_and_kinks(formula, point)
    if budget is None:
        return Hessian(ours)
    why = bridge.refusal(formula)
    if why is None:
        done, theirs = bridge.run(sympy_hessian, formula, point, seconds=budget)
        if done:
            return _compare(ours, theirs, kink)
        why = theirs
    return Hessian(ours, None, [f"Hessian not checked: {why}"])


def _compare(ours, theirs, kink: bool) -> Hessian:
    """Entries agree, or SymPy has no number for them (nan: no verdict), or bp is at a kink."""
    differ = [(r, c) for r in ours for c in ours[r]
              if not close(ours[r][c], theirs[r][c], SYMPY_REL, SYMPY_ABS) and not math.isnan(theirs[r][c])]
    undecided = [(r, c) for r in ours for c in ours[r]
                 if math.isnan(theirs[r][c]) and not math.isnan(ours[r][c])]
    notes = []
    if undecided:
        notes.append(f"Hessian: SymPy has no number for {len(undecided)} entr{'y' if len(undecided) == 1 else 'ies'} "
                     "(nan) here; bp's stand unchecked")
    if not differ:
        compared = sum(len(row) for row in ours.values()) - len(undecided)
        return Hessian(ours, "ok" if compared else None, notes)
    if kink:
        notes.append("the point is at a kink: where bp's Hessian and SymPy's differ, bp follows "
                     "PyTorch's convention (the second derivative of abs, relu, max, … taken as 0)")
        return Hessian(ours, "convention", notes)
    return Hessian(ours, "mismatch", notes)


# -- derivatives as text ------------------------------------------------------------------
@dataclass
class Printed:
    """A derivative in bp syntax (statements joined by "; ") and the same in LaTeX."""

    text: str
    latex: str | None
    note: str | None = None


def printed(d, simplify: bool = True, budget: float = 5.0, latex: bool = False) -> Printed:
    """SymPy's tidier form when it parses back to the same function and is no worse than
    bp's own anywhere bp tries it; else bp's own program, named intermediates and all."""
    note = None
    if simplify:
        tree = bridge.size(d).tree
        why = f"as one expression it would have {count_text(tree)} terms" if tree > TIDY_TREE else bridge.refusal(d)
        if why is None:
            for simplified in (True, False):
                done, answer = bridge.run(_tidy, d, simplified, latex, seconds=budget)
                if done and _faithful(answer[0], d):
                    return Printed(*answer)
        else:
            note = f"printed in bp's own form, named intermediates and all (not tidied by SymPy: {why})"
    lines, names = program(d)
    text = "; ".join(lines)
    tex = None
    if latex:
        done, tex = bridge.run(_program_latex, d, names, seconds=budget)
        if not done:
            raise BPError(f"cannot write this derivative as LaTeX: {tex}",
                          hint=f"bp diff without {setting('latex', True)}")
    return Printed(text, tex, note)


def formula_text(d, simplify: bool = True, budget: float = 5.0) -> str:
    """The derivative as bp source on one line."""
    return printed(d, simplify, budget).text


def _tidy(d, simplified: bool, latex: bool) -> tuple[str, str | None]:
    """SymPy's form of a derivative (simplified or as built), as bp text and LaTeX."""
    import sympy as sp

    expr = bridge.to_sympy(d, sp, named=True)[d.output]
    if simplified:
        expr = sp.simplify(expr)
    return bridge.to_bp_syntax(expr), sp.latex(expr) if latex else None


def _program_latex(d, names: dict[int, str]) -> str:
    """bp's program as LaTeX, line for line: the same statements as its text."""
    import sympy as sp

    with sp.evaluate(False):
        exprs = bridge.to_sympy(d, sp, named=True, symbols=names)
        lines = []
        for i, name in names.items():
            body = _apply(sp, d, i, exprs)
            lines.append(f"{sp.latex(sp.Symbol(name))} &= {sp.latex(body, mul_symbol='dot')}")
        out = d.output
        last = exprs[out] if out in names or not d.args[out] else _apply(sp, d, out, exprs)
        if out not in names:
            lines.append(f"&{sp.latex(last, mul_symbol='dot')}")
    if len(lines) == 1:
        return lines[0].split("&", 1)[-1].lstrip("= ").strip()
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _apply(sp, d, i: int, exprs: list):
    return bridge.node_expr(sp, d.kinds[i], [exprs[a] for a in d.args[i]], bridge.bp_functions(sp))


def _faithful(text: str, d) -> bool:
    """The text parses back, names only inputs of d, and agrees with d wherever d is finite
    at the sample points (so a tidy form is never worse than bp's own)."""
    try:
        candidate = parse(text)
    except BPError:
        return False
    if not set(candidate.inputs) <= set(d.inputs):
        return False  # SymPy's oo, zoo or nan read back as names
    for point in _samples(list(d.inputs)):
        ours = d.evaluate(point)
        if math.isfinite(ours) and not close(candidate.evaluate(point), ours, TIDY_REL, TIDY_ABS):
            return False
    return True


def _samples(names: list[str]) -> list[dict[str, float]]:
    """Every input at each sample value together, then seeded mixtures."""
    rng = random.Random(0)
    points = [dict.fromkeys(names, v) for v in SAMPLES]
    if len(names) > 1:
        points += [{n: rng.choice(SAMPLES) for n in names} for _ in range(40)]
    return points

