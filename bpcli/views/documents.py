"""Results for programs: strict JSON (RFC 8259) documents, and the rows of many points at
once (JSON Lines, CSV)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from bpcli.engine.numtext import WRITABLE_BITS, count_text
from bpcli.engine.values import is_number
from bpcli.views import labels as view
from bpcli.views import settings
from bpcli.views.notes import grad_notes
from bpcli.views.numbers import count_json

SCHEMA = "bp.grad/2"


# -- numbers ------------------------------------------------------------------------
def json_number(v):
    """A float for strict JSON: finite numbers as numbers, others as "inf", "-inf", "nan"."""
    v = float(v)
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def json_value(v):
    """A number, or nested lists for an array, non-finite entries as "inf", "-inf", "nan"."""
    if is_number(v):
        return json_number(v)
    import numpy as np

    a = np.asarray(v, dtype=np.float64)
    if np.isfinite(a).all():
        return a.tolist()
    shown = a.astype(object)
    shown[np.isnan(a)] = "nan"
    shown[a == np.inf] = "inf"
    shown[a == -np.inf] = "-inf"
    return shown.tolist()


def dumps(doc) -> str:
    """Strict RFC 8259 JSON, for every document bp writes: non-finite numbers anywhere
    become "inf", "-inf" and "nan", integers too long for Python to write (4,300 digits) a
    count in scientific form; \\u escapes where the output cannot take Unicode."""
    ascii_only = settings.current().ascii
    try:
        return json.dumps(doc, ensure_ascii=ascii_only, allow_nan=False)
    except ValueError:  # a non-finite float or a huge integer somewhere: mend, then write
        return json.dumps(_jsonable(doc), ensure_ascii=ascii_only, allow_nan=False)


def _jsonable(doc):
    """The document with every number JSON cannot hold turned into text (in place, no recursion)."""
    root = [doc]
    stack = [(root, 0)]
    while stack:
        container, key = stack.pop()
        v = container[key]
        if isinstance(v, float) and not math.isfinite(v):
            container[key] = json_number(v)
        elif isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > WRITABLE_BITS:
            container[key] = count_text(v)
        elif isinstance(v, dict):
            stack.extend((v, k) for k in v)
        elif isinstance(v, (list, tuple)):
            v = container[key] = list(v)
            stack.extend((v, i) for i in range(len(v)))
    return root[0]


# -- many points at once ----------------------------------------------------------------
def jsonl_rows(names: list[str], columns: list[list[float]]) -> str:
    """One line of JSON per row, {"inputs": {name: v, …}, "value": v, "gradient": {name: g, …}},
    exactly as `dumps` writes it (repr for finite floats, "inf"/"-inf"/"nan" strings), from a
    template. `columns`: the inputs' (in the order of `names`), the value, the gradient's."""
    keys = ", ".join(f"{dumps(n).replace('%', '%%')}: %s" for n in names)
    template = '{"inputs": {' + keys + '}, "value": %s, "gradient": {' + keys + "}}\n"
    cells = [list(map(repr, c)) if all(map(math.isfinite, c)) else [dumps(json_number(v)) for v in c]
             for c in columns]
    return "".join(template % row for row in zip(*cells))


def csv_rows(names: list[str], columns: list[list[float]], header: bool) -> str:
    """<name>…,value,grad_<name>… rows (each point's inputs, then its value and gradient) from
    columns of floats (the header line first if asked): repr (shortest round-trip digits; inf,
    -inf and nan as Python writes them), called directly since it runs millions of times."""
    head = ",".join([*names, "value"] + [f"grad_{n}" for n in names]) + "\n" if header else ""
    return head + "".join(",".join(map(repr, row)) + "\n" for row in zip(*columns))


def csv_table(header: list[str], rows: list[list]) -> str:
    """CSV as the csv module quotes it (a cell with a comma, quote or line break in quotes):
    the one way bp writes cells that hold text (class labels)."""
    import csv  # deferred: only bp train --predict FILE writes such cells
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


# -- bp grad ------------------------------------------------------------------------
@dataclass
class Extras:
    """What bp grad computes beside the gradient when asked (None: not asked)."""

    explanations: list | None = None  # --explain: the paths of each input
    hessian: object = None  # --hessian: the checked second derivatives
    forward: object = None  # --forward: forward mode beside reverse mode
    jacobian: object = None  # --jacobian of a scalar output
    output_name: str = "out"  # what Jacobian tables call the output
    mistake: object = None  # --mistake: a wrong pass beside the right one (views.mistakes.Comparison)

    @property
    def ok(self) -> bool:
        """No extra disagrees with its reference."""
        return ((self.hessian is None or self.hessian.status != "mismatch")
                and (self.forward is None or self.forward.agrees))


def note_document(note) -> dict:
    return {"kind": note.kind, "node": note.node, "message": note.message, "suggestion": note.suggestion}


def grad_document(result, point: dict, check=None, notes: list | None = None, extras: Extras | None = None) -> dict:
    """bp.grad/2: every node has a shape ([] for a scalar); values, adjoints, contributions
    and gradients are numbers or nested lists; tensor edges carry their rule in words. With
    `extras`, a member per extra asked for (explain, hessian, forward_mode, jacobian)."""
    f = result.formula
    doc = {
        "schema": SCHEMA,
        "formula": f.text,
        "inputs": {name: json_value(point[name]) for name in f.inputs},
        "value": json_value(result.value),
        "gradient": {name: json_value(g) for name, g in result.gradient.items()},
        "nodes": [
            {"id": n.id, "op": n.op, "label": n.label, "operands": n.operands,
             "shape": list(n.shape), "value": json_value(n.value),
             "adjoint": None if n.adjoint is None else json_value(n.adjoint)}
            for n in view.nodes(result)
        ],
        "edges": [
            {"parent": e.parent, "child": e.child, "slot": e.slot,
             "local": None if e.local is None else json_number(e.local),
             "formula": view.edge_formula(f, int(e.parent[1:]), e.slot) if e.rule is None else e.rule,
             "rule": e.rule,
             "rule_name": e.rule_name,
             "accumulates": e.accumulates,
             "contribution": json_value(e.contribution)}
            for e in view.edges(result)
        ],
        "notes": [note_document(n) for n in (grad_notes(result, check=check) if notes is None else notes)],
        "check": None,
        "ok": True,
    }
    if check is not None:
        doc["check"] = check_document(check)
        doc["ok"] = check.ok
    return doc if extras is None else _with_extras(doc, result, extras)


def _with_extras(doc: dict, result, extras: Extras) -> dict:
    if extras.explanations is not None:
        doc["explain"] = explain_document(result, extras.explanations)
        if not result.is_tensor:
            doc["explain_locals"] = explain_locals_document(result, extras.explanations)
    if extras.hessian is not None:
        doc.update(hessian_document(extras.hessian))
        doc["ok"] = doc["ok"] and extras.hessian.status != "mismatch"
    if extras.forward is not None:
        doc["forward_mode"] = forward_document(extras.forward)
        doc["ok"] = doc["ok"] and extras.forward.agrees
    if extras.jacobian is not None:
        doc["jacobian"] = jacobian_document(extras.jacobian)
    if extras.mistake is not None:
        doc["mistake"] = extras.mistake.document()
    return doc


def check_document(check) -> dict:
    """Per input: backprop's numbers, SymPy's and the finite differences' beside them (nested
    lists for arrays, null where an entry was not sampled, and `finite_difference_sampled` then
    says how many were), the status."""
    return {
        c.name: {"backprop": json_value(c.backprop), "derivative": c.derivative,
                 "sympy": None if c.sympy is None else json_value(c.sympy),
                 "finite_difference": None if c.finite_difference is None else _sampled_json(c),
                 **_sampled_count(c),
                 "status": c.status, "ok": c.ok}
        for c in check.inputs
    }


def _sampled_json(c):
    """The finite differences as JSON: entries that were not sampled are null (not "nan")."""
    value = json_value(c.finite_difference)
    if c.sampled is None or c.sampled.all():
        return value
    import numpy as np

    cells = np.array(value, dtype=object)
    cells[~c.sampled] = None
    return cells.tolist()


def _sampled_count(c) -> dict:
    """`finite_difference_sampled`: how many of a tensor's entries the finite differences took,
    where not all (the rest are null)."""
    if c.sampled is None or c.sampled.all():
        return {}
    return {"finite_difference_sampled": {"entries": int(c.sampled.sum()), "of": int(c.sampled.size)}}


def explain_document(result, explanations) -> dict:
    """Per input: its paths (edges, factors, product) and the adjoint. For a tensor formula a
    path's factors are what each edge's vector-Jacobian product sends on (nested lists), and
    `rules` says each edge's product in words."""
    f = result.formula
    tensor = result.is_tensor

    return {
        e.name: {
            "total_paths": count_json(e.total_paths),
            "complete": e.complete,
            "paths": [{"edges": [{"parent": f"n{p}", "slot": s, "child": f"n{c}"} for p, s, c in path.edges],
                       "factors": [json_value(x) for x in path.factors],
                       "product": json_value(path.product),
                       **({"rules": [view.vjp_rule(f, p, s, result.broadcast_axes(p, s))
                                     for p, s, _ in path.edges]}
                          if tensor else {})} for path in e.paths],
            "adjoint": json_value(e.adjoint),
        }
        for e in explanations
    }


def explain_locals_document(result, explanations) -> dict:
    """Each local gradient on the paths --explain lists, its numbers filled in as Mazur writes
    them (∂net_o1/∂w5 = out_h1 = 0.593269992): the rule, the formula, the formula with the
    operands' values, the value; and how many more edges those paths hold."""
    from bpcli.views.explain import locals_on_paths  # deferred: the path walker, for --explain only

    found, more = locals_on_paths(result, explanations)
    return {"edges": [{"parent": f"n{k.parent}", "slot": k.slot, "child": f"n{k.child}", "rule_name": k.rule,
                       "formula": k.formula, "filled": k.filled, "local": json_number(k.value)} for k in found],
            "more": more}


def hessian_document(hessian) -> dict:
    """hessian, hessian_check (true, false, or null when not checked) and hessian_status
    (ok, convention, mismatch or null)."""
    return {"hessian": hessian.matrix,
            "hessian_check": None if hessian.status is None else hessian.status != "mismatch",
            "hessian_status": hessian.status}


def forward_document(fm) -> dict:
    """`forward_mode` in bp grad --json (for a tensor input: its shape, its passes, and the
    direction its tangents are along)."""
    inputs = {}
    for t in fm.inputs:
        doc = {"tangents": {f"n{i}": json_value(v) for i, v in enumerate(t.tangents)},
               "gradient": json_value(t.forward), "reverse": json_value(t.reverse), "agrees": t.agrees}
        if fm.tensors:
            doc.update(shape=list(t.shape), passes=t.passes, direction=list(t.direction))
        inputs[t.name] = doc
    return {
        "passes": {"forward": fm.forward_passes, "reverse": fm.outputs},
        "inputs": inputs,
        "agrees": fm.agrees,
        "summary": fm.summary,
    }


# -- Jacobian -----------------------------------------------------------------------
def jacobian_document(jac) -> dict:
    """The `jacobian` of --json: per input, nested lists of shape output_shape + input_shape."""
    return {n: json_value(a) for n, a in jac.matrices.items()}


def jacobian_full_document(f, point: dict, jac, check=None, notes: list = ()) -> dict:
    """`bp grad --jacobian --json` of a tensor output: the value and its shape, each input's
    shape and its Jacobian block, the check of every block and the notes."""
    doc = {"schema": SCHEMA, "formula": f.text,
           "inputs": {name: json_value(point[name]) for name in f.inputs},
           "value": json_value(jac.value), "shape": list(jac.output_shape),
           "input_shapes": {n: list(s) for n, s in jac.input_shapes.items()},
           "jacobian": jacobian_document(jac),
           "check": None if check is None else check_document(check),
           "notes": [note_document(n) for n in notes],
           "ok": True if check is None else check.ok}
    return doc
