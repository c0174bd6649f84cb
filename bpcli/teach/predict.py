"""Predict, then reveal: bp quiz's blanks for the numbers the page shows step by step.

The page (bp view, bp serve) asks, before a step shows its number, what the learner thinks
it is. It grades the answer exactly as bp quiz does: this module computes, per step, the
answer, and the hint bp quiz's own `hint` gives for every number a likely mistake produces
(the value instead of the local gradient, the wrong sign, one path of a node used twice, a
local gradient not multiplied by its upstream adjoint, ...: the numbers around the node),
plus the hint for any other number. The page only compares the typed number with these, within quiz.TOLERANCE.
"""

from __future__ import annotations

import math

from bpcli.teach import quiz

MAX_NODES = 60  # larger graphs are no exercise (and cost: every blank × every trap): no predict mode


def _around(result, users: list[list[int]], node: int) -> list[float]:
    """The numbers a mistake at a node most likely produces: those of the node and its
    neighbours (values and adjoints of the node, its operands and its users; the local
    gradient and contribution of every edge into or out of it), and their negatives."""
    f = result.formula
    near = [node, *f.args[node], *users[node]]
    found = [result.values[i] for i in near] + [result.adjoints[i] for i in near if result.adjoints[i] is not None]
    for p in [node, *users[node]]:
        if f.args[p] and f.differentiable[p]:
            local = result.local(p)
            found += list(local) + [result.adjoints[p] * v for v in local]
    out, seen = [], set()
    for v in found + [-v for v in found]:
        v = float(v)
        if math.isfinite(v) and v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _question(ex, blank, traps: list[float]) -> dict:
    """A step's question: bp quiz's answer, its hint for each likely mistake that has its own
    (the page matches a typed number to these within quiz.TOLERANCE), and its hint otherwise."""
    otherwise = quiz.hint(ex, blank, math.nan)  # a number that is no known mistake
    found = []
    for v in traps:
        if quiz.is_right(v, blank.answer):
            continue
        said = quiz.hint(ex, blank, v)
        if said != otherwise:
            found.append([v, said])
    return {"id": blank.id, "ask": blank.prompt, "answer": blank.answer, "traps": found, "otherwise": otherwise}


def questions(result, doc: dict) -> tuple[dict | None, str | None]:
    """The page's questions, keyed by step ("node:n3" for a forward step, "edge:n6:0" for the
    backward step along operand 0 of n6), or None and the reason there are none."""
    f = result.formula
    if result.is_tensor:
        return None, "predict mode asks for numbers: this formula has tensors"
    if len(f) > MAX_NODES:
        return None, f"predict mode is for graphs of at most {MAX_NODES} nodes"
    if not f.inputs or not f.differentiable[f.output]:
        return None, "the formula depends on no input: there is nothing to predict"
    if any(not math.isfinite(float(v)) for v in result.values):
        return None, "a value is not finite: there is nothing to predict"
    blanks = quiz.candidates(result)
    ex = quiz.Exercise(f, result, {}, blanks, "")
    users: list[list[int]] = [[] for _ in range(len(f))]
    for p in range(len(f)):
        for c in f.args[p]:
            users[c].append(p)
    by_id = {(b.kind, b.node, b.slot): b for b in blanks}
    steps: dict[str, list] = {}
    for i in range(len(f)):
        b = by_id.get(("value", i, None))
        if b is not None:
            steps[f"node:n{i}"] = [_question(ex, b, _around(result, users, i))]
    last = {}  # the edge that completes each node's adjoint
    for k, e in enumerate(doc["edges"]):
        last[e["child"]] = k
    for k, e in enumerate(doc["edges"]):
        p, slot, c = int(e["parent"][1:]), e["slot"], int(e["child"][1:])
        ask = [by_id.get(("local", p, slot))]
        if last[e["child"]] == k:
            ask.append(by_id.get(("adjoint", c, None)))
        ask = [_question(ex, b, _around(result, users, c if b.kind == "adjoint" else p)) for b in ask if b is not None]
        if ask:
            steps[f"edge:{e['parent']}:{slot}"] = ask
    return {"tolerance": quiz.TOLERANCE, "steps": steps}, None


def embed(data: dict, result, doc: dict) -> dict:
    """The page's data (views.web.view_data) with predict mode's questions, or why there are none."""
    found, why_not = questions(result, doc)
    return {**data, **({"questions": found} if found else {"no_questions": why_not})}
