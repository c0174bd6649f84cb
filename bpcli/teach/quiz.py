"""bp quiz: exercises like the lecture's, with node values, local gradients and adjoints blanked.

An exercise is a formula at a point and a list of blanks, each with its answer from bp's
own passes. Generated exercises come from a seed (the same seed, the same exercise), use
small numbers so that every answer is a short decimal, and avoid kinks and domain errors.
Grading says, for a wrong answer, which mistake it looks like: a sign, a missed path where
a node is used twice, a local gradient not multiplied by the parent adjoint (the words of
docs/glossary.md).

The grading and the hints are pure functions any face can reuse (bp quiz, a page that asks
for a prediction and then reveals it):

- `is_right(given, truth) -> bool`: the verdict, within TOLERANCE (relative above 1).
- `hint_for(result, kind, node, given, slot=None) -> str`: what a wrong answer for the value,
  local gradient (of operand `slot`) or adjoint of `node` in a scalar result most likely got
  wrong. It names the rule that applies on the way back from the output to the node (a sum
  copies, a product swaps, a subtraction negates its right side, a reused node adds).
- `chain_terms(formula, node)` and `path_edges(formula, node)`: the chain rule's terms for a
  node's adjoint (one per use on a path from the output) and every edge on those paths.
- `rule_words(formula, parent, slot)`: the rule of one edge in words.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass, field

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.numtext import number_text
from bpcli.engine.ops import OPS, partial_display
from bpcli.engine.values import require_scalars
from bpcli.errors import InputValueError, UsageError, setting
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
        raise UsageError(f"{setting('level')} must be 1, 2 or 3, not {level}")
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
        raise UsageError(f"{setting('lecture')} must be 1 or 2, not {number}")
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
    """The grading: right within TOLERANCE (relative above 1); nan is right only for nan."""
    if math.isnan(answer):
        return math.isnan(given)
    return abs(given - answer) <= TOLERANCE * max(1.0, abs(answer))


def mark(ex: Exercise, blank: Blank, given: float) -> Mark:
    right = is_right(given, blank.answer)
    return Mark(blank, given, right, None if right else hint(ex, blank, given))


def hint(ex: Exercise, blank: Blank, given: float) -> str:
    """What the wrong answer to a blank most likely got wrong."""
    return hint_for(ex.result, blank.kind, blank.node, given, blank.slot)


def hint_for(result, kind: str, node: int, given: float, slot: int | None = None) -> str:
    """What a wrong answer most likely got wrong, for the number of `kind` (value, local,
    adjoint) at `node` (and operand `slot` of a local gradient) of a scalar `result`.
    Pure: it reads the result's formula, values, local gradients and adjoints only."""
    f = result.formula
    truth = _truth(result, kind, node, slot)
    if truth != 0 and is_right(given, -truth):
        if kind == "local":
            return f"check the sign: {_rule(f, node, slot)}, at the forward values"
        if kind == "adjoint":
            return _sign_hint(result, node)
        return f"check the sign: {ref(f, node)} = {_show(f, node)}"
    if kind == "value":
        return (f"{ref(f, node)} = {_show(f, node)}: compute it from its operands' "
                "values, in the forward pass")
    if kind == "local":
        return _local_hint(result, node, slot, given)
    return _adjoint_hint(result, node, given)


def _truth(result, kind: str, node: int, slot: int | None) -> float:
    if kind == "value":
        return result.values[node]
    if kind == "local":
        return result.local(node)[slot]
    return result.adjoints[node]


def _rule(f, i: int, slot: int) -> str:
    return edge_formula(f, i, slot)


def rule_words(f, parent: int, slot: int) -> str:
    """The rule that sends the adjoint of `parent` to its operand `slot`, in words."""
    name, args = OPS[f.kinds[parent]].name, f.args[parent]
    if name == "add":
        return "a sum copies the adjoint to each operand"
    if name == "sub":
        return ("a subtraction negates the adjoint for its right side" if slot == 1
                else "a subtraction copies the adjoint to its left side")
    if name == "neg":
        return "a negation negates the adjoint"
    if name == "mul":
        if args[0] == args[1]:
            return "a product of a node with itself: each factor's term is the other factor, so two terms"
        return "a product swaps: each factor gets the other factor times the adjoint"
    if name == "pow" and f.kinds[args[1]] == CONST and f.consts[args[1]] == 2 and slot == 0:
        return "a square doubles its operand: 2 times the operand times the adjoint"
    return "its local gradient times the adjoint"


def path_edges(f, node: int) -> list[tuple[int, int]]:
    """The edges (parent, slot) on some path from the output back to `node`, output first."""
    reaches = [False] * len(f)  # the node depends on `node` (nodes come after their operands)
    for i in range(len(f)):
        reaches[i] = i == node or any(reaches[a] for a in f.args[i])
    seen = [False] * len(f)
    seen[f.output] = True
    out = []
    for p in range(len(f) - 1, -1, -1):
        if not seen[p] or f.kinds[p] not in OPS or not f.differentiable[p]:
            continue
        for s, a in enumerate(f.args[p]):
            seen[a] = True
            if reaches[a] and f.differentiable[a]:
                out.append((p, s))
    return out


def chain_terms(f, node: int) -> list[tuple[int, int]]:
    """The chain rule's terms for the adjoint of `node`: one per use (parent, slot) on a
    path from the output. A node used twice adds two terms; none is `node` itself."""
    return [(p, s) for p, s in path_edges(f, node) if f.args[p][s] == node]


def _edge_text(result, p: int, s: int) -> str:
    """∂(r^2)/∂r = 2·r = -4 (a square doubles its operand, …; r = -2)."""
    f = result.formula
    local = partial_display(OPS[f.kinds[p]], s, [ref(f, a) for a in f.args[p]])
    tokens = set(re.findall(r"[^\W\d]\w*", local))
    at = [f"{ref(f, a)} = {number_text(result.values[a])}" for a in dict.fromkeys(f.args[p])
          if f.kinds[a] != CONST and ref(f, a) in tokens and ref(f, a) != local]
    value = number_text(result.local(p)[s])
    return (f"{_rule(f, p, s)}{'' if local == value else ' = ' + value} "
            f"({'; '.join([rule_words(f, p, s)] + at)})")


def _sign_hint(result, node: int) -> str:
    """Names the local gradients on the way back from the output to the node, and the negative ones."""
    f = result.formula
    edges = path_edges(f, node)
    negative = [(p, s) for p, s in edges if result.local(p)[s] < 0]
    way = f"on the way back from {ref(f, f.output)} to {ref(f, node)}"
    if not negative:
        return f"check the sign: every local gradient {way} is positive or zero, so no factor flips the sign"
    texts = list(dict.fromkeys(_edge_text(result, p, s) for p, s in negative))
    shown = "; ".join(texts[:3])
    more = f"; and {len(texts) - 3} more" if len(texts) > 3 else ""
    return f"check the sign: {way}, a negative local gradient flips the sign: {shown}{more}"


def _local_hint(result, i: int, slot: int, given: float) -> str:
    f = result.formula
    op = OPS[f.kinds[i]]
    rule = _rule(f, i, slot)
    if is_right(given, result.values[i]):
        return f"that is the value of {ref(f, i)}, not its local gradient: {rule}, at the forward values"
    if op.name == "mul" and is_right(given, result.values[f.args[i][slot]]):
        return f"the local gradient of a product with respect to one factor is the other factor: {rule}"
    return f"differentiate the node alone, its operands held fixed: {rule}, at the forward values"


def _adjoint_hint(result, node: int, given: float) -> str:
    f, r = result.formula, result
    terms = chain_terms(f, node)
    contributions = [r.adjoints[p] * r.local(p)[s] for p, s in terms]
    name = ref(f, node)
    if len(terms) > 1 and any(is_right(given, c) for c in contributions):
        return (f"{name} is used {len(terms)} times ({_uses(f, terms)}): a reused node adds: "
                "its adjoint adds the contributions of every path back from the output, one per use")
    if any(is_right(given, r.local(p)[s]) for p, s in terms):
        return (f"that is a local gradient alone: multiply it by the parent adjoint "
                f"(the adjoint of the node {name} feeds), as the chain rule does")
    out = ref(f, f.output)
    parts, rules = [], []
    for p, s in terms:
        local = partial_display(OPS[f.kinds[p]], s, [ref(f, a) for a in f.args[p]])
        parts.append(local if p == f.output else f"∂{out}/∂{ref(f, p)} · {_factor(local)}")
        words = f"{ref(f, p)} = {_show(f, p)}: {rule_words(f, p, s)}"
        rules += [words] if words not in rules else []
    reused = "; a reused node adds one term per use" if len(terms) > 1 else ""
    return (f"the chain rule: ∂{out}/∂{name} = {' + '.join(parts)} (the adjoint of each node {name} "
            f"feeds × its local gradient; {'; '.join(rules)}{reused})")


def _uses(f, terms: list[tuple[int, int]]) -> str:
    counts: dict[int, int] = {}
    for p, _ in terms:
        counts[p] = counts.get(p, 0) + 1
    return ", ".join(ref(f, p) + ("" if k == 1 else " twice" if k == 2 else f" {k} times")
                     for p, k in counts.items())


def _factor(text: str) -> str:
    return text if text.replace("·", "").replace("_", "").replace(".", "").isalnum() else f"({text})"


def read_answers(ex: Exercise, text: str, source: str) -> dict[str, float]:
    """The answers of a JSON document as --key writes it; refused if it is for another exercise."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputValueError(f"{source}: not JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("answers"), dict):
        raise InputValueError(f'{source}: expected {{"fingerprint": …, "answers": {{blank: number, …}}}}, '
                              "the answer key the quiz writes")
    if doc.get("fingerprint") != ex.fingerprint:
        raise InputValueError(f"{source}: these answers are for another exercise (fingerprint "
                              f"{doc.get('fingerprint')!r}, this one is {ex.fingerprint!r})",
                              hint=f"give the same {setting('seed')}, {setting('level')}, {setting('formula')} or "
                                   f"{setting('lecture')} as the exercise")
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
