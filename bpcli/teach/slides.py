"""bp graph --format tikz: the graph as a TikZ picture in a LaTeX document of its own for slides, in the style of
CS231n's circuit diagrams: each wire carries its value above (green) and its gradient below
(red); with a step of the page's walk, only what is known after that step (a slide sequence:
--step 0, 1, … the last).

Every piece of user text (names, numbers, operations) goes through the worksheets' one
escaping function, tex(). Positions come from bp's own layered layout (no recursion), scaled
so that the largest graph stays inside TeX's dimensions and a PDF page.
"""

from __future__ import annotations

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.numtext import number_text
from bpcli.engine.ops import OPS
from bpcli.teach.worksheet import tex
from bpcli.views.labels import label
from bpcli.views.walk import state_at, steps
from bpcli.views.web.layout import layout, nested_shape

PT = 0.75  # TikZ points per page pixel of the layout
LARGEST = 14_000  # pt: a PDF page is at most 14,400 pt a side (TeX's dimensions end at 16,383)
LIFT = 18.0  # pt: how far apart the two wires of a node used twice (x*x) bend
VALUE, GRADIENT, CURRENT = "green!45!black", "red!75!black", "blue!70!black"
# A document whose one page is the picture, with nothing beyond LaTeX's base and TikZ (no
# standalone class): the picture is boxed, pdfTeX's page made its size plus a border, and the box
# shipped out at the page's corner. The tikzpicture itself can be copied into a beamer frame.
HEAD = [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
        r"\usepackage{tikz}", r"\usetikzlibrary{arrows.meta}", r"\begin{document}",
        r"\newsavebox{\bpgraph}", r"\sbox{\bpgraph}{%"]
TAIL = [r"\pdfpagewidth=\dimexpr\wd\bpgraph+12pt\relax",
        r"\pdfpageheight=\dimexpr\ht\bpgraph+\dp\bpgraph+12pt\relax",
        r"\hoffset=-1in \voffset=-1in",
        r"\shipout\vbox{\kern6pt\hbox{\kern6pt\usebox{\bpgraph}}}",
        r"\end{document}"]


def symbol(f, i: int) -> str:
    """What a node's box says: an input's or constant's name, or the operation's symbol
    (· for *, tanh for tanh(…))."""
    kind = f.kinds[i]
    if kind in (INPUT, CONST):
        return label(f, i)
    op = OPS[kind]
    if op.is_function:
        return op.name
    return op.show.format(*[""] * op.arity).strip() or kind


def _number(v, digits: int) -> str:
    """A value on a wire: a number to `digits` significant digits, a tensor by its shape."""
    if isinstance(v, list):
        return "[" + "x".join(map(str, nested_shape(v))) + "]"
    if isinstance(v, str):
        return v  # "inf", "-inf", "nan" in a JSON document
    return number_text(v, digits)


def tikz(f, doc: dict | None, step: int | None = None, digits: int = 4) -> str:
    """The standalone LaTeX document of the graph; `doc` (bp.grad/2) puts values and gradients
    on the wires; `step` shows only what is known after that step of the page's walk."""
    if doc is None:
        doc = {"nodes": [{"value": None, "adjoint": None} for _ in f.kinds],
               "edges": [{"parent": f"n{p}", "child": f"n{c}", "slot": s, "contribution": None}
                         for p in range(len(f.kinds)) for s, c in enumerate(f.args[p])]}
        walk, state = None, None
    else:
        walk = steps(doc)
        state = state_at(doc, walk, len(walk) - 1 if step is None else step)
    boxes = layout(f, {"nodes": doc["nodes"]} | {"edges": doc["edges"]}, "bp")["nodes"]
    right = max((b["x"] + b["w"] for b in boxes), default=0.0) + 80
    bottom = max((b["y"] + b["h"] for b in boxes), default=0.0)
    scale = min(PT, LARGEST / max(right, bottom, 1.0))
    shrink = scale / PT
    out = [*HEAD, r"\begin{tikzpicture}[>={Stealth[length=4pt]},",
           rf"  every node/.style={{font=\small, scale={shrink:.4f}}},",
           r"  box/.style={draw, rounded corners=2pt, minimum height=16pt, inner sep=3pt, fill=white},",
           r"  input/.style={box, fill=black!5}, current/.style={line width=1.6pt, draw=" + CURRENT + "},",
           rf"  value/.style={{text={VALUE}, font=\scriptsize, inner sep=1.5pt}},",
           rf"  gradient/.style={{text={GRADIENT}, font=\scriptsize, inner sep=1.5pt}}]"]
    current_node = current_edge = None
    if state is not None:
        kind, index = state.step
        current_node = index if kind in ("forward", "seed") else None
        current_edge = index if kind == "backward" else None
    centres = [((b["x"] + b["w"] / 2) * scale, -(b["y"] + b["h"] / 2) * scale) for b in boxes]
    for i, (x, y) in enumerate(centres):
        style = "input" if f.kinds[i] in (INPUT, CONST) else "box"
        style += ", current" if i == current_node else ""
        named = f.labels.get(i)
        extra = rf", label={{[font=\scriptsize, text=black!60]above:{{{tex(' = '.join(named))}}}}}" \
            if named and f.kinds[i] not in (INPUT, CONST) else ""
        out.append(rf"\node[{style}{extra}] (n{i}) at ({x:.1f}pt, {y:.1f}pt) {{{tex(symbol(f, i))}}};")
    index = {(int(e["parent"][1:]), e["slot"]): k for k, e in enumerate(doc["edges"])}  # the walk's edges
    for p, args in enumerate(f.args):
        for slot, c in enumerate(args):  # every wire, a constant's too (it carries no gradient)
            k = index.get((p, slot))
            value = doc["nodes"][c]["value"]
            known = value is not None and (state is None or c < state.computed)
            sent = k is not None and state is not None and k < state.done
            # A Bézier of explicit control points: TikZ's own curves (to[out=…]) compute lengths
            # that overflow TeX's dimensions on a large graph. x*x: the two wires bend apart.
            reach = max(10.0, 0.4 * abs(centres[p][0] - centres[c][0]))
            lift = 0.0 if args.count(c) == 1 else (LIFT if args.index(c) == slot else -LIFT)
            style = "->, current" if k is not None and k == current_edge else "->"
            above = rf" node[value, midway, above, sloped] {{{tex(_number(value, digits))}}}" if known else ""
            sends = _number(doc["edges"][k]["contribution"], digits) if sent else ""
            below = rf" node[gradient, midway, below, sloped] {{{tex(sends)}}}" if sent else ""
            out.append(rf"\draw[{style}] (n{c}.east) .. controls +({reach:.1f}pt, {lift:g}pt) and "
                       rf"+({-reach:.1f}pt, {lift:g}pt) .. (n{p}.west){above}{below};")
    if doc["nodes"] and boxes:
        o = len(boxes) - 1
        value = doc["nodes"][o]["value"]
        known = value is not None and (state is None or o < state.computed)
        above = rf" node[value, midway, above] {{{tex(_number(value, digits))}}}" if known else ""
        below = r" node[gradient, midway, below] {1}" if state is not None and state.seeded else ""
        out.append(rf"\draw[->] (n{o}.east) -- ++({60 * scale:.1f}pt, 0){above}{below};")
    out += [r"\end{tikzpicture}}", *TAIL]
    return "\n".join(out) + "\n"
