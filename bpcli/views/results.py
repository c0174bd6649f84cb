"""The tables of a result for people (bp grad): formula, forward, backward and gradient;
forward mode beside reverse mode; the chain rule path by path; the Hessian; the Jacobian."""

from __future__ import annotations

import itertools

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.ops import shape_text
from bpcli.errors import setting
from bpcli.views import labels as view
from bpcli.views.explain import LISTED_LOCALS, SHOWN_LOCALS, describe, local_text, locals_on_paths
from bpcli.views.numbers import show_number, show_sampled, show_value
from bpcli.views.tables import MARKS, add_row, shown, table, with_gap
from bpcli.views.text import plain


def grad_tables(result, check=None, limit: int | None = 200) -> list:
    """The four tables of `bp grad`: formula, forward, backward, gradient."""
    from rich.text import Text

    if result.is_tensor:
        return tensor_tables(result, check, limit)
    f = result.formula
    out = []
    summary = table("Formula", "formula", "value", "nodes", "edges")
    add_row(summary, f.text.strip(), show_number(result.value), str(len(f)),
            str(sum(len(a) for a in f.args)))
    out.append(summary)

    forward = table("Forward: a value per node (topological order)",
                    "node", "label", "operation", "value", "adjoint")
    for i in shown(forward, list(range(len(f))), limit):
        adjoint = result.adjoint(i)
        add_row(forward, f"n{i}", view.label(f, i), view.show(f, i), show_number(result.values[i]),
                "–" if adjoint is None else show_number(adjoint))
    out.append(forward)
    if not f.inputs:  # a constant: no edge carries a gradient, no input has one
        return out

    backward = table("Backward: a local gradient per edge, from the output back",
                     "edge", "local gradient", "local", "parent adjoint", "contribution")
    for e in with_gap(backward, *view.shown_edges(result, limit)):
        parent = int(e.parent[1:])
        rule = f"{view.edge_formula(f, parent, e.slot)}\n{view.rule_words(e)}"
        add_row(backward, f"{e.parent} ← {e.child}", rule,
                show_number(e.local), show_number(result.adjoints[parent]),
                show_number(e.contribution))
    out.append(backward)

    if check is None:
        gradient = table("Gradient", "input", "backprop")
        for name in shown(gradient, list(result.gradient), limit):
            add_row(gradient, name, show_number(result.gradient[name]))
    else:
        gradient = table("Gradient, cross-checked", "input", "backprop", "SymPy derivative",
                         "SymPy", "finite difference", "check")
        for c in shown(gradient, check.inputs, limit):
            mark = Text(plain(MARKS[c.status]), style="green" if c.ok else "bold red")
            add_row(gradient, c.name, show_number(c.backprop), c.derivative or "–",
                    "–" if c.sympy is None else show_number(c.sympy),
                    "–" if c.finite_difference is None else show_number(c.finite_difference), mark)
    out.append(gradient)
    return out


def tensor_tables(result, check=None, limit: int | None = 200) -> list:
    """The tables of `bp grad` over tensors: shapes beside values, VJP rules on edges."""
    from rich.text import Text

    f = result.formula
    summary = table("Formula", "formula", "value", "nodes", "edges")
    add_row(summary, f.text.strip(), show_value(result.value), str(len(f)), str(sum(len(a) for a in f.args)))

    forward = table("Forward: a value per node (topological order)",
                    "node", "operation", "shape", "value", "adjoint", numeric_columns=("shape",))
    for i in shown(forward, list(range(len(f))), limit):
        adjoint = result.adjoint(i)
        name = view.label(f, i)
        operation = view.show(f, i) if not name else (name if f.kinds[i] in (INPUT, CONST)
                                                      else f"{name} = {view.show(f, i)}")
        add_row(forward, f"n{i}", operation, shape_text(result.shapes[i]), show_value(result.values[i], 24),
                "–" if adjoint is None else show_value(adjoint, 24))

    backward = table("Backward: a vector-Jacobian product per edge, from the output back",
                     "edge", "rule", "parent adjoint", "contribution")
    for e in shown(backward, view.edges(result), limit):
        parent = int(e.parent[1:])
        add_row(backward, f"{e.parent} ← {e.child}", f"{e.rule}\n{view.rule_words(e)}",
                show_value(result.adjoints[parent], 20),
                show_value(e.contribution, 20))

    if check is None:
        gradient = table("Gradient", "input", "shape", "backprop", numeric_columns=("shape",))
        for name, g in result.gradient.items():
            add_row(gradient, name, shape_text(result.shapes[f.inputs[name]]), show_value(g))
    else:
        gradient = table("Gradient, cross-checked", "input", "shape", "backprop", "SymPy", "finite difference",
                         "check", numeric_columns=("shape",))
        for c in check.inputs:
            mark = Text(plain(MARKS[c.status]), style="green" if c.ok else "bold red")
            add_row(gradient, c.name, shape_text(result.shapes[f.inputs[c.name]]), show_value(c.backprop, 16),
                    "–" if c.sympy is None else show_value(c.sympy, 16),
                    "–" if c.finite_difference is None else show_sampled(c.finite_difference, c.sampled, 16), mark)
    for made in (forward, gradient):  # names and marks never give way to numbers
        made.columns[0].no_wrap = True
        made.columns[-1].no_wrap = made is gradient and check is not None
    return [summary, forward, backward, gradient]


# -- forward mode ---------------------------------------------------------------------
def forward_tables(result, fm, limit: int | None = 200) -> list:
    """Forward mode: each node's tangent per input, then both modes' gradients side by side."""
    from rich.text import Text

    if fm.tensors:
        return _tensor_forward_tables(result, fm, limit)
    f = result.formula
    heads = [f"∂·/∂{t.name}" for t in fm.inputs]
    tangents = table("Forward mode: tangent ∂node/∂input", "node", "label", *heads, numeric_columns=heads)
    for i in shown(tangents, list(range(len(f))), limit):
        add_row(tangents, f"n{i}", view.label(f, i) or view.show(f, i),
                *(show_number(t.tangents[i]) for t in fm.inputs))
    both = table("Forward mode vs reverse mode", "input", "forward mode", "reverse mode", "agree",
                 numeric_columns=("forward mode", "reverse mode"))
    for t in fm.inputs:
        add_row(both, t.name, show_number(t.forward), show_number(t.reverse), _agree_mark(t.agrees))
    return [tangents, both, Text(plain(fm.summary))]


def _agree_mark(agrees: bool):
    from rich.text import Text

    return Text(plain("✓" if agrees else "✗"), style="green" if agrees else "bold red")


def _tensor_forward_tables(result, fm, limit) -> list:
    """Per input, its first pass (seeded at its first entry): every node's tangent; then
    each input's gradient assembled from its passes beside reverse mode's."""
    from rich.text import Text

    f = result.formula
    out = []
    for t in fm.inputs:
        at = f"{t.name}[{', '.join(map(str, t.direction))}]" if t.direction else t.name
        tangents = table(f"Forward mode along {at} (pass 1 of {t.passes:,} for {t.name})",
                         "node", "label", "shape", f"∂·/∂{at}", numeric_columns=("shape", f"∂·/∂{at}"))
        for i in shown(tangents, list(range(len(f))), limit):
            add_row(tangents, f"n{i}", view.label(f, i) or view.show(f, i), shape_text(result.shapes[i]),
                    show_value(t.tangents[i], 28))
        out.append(tangents)
    both = table("Forward mode vs reverse mode", "input", "passes", "forward mode", "reverse mode", "agree",
                 numeric_columns=("passes", "forward mode", "reverse mode"))
    for t in fm.inputs:
        add_row(both, f"{t.name} ({shape_text(t.shape)})", f"{t.passes:,}", show_value(t.forward, 20),
                show_value(t.reverse, 20), _agree_mark(t.agrees))
    return out + [both, Text(plain(fm.summary))]


# -- the chain rule, the Hessian ----------------------------------------------------------
def explain_text(result, explanations):
    """--explain: every input's paths as lines, or how many inputs the step budget left out."""
    from rich.text import Text

    text = Text()
    found, more = locals_on_paths(result, explanations, LISTED_LOCALS)
    if found:  # numbers only: a tensor edge says its vector-Jacobian product on its path
        text.append("Each local gradient, the numbers filled in\n", style="bold")
        text.append(plain("\n".join("  " + local_text(result.formula, k) for k in found)) + "\n")
        if more:
            text.append(plain(f"  … and {more:,} more edges on these paths ({setting('json')} lists the first "
                              f"{SHOWN_LOCALS} in explain_locals)\n"))
        text.append("\n")
    text.append("The chain rule, path by path\n", style="bold")
    unlisted = 0
    for e in explanations:
        if e.complete or e.paths:
            text.append(plain("\n".join(describe(result, e))) + "\n")
        else:
            unlisted += 1
    if unlisted:
        text.append(plain(f"… and {unlisted:,} more inputs, whose paths were not listed: the step budget "
                          f"of {setting('explain')} ran out ({setting('explain_steps')} raises it); their gradients "
                          "are exact in "
                          "the Gradient table\n"))
    return text


_HESSIAN_MARKS = {None: "", "ok": "  (SymPy agrees)", "convention": "  (SymPy agrees but at the kink: convention)",
                  "mismatch": "  (SymPy DISAGREES)"}


def hessian_table(hessian):
    matrix = hessian.matrix
    names = list(matrix)
    made = table(f"Hessian: ∂²out/∂row∂column{_HESSIAN_MARKS[hessian.status]}", "", *names, numeric_columns=names)
    for r in names:
        add_row(made, r, *(show_number(matrix[r][c]) for c in names))
    return made


# -- Jacobian -----------------------------------------------------------------------
def _entry_labels(name: str, shape: tuple) -> list[str]:
    """name[i, j] for every entry in row-major order; a scalar is its name."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, ix))}]" for ix in itertools.product(*map(range, shape))]


def jacobian_check_table(jac, check, out_name: str):
    """Each Jacobian block against SymPy and finite differences: the largest gap, how many
    columns were perturbed, the verdict."""
    import numpy as np

    made = table(f"Jacobian ∂{out_name}/∂input, cross-checked", "input", "block", "SymPy",
                 "finite differences", "check", numeric_columns=("block",))
    for c in check.inputs:
        block = np.asarray(c.backprop)
        sympy = "–" if c.sympy is None else f"max gap {_gap(block, c.sympy)}"
        fd = np.asarray(c.finite_difference)
        columns = int(np.prod(jac.input_shapes[c.name], dtype=np.int64))
        sampled = int(np.count_nonzero(~np.isnan(fd.reshape(-1, columns)[0]))) if fd.size else 0
        gap = _gap(block[~np.isnan(fd)], fd[~np.isnan(fd)]) if sampled else "–"
        add_row(made, c.name, shape_text(block.shape), sympy, f"{sampled} of {columns} columns, max gap {gap}",
                MARKS[c.status])
    return made


def _gap(a, b) -> str:
    """The largest |a - b| over entries where both are finite, shortly."""
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    return f"{float(np.max(np.abs(a[both] - b[both]), initial=0.0)):.1e}"


def jacobian_tables(jac, out_name: str, width: int = 80) -> list:
    """Per input, ∂output/∂input as tables (a row per output entry, a column per input
    entry), split into as many tables as it takes for the columns to fit `width`."""
    rows = _entry_labels(out_name, jac.output_shape)
    tables = []
    for name, a in jac.matrices.items():
        cols = _entry_labels(name, jac.input_shapes[name])
        cells = [[f"{v:.4g}" for v in line] for line in a.reshape(len(rows), len(cols)).tolist()]
        cell = max([len(c) for c in cols] + [len(c) for line in cells for c in line])
        room = width - 4 - max(map(len, rows)) - 3
        per = max(1, room // (cell + 3))
        for start in range(0, len(cols), per):
            part = f" (columns {start + 1}–{min(start + per, len(cols))} of {len(cols)})" if len(cols) > per else ""
            columns = cols[start:start + per]
            title = f"Jacobian ∂{out_name}/∂{name}{part}"
            made = table(title, "", *columns, numeric_columns=columns)
            made.min_width = min(len(title), width)
            for label, line in zip(rows, cells):
                add_row(made, label, *line[start:start + per])
            made.columns[0].no_wrap = True
            tables.append(made)
    return tables


def jacobian_summary(f, jac, out_name: str):
    """The formula, its output's shape and value, above the Jacobian tables."""
    made = table("Formula", "formula", "output", "shape", "value", numeric_columns=("shape",))
    add_row(made, f.text.strip(), out_name, shape_text(jac.output_shape), show_value(jac.value))
    return made


# -- bp grad's output in the order printed ----------------------------------------------------
def grad_output(result, checked, extras, limit: int | None) -> list:
    """bp grad's tables and texts, in the order printed, for the extras asked for
    (documents.Extras); the notes apart: they end the output."""
    printed = list(grad_tables(result, checked, limit=limit))
    if extras.explanations is not None:
        printed.append(explain_text(result, extras.explanations))
    if extras.hessian is not None:
        printed.append(hessian_table(extras.hessian))
    if extras.forward is not None:
        printed.extend(forward_tables(result, extras.forward, limit=limit))
    if extras.jacobian is not None:
        printed.extend(jacobian_tables(extras.jacobian, extras.output_name))
    if extras.mistake is not None:
        printed.extend(extras.mistake.printed(limit))
    return printed


def jacobian_output(f, jac, checked, out: str) -> list:
    """bp grad --jacobian of a tensor output: its summary, a table per input, the check's table."""
    printed = [jacobian_summary(f, jac, out)] + list(jacobian_tables(jac, out))
    if checked is not None:
        printed.append(jacobian_check_table(jac, checked, out))
    return printed
