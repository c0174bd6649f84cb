"""bp quiz: exercises like the lecture's, with node values, local gradients and adjoints blanked.

An exercise is a formula at a point and a list of blanks, each with its answer from bp's
own passes. Generated exercises come from a seed (the same seed, the same exercise), use
small numbers so that every answer is a short decimal, and avoid kinks and domain errors.
Grading says, for a wrong answer, which mistake it looks like: a sign, a missed path where
a node is used twice, a local gradient not multiplied by the upstream adjoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.numtext import number_text
from bpcli.engine.ops import OPS
from bpcli.engine.values import require_scalars
from bpcli.errors import InputValueError, UsageError
from bpcli.language.parser import parse
from bpcli.views.labels import edge_formula, notes, ref

SCHEMA, GRADE_SCHEMA = "bp.quiz/1", "bp.quiz-grade/1"
LEVELS = {1: "one path to each input: +, -, ·, a square",
          2: "a node used twice: its adjoint sums two paths",
          3: "functions: relu, abs, sqrt, division, powers, max"}
# Templates per level; the values are drawn per seed until every answer is a short decimal.
TEMPLATES = {
    1: ["y_hat = x*w; r = y_hat - y; loss = r^2",
        "z = x*w + b",
        "z = (x + w)*y",
        "z = x*w - y*b",
        "u = x*w; z = u - y; loss = z^2"],
    2: ["y_hat = x*w + b; r = y_hat - y; loss = r^2",
        "u = x*w; z = u*u + u",
        "z = (x + w)*(x - w)",
        "u = x + w; z = u*x",
        "u = x*w; z = u*y + u - x"],
    3: ["z = relu(x*w - b)*y",
        "u = x - w; z = abs(u)*u + x",
        "z = x/w + w^3",
        "z = max(x*w, y) - x",
        "z = sqrt(x*w) + x*y",
        "u = x*w; z = u^2/y + u"],
}
BLANKS = {1: 4, 2: 6, 3: 8}
LECTURE = {
    1: ("y_hat = x*w; r = y_hat - y; loss = r^2", {"x": 2.0, "y": 4.0, "w": 1.0},
        ["value:y_hat", "value:r", "value:loss", "adjoint:w"]),
    2: ("y_hat = x*w + b; r = y_hat - y; loss = r^2", {"x": 1.0, "y": 2.0, "w": 1.0, "b": 2.0},
        ["value:y_hat", "value:r", "value:loss", "adjoint:w", "adjoint:b"]),
}
TOLERANCE = 1e-6  # answers are short decimals; this forgives only a rounding of the last digit
DRAWS = 400  # value draws per template before the next template is tried


@dataclass
class Blank:
    """One number the student fills in."""

    id: str  # value:NODE, local:PARENT/CHILD (@slot if the child is used twice), adjoint:NODE
    kind: str  # value | local | adjoint
    node: int  # the node (value, adjoint) or the parent (local)
    slot: int | None  # the operand slot of a local gradient
    prompt: str
    answer: float


@dataclass
class Exercise:
    formula: object
    result: object
    point: dict
    blanks: list[Blank]
    title: str
    spec: dict = field(default_factory=dict)  # how it was made: seed and level, or the lecture

    @property
    def fingerprint(self) -> str:
        """Identifies the exercise: an answers file for another one is refused."""
        key = json.dumps([self.formula.text, {n: repr(v) for n, v in self.point.items()},
                          [b.id for b in self.blanks]])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def blank_of(self, kind: str, node: int, slot: int | None = None) -> Blank | None:
        for b in self.blanks:
            if (b.kind, b.node, b.slot) == (kind, node, slot):
                return b
        return None


# -- making exercises ------------------------------------------------------------------
def candidates(result) -> list[Blank]:
    """Every number a student could be asked for, in the order they would compute them:
    op nodes' values (forward), local gradients (from the output back), adjoints."""
    f = result.formula
    out = []
    for i, kind in enumerate(f.kinds):
        if kind in OPS:
            out.append(Blank(f"value:{ref(f, i)}", "value", i, None,
                             f"value of {ref(f, i)} = {_show(f, i)}", result.values[i]))
    for i in range(len(f) - 1, -1, -1):
        if f.kinds[i] not in OPS or not f.differentiable[i]:
            continue
        local = result.local(i)
        children = [a for a in f.args[i]]
        for slot, a in enumerate(children):
            if not f.differentiable[a]:
                continue
            suffix = f"@{slot}" if children.count(a) > 1 else ""
            refs = [ref(f, c) for c in children]
            out.append(Blank(f"local:{ref(f, i)}/{ref(f, a)}{suffix}", "local", i, slot,
                             f"local gradient ∂{ref(f, i)}/∂{ref(f, a)}{suffix} "
                             f"(∂({OPS[f.kinds[i]].show.format(*refs)})/∂{refs[slot]})", local[slot]))
    for i in range(len(f) - 1, -1, -1):
        if f.differentiable[i] and i != f.output:
            out.append(Blank(f"adjoint:{ref(f, i)}", "adjoint", i, None,
                             f"adjoint ∂{ref(f, f.output)}/∂{ref(f, i)}", result.adjoints[i]))
    return out


def _show(f, i: int) -> str:
    return OPS[f.kinds[i]].show.format(*(ref(f, a) for a in f.args[i]))


def build(formula, point: dict, ids: list[str] | None = None, count: int = 4, rng=None,
          title: str = "", spec: dict | None = None) -> Exercise:
    """The exercise of a formula at a point: the blanks named by `ids`, or `count` drawn
    with `rng` (always the gradient of at least one input among them)."""
    result = formula.grad(point)
    pool = candidates(result)
    if ids is not None:
        by_id = {b.id: b for b in pool}
        blanks = [by_id[i] for i in ids]
    else:
        blanks = _choose(pool, count, rng or random.Random(0), formula)
    order = {b.id: k for k, b in enumerate(pool)}
    blanks.sort(key=lambda b: order[b.id])
    return Exercise(formula, result, point, blanks, title or formula.text, spec or {})


def _choose(pool: list[Blank], count: int, rng, formula) -> list[Blank]:
    """The gradient of one input, the adjoint of a node used twice if there is one (the
    path a student misses), then blanks drawn from the rest."""
    inputs = set(formula.inputs.values())
    uses = [0] * len(formula)
    for args in formula.args:
        for a in args:
            uses[a] += 1
    gradients = [b for b in pool if b.kind == "adjoint" and b.node in inputs]
    shared = [b for b in pool if b.kind == "adjoint" and uses[b.node] > 1]
    first = [rng.choice(gradients)] if gradients else []
    if shared:
        pick = rng.choice(shared)
        first += [pick] if pick not in first else []
    rest = [b for b in pool if b not in first]
    return first + rng.sample(rest, min(len(rest), max(0, count - len(first))))


def short_decimal(v: float) -> bool:
    """At most three decimals and moderate size: a number a student writes down exactly."""
    return math.isfinite(v) and abs(v) < 1000 and abs(v * 1000 - round(v * 1000)) < 1e-9


def generate(level: int, seed: int) -> Exercise:
    """A fresh exercise at a level, the same for the same seed."""
    if level not in TEMPLATES:
        raise UsageError(f"--level must be 1, 2 or 3, not {level}")
    rng = random.Random(f"bp quiz {level} {seed}")
    templates = TEMPLATES[level][:]
    rng.shuffle(templates)
    numbers = [-3, -2, -1, 1, 2, 3, 4] if level < 3 else [-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2, 3, 4]
    for text in templates:
        f = parse(text)
        for _ in range(DRAWS):
            point = {n: float(rng.choice(numbers)) for n in f.inputs}
            result = f.grad(point)
            if result.hits:  # a kink or a domain error
                continue
            pool = candidates(result)
            if all(short_decimal(b.answer) for b in pool) and all(map(short_decimal, result.values)):
                return build(f, point, count=BLANKS[level], rng=rng, spec={"level": level, "seed": seed},
                             title=f"level {level} ({LEVELS[level]}), seed {seed}")
    raise AssertionError(f"no exercise found for level {level}, seed {seed}")  # the templates allow many


def lecture(number: int) -> Exercise:
    """The lecture's classroom exercises (课堂练习), with their known answers."""
    if number not in LECTURE:
        raise UsageError(f"--lecture must be 1 or 2, not {number}")
    text, point, ids = LECTURE[number]
    return build(parse(text), point, ids=ids, title=f"the lecture's exercise {number}",
                 spec={"lecture": number})


def custom(formula, point: dict, level: int, seed: int) -> Exercise:
    """An exercise on the student's own formula; refused at kinks and domain errors."""
    require_scalars(formula, point, "bp quiz")
    result = formula.grad(point)
    if result.hits:
        raise InputValueError("this point is no good for an exercise: " + "; ".join(map(str, notes(result))),
                              hint="choose values away from kinks and domain edges")
    if not formula.inputs or not formula.differentiable[formula.output]:
        raise InputValueError("the formula depends on no input: there is nothing to backpropagate")
    return build(formula, point, count=BLANKS.get(level, 4), rng=random.Random(f"bp quiz {seed}"),
                 spec={"level": level, "seed": seed}, title=f"{formula.text.strip()}, seed {seed}")


# -- grading -------------------------------------------------------------------------
@dataclass
class Mark:
    blank: Blank
    given: float
    correct: bool
    hint: str | None


def is_right(given: float, answer: float) -> bool:
    if math.isnan(answer):
        return math.isnan(given)
    return abs(given - answer) <= TOLERANCE * max(1.0, abs(answer))


def mark(ex: Exercise, blank: Blank, given: float) -> Mark:
    right = is_right(given, blank.answer)
    return Mark(blank, given, right, None if right else hint(ex, blank, given))


def hint(ex: Exercise, blank: Blank, given: float) -> str:
    """What the wrong answer most likely got wrong."""
    f = ex.formula
    if blank.answer != 0 and is_right(given, -blank.answer):
        if blank.kind == "local":
            return f"check the sign: {_rule(f, blank.node, blank.slot)}, at the forward values"
        if blank.kind == "adjoint":
            return ("check the sign: a subtraction sends -1 times the adjoint to its right operand, "
                    "and a negative local gradient flips the sign")
        return f"check the sign: {ref(f, blank.node)} = {_show(f, blank.node)}"
    if blank.kind == "value":
        return (f"{ref(f, blank.node)} = {_show(f, blank.node)}: compute it from its operands' "
                "values, in the forward pass")
    if blank.kind == "local":
        return _local_hint(ex, blank, given)
    return _adjoint_hint(ex, blank, given)


def _rule(f, i: int, slot: int) -> str:
    return edge_formula(f, i, slot)


def _local_hint(ex: Exercise, blank: Blank, given: float) -> str:
    f = ex.formula
    i, slot = blank.node, blank.slot
    op = OPS[f.kinds[i]]
    rule = _rule(f, i, slot)
    if is_right(given, ex.result.values[i]):
        return f"that is the value of {ref(f, i)}, not its local gradient: {rule}, at the forward values"
    if op.name == "mul" and is_right(given, ex.result.values[f.args[i][slot]]):
        return f"the local gradient of a product with respect to one factor is the other factor: {rule}"
    return f"differentiate the node alone, its operands held fixed: {rule}, at the forward values"


def _adjoint_hint(ex: Exercise, blank: Blank, given: float) -> str:
    f, r = ex.formula, ex.result
    node = blank.node
    # Every edge out of the node: (parent, slot, local, contribution).
    uses = [(p, s, loc, r.adjoints[p] * loc) for p in range(len(f)) if f.kinds[p] in OPS
            and f.differentiable[p] for s, (a, loc) in enumerate(zip(f.args[p], r.local(p))) if a == node]
    name = ref(f, node)
    if len(uses) > 1 and any(is_right(given, c) for _, _, _, c in uses):
        return (f"{name} is used {len(uses)} times ({', '.join(ref(f, p) for p, _, _, _ in uses)}): "
                "its adjoint adds the contributions of every path back from the output, one per use")
    if any(is_right(given, loc) for _, _, loc, _ in uses):
        return (f"that is a local gradient alone: multiply it by the upstream adjoint "
                f"(the adjoint of the node {name} feeds), as the chain rule does")
    out = ref(f, f.output)
    terms = " + ".join(f"∂{ref(f, p)}/∂{name}" if p == f.output else f"∂{out}/∂{ref(f, p)} · ∂{ref(f, p)}/∂{name}"
                       for p, _, _, _ in uses)
    return f"the chain rule: ∂{out}/∂{name} = {terms} (adjoint of each node {name} feeds × local gradient)"


def read_answers(ex: Exercise, text: str, source: str) -> dict[str, float]:
    """The answers of a JSON document as --key writes it; refused if it is for another exercise."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputValueError(f"{source}: not JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("answers"), dict):
        raise InputValueError(f'{source}: expected {{"fingerprint": …, "answers": {{blank: number, …}}}}, '
                              "as bp quiz --key prints it")
    if doc.get("fingerprint") != ex.fingerprint:
        raise InputValueError(f"{source}: these answers are for another exercise (fingerprint "
                              f"{doc.get('fingerprint')!r}, this one is {ex.fingerprint!r})",
                              hint="give the same --seed, --level, --formula or --lecture as the exercise")
    answers = doc["answers"]
    ids = [b.id for b in ex.blanks]
    problems = []
    missing = [i for i in ids if i not in answers]
    unknown = [k for k in answers if k not in ids]
    if missing:
        problems.append("no answer for " + ", ".join(missing))
    if unknown:
        problems.append("no blank named " + ", ".join(unknown))
    bad = [k for k, v in answers.items() if k in ids and (isinstance(v, bool) or not isinstance(v, (int, float)))]
    if bad:
        problems.append("not a number: " + ", ".join(f"{k} = {json.dumps(answers[k])}" for k in bad))
    if problems:
        raise InputValueError(f"{source}: " + "; ".join(problems))
    return {k: float(answers[k]) for k in ids}


def grade(ex: Exercise, answers: dict[str, float]) -> list[Mark]:
    return [mark(ex, b, answers[b.id]) for b in ex.blanks]


def parse_answer(text: str) -> float | None:
    """A typed answer: a number, a fraction such as -1/2, or None if it is neither."""
    text = text.strip().replace("−", "-")
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            return float(top) / float(bottom)
        v = float(text)
    except (ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) else None


# -- documents -------------------------------------------------------------------------
def key_document(ex: Exercise) -> dict:
    """The answer key, in exactly the format --answers reads."""
    return {"fingerprint": ex.fingerprint, "answers": {b.id: b.answer for b in ex.blanks}}


def exercise_document(ex: Exercise) -> dict:
    f, r = ex.formula, ex.result
    blank_ids = {(b.kind, b.node, b.slot): b.id for b in ex.blanks}
    nodes = []
    for i in range(len(f)):
        hidden = blank_ids.get(("value", i, None))
        adj = blank_ids.get(("adjoint", i, None))
        nodes.append({"id": f"n{i}", "name": ref(f, i), "operation": operation(f, i),
                      "value": None if hidden else r.values[i], "value_blank": hidden,
                      "adjoint_blank": adj})
    return {
        "schema": SCHEMA, "fingerprint": ex.fingerprint, "title": ex.title, **ex.spec,
        "formula": f.text, "values": ex.point, "output": ref(f, f.output), "nodes": nodes,
        "blanks": [{"id": b.id, "kind": b.kind, "prompt": b.prompt} for b in ex.blanks],
    }


def operation(f, i: int) -> str:
    """A node's operation as the exercise writes it: input, a constant's value, or the operation over its operands."""
    kind = f.kinds[i]
    if kind == INPUT:
        return "input"
    if kind == CONST:
        return f"constant {number_text(f.consts[i])}"
    return _show(f, i)


def grade_document(ex: Exercise, marks: list[Mark]) -> dict:
    return {"schema": GRADE_SCHEMA, "fingerprint": ex.fingerprint, "correct": sum(m.correct for m in marks),
            "total": len(marks),
            "blanks": [{"id": m.blank.id, "given": m.given, "correct": m.correct, "hint": m.hint}
                       for m in marks]}
