"""bp check: a learner's derivation compared with bp's, as makemore's cmp() compares a manual
backward pass with PyTorch's: exact (every entry equal), approximate (allclose with
torch.allclose's tolerances) or wrong, with the largest difference.

A derivative written as a formula is compared at the given point and at seeded random points
(a number, an answer that reads no input, at the given point only). When it is wrong, a point
where it is wrong is kept, and the part that is off is looked for: the whole answer off by a
constant factor, or the first top-level term (of the sum the answer is) whose removal, sign
change or scaling by a constant makes it right at every point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.numeric import FLOAT
from bpcli.engine.ops import OPS, shape_text
from bpcli.errors import BPError, UsageError, setting
from bpcli.language.parser import parse
from bpcli.language.printer import ATOM, apply

RTOL, ATOL = 1e-5, 1e-8  # torch.allclose's defaults, which makemore's cmp() uses
POINTS = 20  # random points besides the given one
SPREAD = 2.0  # a random point's entries are uniform in [-SPREAD, SPREAD]
TRIES = 5  # candidates drawn per random point wanted (points outside the domain are skipped)
TERM_TEXT = 200  # characters of a term's text shown


@dataclass
class Verdict:
    """One answer compared with bp's."""

    what: str  # ∂/∂w, or a table entry: the adjoint of n3 (w), the local ∂n5/∂n3
    answer: str  # the learner's text: a formula or a number
    verdict: str = "exact"  # exact, approximate or wrong
    max_diff: float = 0.0  # the largest |yours − bp's| over every entry and point compared
    points: int = 0  # points compared
    wrong_at: dict | None = None  # {"point", "index", "yours", "bp"} at the first point where it is
    # wrong (index 0: the given point; a table's number: point None)
    culprit: dict | None = None  # {"kind", "term", "factor", "message"}: the part that is off
    problem: str | None = None  # why it is wrong without a number to compare (a shape)
    searched: bool = False  # the part that is off was looked for (a wrong formula reading inputs)

    @property
    def ok(self) -> bool:
        return self.verdict != "wrong"


@dataclass
class Report:
    formula: str
    point: dict
    seed: int
    checks: list[Verdict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # a table's entries bp has but the answers lack

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        found = {c.verdict for c in self.checks}
        return "wrong" if "wrong" in found else "approximate" if "approximate" in found else "exact"


# -- the points ------------------------------------------------------------------------
def random_points(point: dict, seed: int, wanted: int, usable) -> list[dict]:
    """Up to `wanted` points shaped as `point` (every input drawn uniformly in ±SPREAD) at
    which `usable(point)` holds (bp's derivative is finite there): seeded, so the same seed
    gives the same points."""
    import numpy as np  # deferred: numpy, for bp check only (the CLI imports this module to register bp check)

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(wanted * TRIES):
        if len(out) == wanted:
            break
        drawn = {n: _draw(rng, v) for n, v in point.items()}
        if usable(drawn):
            out.append(drawn)
    return out


def _draw(rng, v):
    import numpy as np  # deferred: as random_points says

    shape = np.shape(v)
    return float(rng.uniform(-SPREAD, SPREAD)) if not shape else rng.uniform(-SPREAD, SPREAD, size=shape)


def node_values(formula, point: dict) -> list:
    """Every node's value at the point: floats, or arrays where an input is one."""
    import numpy as np  # deferred: as random_points says

    values = {n: point[n] for n in formula.inputs}
    if formula.elementwise and all(np.ndim(v) == 0 for v in values.values()):
        return formula.forward({n: float(v) for n, v in values.items()}, FLOAT)
    from bpcli.engine import tensor  # deferred: the tensor pass, for tensor answers only

    return tensor.evaluate(formula, {n: np.asarray(v, dtype=np.float64) for n, v in values.items()}).values


def finite(v) -> bool:
    import numpy as np  # deferred: as random_points says

    return v is not None and bool(np.all(np.isfinite(np.asarray(v, dtype=np.float64))))


# -- comparing -------------------------------------------------------------------------
def compare(what: str, answer: str, reference, points: list[dict]) -> Verdict:
    """The learner's `answer` (formula text) against `reference(point)` (bp's number or array)
    at each point; an answer that reads no input, at the first point (the given one) only."""
    import numpy as np  # deferred: as random_points says

    learner = parse(answer)
    v = Verdict(what, answer.strip())
    if not learner.inputs:
        points = points[:1]
    rows = []  # (point, node values, yours, bp's) at each point compared
    for k, p in enumerate(points):
        missing = [n for n in learner.inputs if n not in p]
        if missing:
            raise UsageError(f"{what}: your answer reads {', '.join(missing)}, which is no input of the "
                             "formula", hint="write the derivative in the formula's own names")
        ref = np.asarray(reference(p), dtype=np.float64)
        try:
            vals = node_values(learner, p)
        except BPError as e:  # a shape the formula's inputs do not fit
            v.verdict, v.problem = "wrong", f"your answer cannot be computed at this point: {e}"
            v.wrong_at = {"point": p, "index": k, "yours": None, "bp": ref}
            return v
        yours = np.asarray(vals[learner.output], dtype=np.float64)
        if yours.shape != ref.shape:
            v.verdict = "wrong"
            v.problem = (f"your answer has shape {shape_text(yours.shape)}, bp's {what} has shape "
                         f"{shape_text(ref.shape)}")
            v.wrong_at = {"point": p, "index": k, "yours": yours, "bp": ref}
            return v
        rows.append((p, vals, yours, ref))
        v.points += 1
        diff = float(np.max(np.abs(yours - ref))) if yours.size else 0.0
        v.max_diff = diff if math.isnan(diff) else max(v.max_diff, diff)
        if not np.allclose(yours, ref, rtol=RTOL, atol=ATOL):
            v.verdict = "wrong"
            v.wrong_at = v.wrong_at or {"point": p, "index": k, "yours": yours, "bp": ref}
        elif v.verdict == "exact" and not np.array_equal(yours, ref):
            v.verdict = "approximate"
    if v.verdict == "wrong" and learner.inputs and v.problem is None:
        v.culprit, v.searched = localise(learner, rows), True
    return v


def compare_number(what: str, answer, ref) -> Verdict:
    """A number (or nested lists) from a table of answers against bp's, at the given point."""
    import numpy as np  # deferred: as random_points says

    v = Verdict(what, str(answer), points=1)
    try:
        yours = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{what}: an answer is a number, nested lists of numbers or a formula, "
                         f"not {answer!r}") from None
    ref = np.asarray(ref, dtype=np.float64)
    if yours.shape != ref.shape:
        v.verdict, v.problem = "wrong", f"your answer has shape {shape_text(yours.shape)}, bp's {shape_text(ref.shape)}"
        return v
    v.max_diff = float(np.max(np.abs(yours - ref))) if yours.size else 0.0
    if not np.allclose(yours, ref, rtol=RTOL, atol=ATOL):
        v.verdict, v.wrong_at = "wrong", {"point": None, "index": 0, "yours": yours, "bp": ref}
    elif not np.array_equal(yours, ref):
        v.verdict = "approximate"
    return v


# -- what is off -----------------------------------------------------------------------
def terms(formula) -> list[tuple[int, int]]:
    """The top-level terms of the formula as (sign, node), left to right: the output
    flattened through +, - and unary minus (no recursion)."""
    out, stack = [], [(formula.output, 1)]
    while stack:
        node, sign = stack.pop()
        kind, args = formula.kinds[node], formula.args[node]
        if kind == "add":
            stack += [(args[1], sign), (args[0], sign)]
        elif kind == "sub":
            stack += [(args[1], -sign), (args[0], sign)]
        elif kind == "neg":
            stack.append((args[0], -sign))
        else:
            out.append((sign, node))
    return out


def texts(formula) -> list[str]:
    """Each node's expression as bp source, inline, cut to TERM_TEXT characters."""
    shown: list[tuple[str, int]] = []
    for i, kind in enumerate(formula.kinds):
        if kind in (INPUT, CONST):
            t = formula.names[i]
            shown.append((t, 3 if t.startswith("-") else ATOM))
            continue
        body, prec = apply(OPS[kind], [shown[a] for a in formula.args[i]])
        shown.append((body if len(body) <= TERM_TEXT else body[:TERM_TEXT - 1] + "…", prec))
    return [t for t, _ in shown]


def localise(learner, rows: list) -> dict | None:
    """The part of the learner's formula that is off, if one change fixes every point: the
    whole answer times a constant, or one term removed, negated or scaled."""
    import numpy as np  # deferred: as random_points says

    if not rows:
        return None
    ref = np.concatenate([np.ravel(r[3]) for r in rows])
    yours = np.concatenate([np.ravel(r[2]) for r in rows])
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(yours))):
        return None
    c = _factor(yours, ref)
    parts = terms(learner)
    if c is not None and not _close(c, 1.0):
        return {"kind": "factor", "term": None, "factor": c,
                "message": f"your whole answer is off by a constant factor: bp's is {_nice(c)} times yours "
                           "at every point"}
    if len(parts) < 2:
        return None
    names = texts(learner)
    for sign, node in parts:
        term = sign * np.concatenate([np.ravel(np.broadcast_to(r[1][node], np.shape(r[2]))) for r in rows])
        c = _factor(term, ref - (yours - term))
        if c is None:
            continue
        shown = ("-" if sign < 0 else "+") + names[node]
        if _close(c, 0.0):
            kind, text = "remove", f"the term {shown} should not be there: without it your answer is right"
        elif _close(c, -1.0):
            flipped = ("+" if sign < 0 else "-") + names[node]
            kind, text = "sign", f"the term {shown} has the wrong sign: with {flipped} your answer is right"
        else:
            kind, text = "term factor", (f"the term {shown} is off by a factor: {_nice(c)} times it makes your "
                                         "answer right")
        return {"kind": kind, "term": shown, "factor": c, "message": text + " at every point"}
    return None


def _factor(part, target) -> float | None:
    """The constant c with c·part = target at every entry (allclose), by least squares; None
    when there is none (or part is 0 everywhere)."""
    import numpy as np  # deferred: as random_points says

    scale = float(np.dot(part, part))
    if scale == 0.0 or not math.isfinite(scale):
        return None
    c = float(np.dot(part, target)) / scale
    return c if math.isfinite(c) and np.allclose(c * part, target, rtol=RTOL, atol=ATOL) else None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def _nice(c: float) -> str:
    """A factor as people write it: 2, -1, 1/2, or the number."""
    q = Fraction(c).limit_denominator(12)
    if _close(float(q), c):
        return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"
    return f"{c:.6g}"


# -- whole checks ----------------------------------------------------------------------
def check_derivative(formula, point: dict, wrt: str, answer: str, seed: int = 0, points: int = POINTS) -> Report:
    """The learner's ∂output/∂wrt against bp's at the point and at `points` seeded random ones."""
    if wrt not in formula.inputs:
        raise UsageError(f"{setting('wrt', wrt)}: the formula has no input {wrt}; "
                         f"its inputs: {', '.join(formula.inputs)}")

    def reference(p):
        return formula.grad(p).gradient[wrt]

    report = Report(formula.text, point, seed)
    at = [point] + random_points(point, seed, points, lambda p: _usable(reference, p))
    report.checks.append(compare(f"∂/∂{wrt}", answer, reference, at))
    return report


def _everything(formula, p) -> list:
    """The value and every input's derivative at p (a point is usable where all are finite)."""
    r = formula.grad(p)
    return [r.value, *r.gradient.values()]


def _usable(reference, p) -> bool:
    try:
        return finite(reference(p))
    except BPError:
        return False


ANSWERS_SCHEMA = "bp.answers/1"


def check_table(formula, point: dict, answers: dict, seed: int = 0, points: int = POINTS) -> Report:
    """A table of answers (ANSWERS_SCHEMA): each node's adjoint and each edge's local derivative
    the learner filled in, against bp's; a formula entry at random points too."""
    import numpy as np  # deferred: as random_points says

    if not isinstance(answers, dict) or not ({"nodes", "edges"} & set(answers)):
        raise UsageError(f"{setting('table')}: the answers are a JSON object with \"nodes\" (id or name: adjoint) "
                         "and/or "
                         "\"edges\" (a list of {parent, child, slot, local})")
    if not formula.elementwise or any(np.ndim(v) for v in point.values()):
        raise UsageError(f"{setting('table')} checks a formula of numbers; for a tensor, check one gradient with "
                         f"{setting('wrt')}")
    report = Report(formula.text, point, seed)
    at = None  # the random points, drawn once for every formula entry

    def where(reference):
        nonlocal at
        if at is None:
            at = [point] + random_points(point, seed, points, lambda p: _usable(lambda q: _everything(formula, q), p))
        return at

    nodes = answers.get("nodes", {})
    if not isinstance(nodes, dict):
        raise UsageError(setting('table') + ': "nodes" is an object such as {"n3": 2.5, "w": "2*(x*w - y)*x"}')
    seen_nodes = set()
    for key, answer in nodes.items():
        i = _node(formula, key)
        seen_nodes.add(i)
        if not formula.differentiable[i]:
            raise UsageError(f"{setting('table')}: node {key} is a constant: it has no adjoint")
        what = f"adjoint of {_named(formula, i)}"

        def adjoint(p, i=i):
            return formula.grad(p).adjoint(i)
        report.checks.append(_entry(what, answer, adjoint, point, where))
    edges = answers.get("edges", [])
    if not isinstance(edges, list):
        raise UsageError(setting('table') + ': "edges" is a list such as [{"parent": "n4", "child": "n2", "local": 3}]')
    seen_edges = set()
    for e in edges:
        parent, child, slot = _edge(formula, e)
        seen_edges.add((parent, slot))
        what = f"local ∂{_named(formula, parent)}/∂{_named(formula, child)}" + (
            f" (operand {slot + 1})" if formula.args[parent].count(child) > 1 else "")

        def local(p, parent=parent, slot=slot):
            return formula.grad(p).local(parent)[slot]
        report.checks.append(_entry(what, e["local"], local, point, where))
    if nodes:
        report.missing += [_named(formula, i) for i in range(len(formula.kinds))
                           if formula.differentiable[i] and i not in seen_nodes]
    if edges:
        report.missing += [f"∂{_named(formula, p)}/∂{_named(formula, a)}" for p, args in enumerate(formula.args)
                           for s, a in enumerate(args) if formula.differentiable[a] and (p, s) not in seen_edges]
    if not report.checks:
        raise UsageError(f"{setting('table')}: the answers hold no entry")
    return report


def _entry(what: str, answer, reference, point: dict, where) -> Verdict:
    if isinstance(answer, str):
        return compare(what, answer, reference, where(reference))
    if isinstance(answer, bool) or answer is None:
        raise UsageError(f"{setting('table')}: {what}: an answer is a number, nested lists of numbers or a formula, "
                         f"not {answer!r}")
    return compare_number(what, answer, reference(point))


def _node(formula, key) -> int:
    """A node by its id in bp grad --json (n3), an input's name or a label."""
    if isinstance(key, str) and key[:1] == "n" and key[1:].isdigit() and int(key[1:]) < len(formula.kinds):
        return int(key[1:])
    if key in formula.inputs:
        return formula.inputs[key]
    labelled = [i for i, names in formula.labels.items() if key in names]
    if labelled:
        return labelled[-1]
    raise UsageError(f"{setting('table')}: {key!r} names no node: use a node's id (n0 … n{len(formula.kinds) - 1}, "
                     "as the JSON of a gradient numbers them), an input's name or a label")


def _edge(formula, e) -> tuple[int, int, int]:
    if not isinstance(e, dict) or not {"parent", "child", "local"} <= set(e):
        raise UsageError(f"{setting('table')}: an edge is {{\"parent\", \"child\", \"local\"}} (and \"slot\" where the "
                         f"child is used twice), not {e!r}")
    parent, child = _node(formula, e["parent"]), _node(formula, e["child"])
    slots = [s for s, a in enumerate(formula.args[parent]) if a == child]
    if not slots:
        raise UsageError(f"{setting('table')}: no edge from {e['parent']} to {e['child']}: {e['child']} is no "
                         f"operand of {e['parent']}")
    if "slot" in e:
        if e["slot"] not in slots:
            raise UsageError(f"{setting('table')}: {e['child']} is operand {', '.join(map(str, slots))} of "
                             f"{e['parent']}, "
                             f"not {e['slot']!r}")
        return parent, child, e["slot"]
    if len(slots) > 1:
        raise UsageError(f"{setting('table')}: {e['child']} is operands {' and '.join(map(str, slots))} of "
                         f"{e['parent']}: "
                         "say which with \"slot\"")
    return parent, child, slots[0]


def _named(formula, i: int) -> str:
    """n3, with its name where it has one: n3 (w)."""
    name = formula.names.get(i) if formula.kinds[i] == INPUT else next(iter(formula.labels.get(i) or []), None)
    return f"n{i} ({name})" if name else f"n{i}"
