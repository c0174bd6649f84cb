"""Results for people (Rich tables) and for programs (strict JSON)."""

from __future__ import annotations

import codecs
import contextlib
import json
import math
import re
import sys

SCHEMA = "bp.grad/2"

# On a terminal or pipe that cannot take Unicode (PYTHONIOENCODING=ascii, or a C locale with
# PYTHONUTF8=0) the symbols bp prints fall back to ASCII spellings; other characters (a name
# like ω) are escaped (\u03c9), never fatal. The fallback is a codec error handler on the
# standard streams, so every writer (Rich, print, Typer's help) gets the same spelling.
ASCII = False
ASCII_SYMBOLS = {"·": "*", "∂": "d", "←": "<-", "→": "->", "✓": "ok", "✗": "FAIL", "–": "-", "−": "-",
                 "…": "...", "ŷ": "yhat", "×": "x", "±": "+/-", "²": "^2", "ᵀ": "^T", "⊙": "*",
                 "≥": ">=", "≤": "<=", "⚠": "!", "₀": "_0", "₁": "_1", "π": "pi", "Σ": "sum"}
_ASCII_SYMBOLS = str.maketrans(ASCII_SYMBOLS)


def _ascii_fallback(error: UnicodeError):
    """Codec error handler: bp's symbols as their ASCII spellings, anything else a \\x escape."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start:error.end]
    return "".join(ASCII_SYMBOLS.get(c) or c.encode("ascii", "backslashreplace").decode()
                   for c in chunk), error.end


codecs.register_error("bp-ascii", _ascii_fallback)


def ascii_text(text: str, escape=lambda c: c.encode("ascii", "backslashreplace").decode()) -> str:
    """The text in ASCII: bp's symbols spelled out, any other character as `escape` writes it."""
    text = text.translate(_ASCII_SYMBOLS)
    return text if text.isascii() else "".join(c if c.isascii() else escape(c) for c in text)


def setup_streams() -> None:
    """Switch to ASCII symbols when stdout cannot encode them; never die of an encoding."""
    global ASCII
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
        if encoding not in ("utf8", "utf16", "utf32") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="bp-ascii")
            ASCII = ASCII or stream is sys.stdout


# Characters that would act on a terminal rather than show: C0 and C1 controls (ESC starts a
# sequence that can clear the screen or retitle the window), DEL, and bidirectional overrides
# that reorder what is shown. Newlines and tabs are layout, kept.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """User text made safe to echo to a terminal: control characters as visible escapes (\\x1b)."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def plain(text: str) -> str:
    """The text as this output can show it: no control characters, ASCII symbols if need be."""
    text = printable(text)
    return text.translate(_ASCII_SYMBOLS) if ASCII else text


def rich_text(value: str, style: str = ""):
    """A Rich Text of user text: shown as written, never read as [markup]."""
    from rich.text import Text

    return Text(plain(value), style=style)


# -- numbers ------------------------------------------------------------------------
def json_number(v):
    """A float for strict JSON: finite numbers as numbers, others as "inf", "-inf", "nan"."""
    v = float(v)
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def jsonl_rows(names: list[str], columns: list[list[float]]) -> str:
    """One line of JSON per row, {"value": v, "gradient": {name: g, …}}, exactly as `dumps`
    writes it (repr for finite floats, "inf"/"-inf"/"nan" strings), from a template."""
    keys = ", ".join(f"{dumps(n).replace('%', '%%')}: %s" for n in names)
    template = '{"value": %s, "gradient": {' + keys + "}}\n"
    cells = [list(map(repr, c)) if all(map(math.isfinite, c)) else [dumps(json_number(v)) for v in c]
             for c in columns]
    return "".join(template % row for row in zip(*cells))


def csv_rows(names: list[str], columns: list[list[float]], header: bool) -> str:
    """value,grad_<name>… rows from columns of floats (the header line first if asked): repr
    (shortest round-trip digits; inf, -inf and nan as Python writes them), called directly
    since it runs millions of times."""
    head = ",".join(["value"] + [f"grad_{n}" for n in names]) + "\n" if header else ""
    return head + "".join(",".join(map(repr, row)) + "\n" for row in zip(*columns))


def dumps(doc) -> str:
    """Strict RFC 8259 JSON, for every document bp writes: non-finite numbers anywhere
    become "inf", "-inf" and "nan", integers too long for Python to write (4,300 digits) a
    count in scientific form; \\u escapes where the output cannot take Unicode."""
    try:
        return json.dumps(doc, ensure_ascii=ASCII, allow_nan=False)
    except ValueError:  # a non-finite float or a huge integer somewhere: mend, then write
        return json.dumps(_jsonable(doc), ensure_ascii=ASCII, allow_nan=False)


def _jsonable(doc):
    """The document with every number JSON cannot hold turned into text (in place, no recursion)."""
    from bpcli.check.sympy_bridge import WRITABLE_BITS
    from bpcli.views.explain import count_text

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



DIGITS: int | None = 10  # significant digits of numbers for people; None: every digit (JSON always has all)


def set_precision(digits: int | None) -> None:
    """How many significant digits tables, trees and notes show (None: all, as repr)."""
    global DIGITS
    DIGITS = digits


def show_number(v) -> str:
    """A number for people: Python's shortest round-trip text, cut to DIGITS significant
    digits when it has more (12.00000000007759 shows as 12.0; --precision full keeps it)."""
    from bpcli.engine.numtext import number_text

    return number_text(v, DIGITS, whole=False)


# -- JSON ---------------------------------------------------------------------------
def json_value(v):
    """A number, or nested lists for an array, non-finite entries as "inf", "-inf", "nan"."""
    if not isinstance(v, list) and getattr(v, "ndim", 0) == 0:
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


SMALL_ARRAY = 16  # entries an array may have to be shown in full


def show_value(v, width: int = 36, shape: bool = True) -> str:
    """A number as show_number; a small array as numpy prints it; a larger one on one line,
    its first and last entries and (`shape`) its shape, within `width` characters where it can."""
    if not isinstance(v, list) and getattr(v, "ndim", 0) == 0:
        return show_number(v)
    import numpy as np

    a = np.asarray(v)
    if a.size <= SMALL_ARRAY:
        text = np.array2string(a, max_line_width=width, threshold=SMALL_ARRAY, edgeitems=2,
                               precision=4, floatmode="maxprec", separator=" ")
        rows = a.size // a.shape[-1] if a.shape[-1] else 1
        if text.count("\n") <= rows:  # a line per row, and one more where a line wraps
            return text
    return summary(a, width, shape)


def show_inline(v, width: int = 60, shape: bool = True) -> str:
    """show_value on one line (an array's rows side by side): for trees, pictures and paths."""
    return " ".join(show_value(v, width, shape).split())


def summary(a, width: int, shape: bool = True) -> str:
    """A large array on one line as numpy summarises it, `[[0 0.1 … 0.9] … [5 5.1 … 5.9]] (6×10)`:
    the first and last rows, as many edge entries of each as fit `width` (at least one)."""
    from bpcli.engine.ops import shape_text

    shape = f" ({shape_text(a.shape)})" if shape else ""
    rows = a.reshape(-1, a.shape[-1]) if a.ndim > 1 and a.shape[-1] else a.reshape(1, -1)
    depth = a.ndim - 1
    text = ""
    for edge in (3, 2, 1):
        shown = [_row(r, edge) for r in ((rows[0],) if len(rows) == 1 else (rows[0], rows[-1]))]
        text = "[" * depth + " … ".join(shown) + "]" * depth + shape
        if len(text) <= width:
            break
    return text


def _row(row, edge: int) -> str:
    """One row of an array: all of it when short, else `edge` entries at each end."""
    items = row.tolist()
    if len(items) > 2 * edge:
        items = items[:edge] + ["…"] + items[-edge:]
    return "[" + " ".join(x if x == "…" else f"{x:.4g}" for x in items) + "]"


def grad_notes(result, extra: list[str] = (), check=None) -> list:
    """Every note of a point: the engine's findings, then `extra` (the CLI's), then the check's."""
    from bpcli.views import labels as view

    return view.notes(result) + input_notes(extra) + check_notes(check.notes if check else [])


def input_notes(texts: list[str]) -> list:
    """The CLI's notes about the values given, as note objects."""
    from bpcli.views import labels as view

    return [view.Note("input", None, n) for n in texts]


def check_notes(texts: list[str]) -> list:
    """The check's notes (of the gradient or the Hessian) as note objects."""
    from bpcli.views import labels as view

    return [view.Note("check", None, n) for n in texts]


def note_document(note) -> dict:
    return {"kind": note.kind, "node": note.node, "message": note.message, "suggestion": note.suggestion}


def grad_document(result, point: dict, check=None, notes: list | None = None) -> dict:
    """bp.grad/2: every node has a shape ([] for a scalar); values, adjoints, contributions
    and gradients are numbers or nested lists; tensor edges carry their rule in words."""
    from bpcli.views import labels as view

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
    return doc


def check_document(check) -> dict:
    """Per input: backprop's numbers, SymPy's and the finite differences' beside them (nested
    lists for arrays, "nan" where an entry was not sampled), the status."""
    return {
        c.name: {"backprop": json_value(c.backprop), "derivative": c.derivative,
                 "sympy": None if c.sympy is None else json_value(c.sympy),
                 "finite_difference": None if c.finite_difference is None else json_value(c.finite_difference),
                 "status": c.status, "ok": c.ok}
        for c in check.inputs
    }


# -- Rich ---------------------------------------------------------------------------
MARKS = {"ok": "✓", "convention": "✓ (convention)", "mismatch": "✗", "skipped": "–"}


def _add(table, *cells) -> None:
    """Add a row, its text cells in the symbols this output can show."""
    table.add_row(*(rich_text(c) if isinstance(c, str) else c for c in cells))


def _table(title: str, *columns: str, numeric_columns=()):
    """A table whose names, edges, numbers and marks are never cut: formulas and other text
    fold onto more lines, and where even that does not fit each row is stacked as lines."""
    table = _fitted_table_class()(title=rich_text(title), title_justify="left", title_style="bold")
    for k, name in enumerate(columns):
        numeric = name in _NUMERIC or name in numeric_columns
        key = k == 0 or name in _KEYS
        table.add_column(rich_text(name), justify="right" if numeric else "left",
                         no_wrap=numeric or key, overflow="fold")
    return table


_NUMERIC = {"value", "adjoint", "local", "contribution", "backprop", "SymPy",
            "finite difference", "parent adjoint", "nodes", "edges"}
_KEYS = {"check", "agree", "label"}  # with the first column: never folded
_FOLDED_MIN = 14  # the narrowest a folding column may get before rows are stacked instead
_fitted = None


def _fitted_table_class():
    """Rich's Table, rendered as stacked rows when its fixed columns do not fit the width."""
    global _fitted
    if _fitted is not None:
        return _fitted
    from rich.table import Table

    class FittedTable(Table):
        def needed_width(self) -> int:
            """The width at which no fixed column is cut and no folding one cuts a word of up
            to _FOLDED_MIN cells (each folding column is held to that minimum)."""
            from rich.cells import cell_len

            total = self._extra_width
            for column in self.columns:
                texts = [str(getattr(c, "plain", c)) for c in [column.header, *column._cells]]
                if column.no_wrap:  # an array's cell has a line per row: its widest line counts
                    total += max(cell_len(line) for t in texts for line in t.split("\n"))
                else:
                    longest = max((cell_len(w) for t in texts for w in t.split()), default=1)
                    column.min_width = min(longest, _FOLDED_MIN)
                    total += column.min_width
                total += self.padding[1] + self.padding[3]
            return total

        def __rich_console__(self, console, options):
            if self.needed_width() <= options.max_width:
                yield from super().__rich_console__(console, options)
            else:
                yield self.stacked()

        def stacked(self):
            """Each row as a heading (its first cell) over lines of `column  cell`."""
            from rich.console import Group

            table = Table(title=self.title, title_justify="left", title_style="bold", show_header=False,
                          show_lines=True)
            table.add_column(overflow="fold")
            heads = [column.header for column in self.columns]
            for r in range(self.row_count):
                cells = [column._cells[r] for column in self.columns]
                lines = Table.grid(padding=(0, 1))
                lines.add_column(no_wrap=True, style="dim")
                lines.add_column(overflow="fold")
                for head, cell in zip(heads[1:], cells[1:]):
                    if str(getattr(cell, "plain", cell)):  # an empty cell says nothing
                        lines.add_row(head, cell)
                table.add_row(Group(cells[0], lines))
            return table

    _fitted = FittedTable
    return _fitted


def _rows(items: list, limit: int | None):
    """All items, or the first and last when there are more than `limit`."""
    if limit is None or len(items) <= limit:
        return items, 0
    half = limit // 2
    return items[:half] + [None] + items[-half:], len(items) - 2 * half


def _shown(table, items: list, limit: int | None, see: str = "--all shows them"):
    """The items to give a row each; past `limit`, the first and last, with a row saying how
    many more there are between them (and where to `see` them)."""
    return _with_gap(table, *_rows(items, limit), see)


def _with_gap(table, rows: list, hidden: int, see: str = "--all shows them"):
    """The rows to fill, None among them standing for the `hidden` ones: a row says how many."""
    for item in rows:
        if item is None:
            _add(table, "…", f"{hidden} more rows ({see})", *[""] * (len(table.columns) - 2))
        else:
            yield item


def grad_tables(result, check=None, limit: int | None = 200) -> list:
    """The four tables of `bp grad`: formula, forward, backward, gradient."""
    from rich.text import Text

    from bpcli.views import labels as view

    if result.is_tensor:
        return tensor_tables(result, check, limit)
    f = result.formula
    out = []
    summary = _table("Formula", "formula", "value", "nodes", "edges")
    _add(summary, f.text.strip(), show_number(result.value), str(len(f)),
                    str(sum(len(a) for a in f.args)))
    out.append(summary)

    forward = _table("Forward: a value per node (topological order)",
                     "node", "label", "operation", "value", "adjoint")
    for i in _shown(forward, list(range(len(f))), limit):
        adjoint = result.adjoint(i)
        _add(forward, f"n{i}", view.label(f, i), view.show(f, i), show_number(result.values[i]),
                        "–" if adjoint is None else show_number(adjoint))
    out.append(forward)
    if not f.inputs:  # a constant: no edge carries a gradient, no input has one
        return out

    backward = _table("Backward: a local gradient per edge, from the output back",
                      "edge", "local gradient", "local", "parent adjoint", "contribution")
    for e in _with_gap(backward, *view.shown_edges(result, limit)):
        parent = int(e.parent[1:])
        _add(backward, f"{e.parent} ← {e.child}", view.edge_formula(f, parent, e.slot),
                         show_number(e.local), show_number(result.adjoints[parent]),
                         show_number(e.contribution))
    out.append(backward)

    if check is None:
        gradient = _table("Gradient", "input", "backprop")
        for name in _shown(gradient, list(result.gradient), limit):
            _add(gradient, name, show_number(result.gradient[name]))
    else:
        gradient = _table("Gradient, cross-checked", "input", "backprop", "SymPy derivative",
                          "SymPy", "finite difference", "check")
        for c in _shown(gradient, check.inputs, limit):
            mark = Text(plain(MARKS[c.status]), style="green" if c.ok else "bold red")
            _add(gradient, c.name, show_number(c.backprop), c.derivative or "–",
                             "–" if c.sympy is None else show_number(c.sympy),
                             "–" if c.finite_difference is None else show_number(c.finite_difference), mark)
    out.append(gradient)
    return out


def forward_tables(result, fm, limit: int | None = 200) -> list:
    """Forward mode: each node's tangent per input, then both modes' gradients side by side."""
    from rich.text import Text

    if fm.tensors:
        return _tensor_forward_tables(result, fm, limit)
    from bpcli.views import labels as view

    f = result.formula
    heads = [f"∂·/∂{t.name}" for t in fm.inputs]
    tangents = _table("Forward mode: tangent ∂node/∂input", "node", "label", *heads, numeric_columns=heads)
    for i in _shown(tangents, list(range(len(f))), limit):
        _add(tangents, f"n{i}", view.label(f, i) or view.show(f, i), *(show_number(t.tangents[i]) for t in fm.inputs))
    both = _table("Forward mode vs reverse mode", "input", "forward mode", "reverse mode", "agree",
                  numeric_columns=("forward mode", "reverse mode"))
    for t in fm.inputs:
        _add(both, t.name, show_number(t.forward), show_number(t.reverse), _agree_mark(t.agrees))
    return [tangents, both, Text(plain(fm.summary))]


def _agree_mark(agrees: bool):
    from rich.text import Text

    return Text(plain("✓" if agrees else "✗"), style="green" if agrees else "bold red")


def _tensor_forward_tables(result, fm, limit) -> list:
    """Per input, its first pass (seeded at its first entry): every node's tangent; then
    each input's gradient assembled from its passes beside reverse mode's."""
    from rich.text import Text

    from bpcli.engine.ops import shape_text
    from bpcli.views import labels as view

    f = result.formula
    out = []
    for t in fm.inputs:
        at = f"{t.name}[{', '.join(map(str, t.direction))}]" if t.direction else t.name
        table = _table(f"Forward mode along {at} (pass 1 of {t.passes:,} for {t.name})",
                       "node", "label", "shape", f"∂·/∂{at}", numeric_columns=("shape", f"∂·/∂{at}"))
        for i in _shown(table, list(range(len(f))), limit):
            _add(table, f"n{i}", view.label(f, i) or view.show(f, i), shape_text(result.shapes[i]),
                 show_value(t.tangents[i], 28))
        out.append(table)
    both = _table("Forward mode vs reverse mode", "input", "passes", "forward mode", "reverse mode", "agree",
                  numeric_columns=("passes", "forward mode", "reverse mode"))
    for t in fm.inputs:
        _add(both, f"{t.name} ({shape_text(t.shape)})", f"{t.passes:,}", show_value(t.forward, 20),
             show_value(t.reverse, 20), _agree_mark(t.agrees))
    return out + [both, Text(plain(fm.summary))]


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


def tensor_tables(result, check=None, limit: int | None = 200) -> list:
    """The tables of `bp grad` over tensors: shapes beside values, VJP rules on edges."""
    from rich.text import Text

    from bpcli.engine.graph import CONST, INPUT
    from bpcli.engine.ops import shape_text
    from bpcli.views import labels as view

    f = result.formula
    summary = _table("Formula", "formula", "value", "nodes", "edges")
    _add(summary, f.text.strip(), show_value(result.value), str(len(f)), str(sum(len(a) for a in f.args)))

    forward = _table("Forward: a value per node (topological order)",
                     "node", "operation", "shape", "value", "adjoint", numeric_columns=("shape",))
    for i in _shown(forward, list(range(len(f))), limit):
        adjoint = result.adjoint(i)
        name = view.label(f, i)
        operation = view.show(f, i) if not name else (name if f.kinds[i] in (INPUT, CONST)
                                                      else f"{name} = {view.show(f, i)}")
        _add(forward, f"n{i}", operation, shape_text(result.shapes[i]), show_value(result.values[i], 24),
             "–" if adjoint is None else show_value(adjoint, 24))

    backward = _table("Backward: a vector-Jacobian product per edge, from the output back",
                      "edge", "rule", "parent adjoint", "contribution")
    for e in _shown(backward, view.edges(result), limit):
        parent = int(e.parent[1:])
        _add(backward, f"{e.parent} ← {e.child}", e.rule, show_value(result.adjoints[parent], 20),
             show_value(e.contribution, 20))

    if check is None:
        gradient = _table("Gradient", "input", "shape", "backprop", numeric_columns=("shape",))
        for name, g in result.gradient.items():
            _add(gradient, name, shape_text(result.shapes[f.inputs[name]]), show_value(g))
    else:
        gradient = _table("Gradient, cross-checked", "input", "shape", "backprop", "SymPy", "finite difference",
                          "check", numeric_columns=("shape",))
        for c in check.inputs:
            mark = Text(plain(MARKS[c.status]), style="green" if c.ok else "bold red")
            _add(gradient, c.name, shape_text(result.shapes[f.inputs[c.name]]), show_value(c.backprop, 16),
                 "–" if c.sympy is None else show_value(c.sympy, 16),
                 "–" if c.finite_difference is None else show_value(c.finite_difference, 16), mark)
    for table in (forward, gradient):  # names and marks never give way to numbers
        table.columns[0].no_wrap = True
        table.columns[-1].no_wrap = table is gradient and check is not None
    return [summary, forward, backward, gradient]



def notes_text(notes: list):
    from rich.text import Text

    text = Text()
    for note in notes:
        text.append("note: ", style="yellow")
        text.append(plain(str(note)) + "\n")
    return text


# -- training -------------------------------------------------------------------------
TRAIN_SCHEMA = "bp.train/1"


def sample_epochs(epochs: list, most: int = 12) -> list:
    """All epochs of a short run; for a long one the first, the last and an even sample."""
    if len(epochs) <= most:
        return list(epochs)
    step = (len(epochs) - 1) / (most - 1)
    picked = sorted({round(k * step) for k in range(most)})
    return [epochs[i] for i in picked]


def train_document(run, table, predictions: list[dict]) -> dict:
    s = run.settings
    return {
        "schema": TRAIN_SCHEMA,
        "model": run.model.text,
        "loss_formula": run.model.loss_text,
        "params": {p: json_value(v) for p, v in run.params.items()},
        "loss": [json_number(e.loss) for e in run.epochs],
        **_classifier_fields(run),
        "predictions": [{k: v if isinstance(v, str) else json_number(v) for k, v in p.items()}
                        for p in predictions],
        "settings": {
            "lr": s.lr, "epochs": s.epochs, "batch_size": s.batch_size or "all",
            "shuffle": s.shuffle, "seed": s.seed, "dtype": s.dtype,
            "init": {p: json_number(v) for p, v in s.init.items()},
            "optimizer": s.optimizer, "init_scheme": s.init_scheme,
            "shapes": {p: list(shape) for p, shape in run.model.shapes.items()},
        },
        "data": {"source": table.source, "rows": table.rows, "columns": table.columns,
                 "features": run.model.features, "target": run.model.target},
        "epochs_run": len(run.epochs),
        "interrupted": run.interrupted,
        "diverged": run.diverged is not None,
    }


def _classifier_fields(run) -> dict:
    """A classifier's accuracy by epoch and at the end, and its classes."""
    if run.model.head is None:
        return {}
    fields = {"accuracy": [e.accuracy for e in run.epochs],
              "final_accuracy": run.epochs[-1].accuracy if run.epochs else None}
    if run.model.classes is not None:
        fields["classes"] = run.model.classes
    return fields


def epoch_record(epoch) -> dict:
    record = {"type": "epoch", "epoch": epoch.epoch, "loss": json_number(epoch.loss),
              "params": {p: json_value(v) for p, v in epoch.params.items()}}
    if epoch.accuracy is not None:
        record["accuracy"] = epoch.accuracy
    return record


PARAMETER_COLUMNS = 8  # parameters the epochs table follows; the Parameters table has them all


def train_tables(run, predictions: list[dict]) -> list:
    from bpcli.engine.ops import shape_text

    scalars = [p for p in run.model.params if p not in run.model.shapes]  # tensors: final table only
    params = scalars[:PARAMETER_COLUMNS]
    scores = ["accuracy"] if run.model.head else []
    more = f" (the first {len(params)} of {len(scalars):,} parameters)" if len(params) < len(scalars) else ""
    epochs = _table(f"Training: {len(run.epochs)} epochs{more}", "epoch", "mean loss", *scores, *params,
                    numeric_columns=("epoch", "mean loss", *scores, *params))
    for e in sample_epochs(run.epochs):
        shown = [f"{e.accuracy:.1%}"] if scores else []
        _add(epochs, str(e.epoch), show_number(e.loss), *shown, *(show_number(e.params[p]) for p in params))
    final = _table("Parameters", "parameter", "shape", "value")
    for p in _shown(final, list(run.model.params), 200, "--json has them all"):
        _add(final, p, shape_text(run.model.shapes.get(p, ())), show_value(run.params[p]))
    out = [epochs, final]
    if run.model.classes is not None:
        classes = _table("Classes (sorted)", "index", "label", numeric_columns=("index",))
        for k, label in enumerate(run.model.classes):
            _add(classes, str(k), str(label))
        out.append(classes)
    if predictions:
        features = run.model.features
        named = ["class"] if any("class" in p for p in predictions) else []
        pred = _table("Predictions", *features, "yhat", *named, numeric_columns=(*features, "yhat"))
        for p in predictions:
            _add(pred, *(show_number(p[f]) for f in features), _shown_label(p["yhat"]),
                 *(_shown_label(p["class"]) for _ in named))
        out.append(pred)
    return out


def _shown_label(v) -> str:
    """A prediction: a number for people, or a class label as it is written in the data."""
    return v if isinstance(v, str) else str(v) if isinstance(v, int) else show_number(v)


def loss_curve(losses: list[float], width: int, colour: bool) -> str:
    """The loss curve drawn in the terminal (log scale) with plotext."""
    import plotext as plt

    points = [(i, math.log10(v)) for i, v in enumerate(losses) if v > 0 and math.isfinite(v)]
    if len(points) < 2 or ASCII:  # plotext draws with box characters
        return ""
    plt.clear_figure()
    if not colour:
        plt.plot([p[0] for p in points], [p[1] for p in points])
    plt.plotsize(min(width, 100), 15)
    plt.title("log10(mean loss) by epoch")
    plt.theme("clear")  # the terminal's own background, light or dark
    if colour:
        plt.plot([p[0] for p in points], [p[1] for p in points], color="blue")
    text = plt.build()
    return text if colour else plt.uncolorize(text)


def check_plot_path(path: str) -> str:
    """The picture's format from the extension; the path is checked before any training."""
    from bpcli.errors import OutputError, UsageError
    from bpcli.streams import check_writable

    kind = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if kind not in ("png", "svg"):
        raise UsageError(f"--plot {path}: the file must end in .png or .svg")
    try:
        check_writable(path)
    except OutputError as e:
        raise OutputError(f"--plot: {e.message}") from None
    return kind


def save_loss_plot(losses: list[float], path: str, title: str) -> None:
    """The loss curve as PNG or SVG, by the file's extension (matplotlib), written whole or not at all."""
    import io

    from bpcli.errors import MissingDependency, OutputError
    from bpcli.streams import write_output

    kind = check_plot_path(path)
    with _matplotlib() as plt:
        if plt is None:
            raise MissingDependency("--plot needs matplotlib, which is not installed",
                                    hint="pip install 'backprop-cli[plot]'")
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(range(len(losses)), losses)
        if all(v > 0 for v in losses):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean loss")
        ax.set_title(title)
        fig.tight_layout()
        data = io.BytesIO()
        fig.savefig(data, format=kind)
        plt.close(fig)
    try:
        write_output(path, data.getvalue())
    except OutputError as e:
        raise OutputError(f"--plot: {e.message}") from None


@contextlib.contextmanager
def _matplotlib():
    """matplotlib.pyplot (None if not installed), with its config and font cache in a temporary
    directory unless MPLCONFIGDIR names one: bp writes nothing under ~/.config or ~/.cache."""
    import os
    import tempfile

    own = "MPLCONFIGDIR" not in os.environ
    with tempfile.TemporaryDirectory(prefix="bp-matplotlib-") if own else contextlib.nullcontext() as tmp:
        if own:
            os.environ["MPLCONFIGDIR"] = tmp
        try:
            try:
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
            except ImportError:
                plt = None
            yield plt
        finally:
            if own:
                del os.environ["MPLCONFIGDIR"]


# -- explanations, Hessians, the op table ------------------------------------------------
def explain_document(result, explanations) -> dict:
    """Per input: its paths (edges, factors, product) and the adjoint. For a tensor formula a
    path's factors are what each edge's vector-Jacobian product sends on (nested lists), and
    `rules` says each edge's product in words."""
    f = result.formula
    from bpcli.views.explain import count_json
    from bpcli.views.labels import vjp_rule

    tensor = result.is_tensor

    return {
        e.name: {
            "total_paths": count_json(e.total_paths),
            "complete": e.complete,
            "paths": [{"edges": [{"parent": f"n{p}", "slot": s, "child": f"n{c}"} for p, s, c in path.edges],
                       "factors": [json_value(x) for x in path.factors],
                       "product": json_value(path.product),
                       **({"rules": [vjp_rule(f, p, s, result.broadcast_axes(p, s)) for p, s, _ in path.edges]}
                          if tensor else {})} for path in e.paths],
            "adjoint": json_value(e.adjoint),
        }
        for e in explanations
    }


def explain_text(result, explanations):
    from rich.text import Text

    from bpcli.views.explain import describe

    text = Text("The chain rule, path by path\n", style="bold")
    unlisted = 0
    for e in explanations:
        if e.complete or e.paths:
            text.append(plain("\n".join(describe(result, e))) + "\n")
        else:
            unlisted += 1
    if unlisted:
        text.append(plain(f"… and {unlisted:,} more inputs, whose paths were not listed: the step budget "
                          "of --explain ran out (--explain-steps raises it); their gradients are exact in "
                          "the Gradient table\n"))
    return text


_HESSIAN_MARKS = {None: "", "ok": "  (SymPy agrees)", "convention": "  (SymPy agrees but at the kink: convention)",
                  "mismatch": "  (SymPy DISAGREES)"}


def hessian_table(hessian):
    matrix = hessian.matrix
    names = list(matrix)
    table = _table(f"Hessian: ∂²out/∂row∂column{_HESSIAN_MARKS[hessian.status]}", "", *names,
                   numeric_columns=names)
    for r in names:
        _add(table, r, *(show_number(matrix[r][c]) for c in names))
    return table


def hessian_document(hessian) -> dict:
    """hessian, hessian_check (true, false, or null when not checked) and hessian_status
    (ok, convention, mismatch or null)."""
    return {"hessian": hessian.matrix, "hessian_check": None if hessian.status is None else hessian.status != "mismatch",
            "hessian_status": hessian.status}


def _syntax(op) -> str:
    return op.syntax.format("a", "b") if op.syntax else f"{op.name}({', '.join('abc'[:op.arity])})"


def ops_document() -> list:
    from bpcli.engine.ops import OPS

    return [{"name": op.name, "arity": op.arity, "syntax": _syntax(op), "computes": op.doc,
             "partials": {v: d for v, d in zip("abc", op.derivative)},
             "convention": op.convention or None} for op in OPS.values()]


def ops_table():
    from bpcli.engine.ops import OPS

    table = _table("Operations (bp's op table)", "syntax", "computes", "∂/∂a", "∂/∂b", "at a kink")
    for op in OPS.values():
        rest = [f"∂/∂{v}: {d}" if v == "c" else d for v, d in zip("bc", op.derivative[1:])]
        _add(table, _syntax(op), op.doc, op.derivative[0], "\n".join(rest), op.convention)
    return table


# -- bp quiz -----------------------------------------------------------------------------
def quiz_tables(ex) -> list:
    """The exercise: its nodes and the local gradients asked, blanks as [1], [2], …"""
    from bpcli.teach.quiz import ref
    from bpcli.teach.worksheet import rows

    nodes, edges = rows(ex)
    values = ", ".join(f"{n} = {show_number(v)}" for n, v in ex.point.items())
    head = _table(f"Exercise: {ex.title}", "formula", "values", "output")
    _add(head, ex.formula.text.strip(), values, ref(ex.formula, ex.formula.output))
    out = [head]
    table = _table("Nodes: fill in the numbered blanks", "node", "name", "operation", "value", "adjoint")
    for row in nodes:
        _add(table, *row)
    out.append(table)
    if edges:
        table = _table("Local gradients asked", "edge", "local gradient", "value")
        for row in edges:
            _add(table, *row)
        out.append(table)
    return out


def grade_text(marks: list) -> str:
    """Per-blank feedback, then the score."""
    lines = []
    for k, m in enumerate(marks, 1):
        if m.correct:
            lines.append(f"✓ [{k}] {m.blank.id} = {m.given!r}")
        else:
            lines.append(f"✗ [{k}] {m.blank.id} = {m.given!r}: {m.hint}")
    right = sum(m.correct for m in marks)
    lines.append(f"score: {right}/{len(marks)}")
    return plain("\n".join(lines)) + "\n"


# -- Jacobian -----------------------------------------------------------------------
def _entry_labels(name: str, shape: tuple) -> list[str]:
    """name[i, j] for every entry in row-major order; a scalar is its name."""
    import itertools

    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, ix))}]" for ix in itertools.product(*map(range, shape))]


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


def jacobian_check_table(jac, check, out_name: str):
    """Each Jacobian block against SymPy and finite differences: the largest gap, how many
    columns were perturbed, the verdict."""
    import numpy as np

    from bpcli.engine.ops import shape_text

    table = _table(f"Jacobian ∂{out_name}/∂input, cross-checked", "input", "block", "SymPy",
                   "finite differences", "check", numeric_columns=("block",))
    for c in check.inputs:
        block = np.asarray(c.backprop)
        sympy = "–" if c.sympy is None else f"max gap {_gap(block, c.sympy)}"
        fd = np.asarray(c.finite_difference)
        columns = int(np.prod(jac.input_shapes[c.name], dtype=np.int64))
        sampled = int(np.count_nonzero(~np.isnan(fd.reshape(-1, columns)[0]))) if fd.size else 0
        gap = _gap(block[~np.isnan(fd)], fd[~np.isnan(fd)]) if sampled else "–"
        _add(table, c.name, shape_text(block.shape), sympy, f"{sampled} of {columns} columns, max gap {gap}",
             MARKS[c.status])
    return table


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
            shown = cols[start:start + per]
            title = f"Jacobian ∂{out_name}/∂{name}{part}"
            table = _table(title, "", *shown, numeric_columns=shown)
            table.min_width = min(len(title), width)
            for label, line in zip(rows, cells):
                _add(table, label, *line[start:start + per])
            table.columns[0].no_wrap = True
            tables.append(table)
    return tables


def jacobian_summary(f, jac, out_name: str):
    """The formula, its output's shape and value, above the Jacobian tables."""
    from bpcli.engine.ops import shape_text

    table = _table("Formula", "formula", "output", "shape", "value", numeric_columns=("shape",))
    _add(table, f.text.strip(), out_name, shape_text(jac.output_shape), show_value(jac.value))
    return table


# -- bp lint -----------------------------------------------------------------------------
LINT_SCHEMA = "bp.lint/1"


def _lint_message(f, finding) -> str:
    from bpcli.engine.ops import OPS

    return f"n{finding.node} {OPS[f.kinds[finding.node]].name}: {finding.message}"


def lint_document(f, report) -> dict:
    notes = [{"node": f"n{x.node}", "kind": x.kind, "message": _lint_message(f, x), "suggestion": x.suggestion,
              "points": x.points, "example": x.example} for x in report.findings]
    return {"schema": LINT_SCHEMA, "formula": f.text, "samples": report.samples, "seed": report.seed,
            "ranges": {n: r.text() for n, r in report.ranges.items()}, "notes": notes, "ok": not notes}


def lint_tables(f, report) -> list:
    """How the points were drawn, then one row per note (or a line saying there is none)."""
    from rich.text import Text

    drawn = _table(f"{report.samples:,} points, seed {report.seed}", "input", "drawn from")
    for name, r in report.ranges.items():
        _add(drawn, name, r.text())
    if not report.findings:
        return [drawn, Text("no hazard notes at any of the points")]
    found = _table("Hazard notes", "note", "try", "points", "first at")
    for x in report.findings:
        at = ", ".join(f"{n} = {show_number(v)}" for n, v in x.example.items())
        _add(found, _lint_message(f, x), x.suggestion or "", f"{x.points:,}", at)
    return [drawn, found]
