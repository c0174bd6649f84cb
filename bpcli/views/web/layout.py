"""Where each node of the graph sits on the page: Graphviz's layout when `dot` is installed,
else a layered layout of bp's own (longest path layers, barycentre ordering, no recursion).

Both give the same data, in page pixels: a box per node and a cubic Bézier path per edge,
so the page draws the graph one way whichever laid it out.
"""

from __future__ import annotations

import shutil
import subprocess

from bpcli.engine.numtext import number_text
from bpcli.views import labels as view
from bpcli.views.pictures import LARGE, role, title

FONT = 14  # px; the page draws node text at this size
CHAR = 8.2  # px per character, generous for Helvetica at FONT
LINE = 18  # px per line of node text
PAD_X, PAD_Y = 14, 8
GAP_X, GAP_Y = 70, 22  # between layers, between nodes of a layer
MARGIN = 12
ARROW = 10  # an edge ends where its arrowhead starts, as Graphviz draws them
DOT_SECONDS = 10  # past this Graphviz is given up and bp lays the graph out itself


def short(v) -> str:
    """A value as a node shows it: 6 significant digits, or an array's shape."""
    if v is None:
        return "–"
    if isinstance(v, str):
        return v  # "inf", "-inf", "nan" in the JSON document
    if isinstance(v, list):
        shape = []
        while isinstance(v, list):
            shape.append(len(v))
            v = v[0] if v else None
        return "[" + "×".join(map(str, shape)) + "]"
    return number_text(v, 6)


def node_lines(f, doc: dict) -> list[list[str]]:
    """The text lines of every node box: its title, its value, its adjoint (if any)."""
    out = []
    for i, node in enumerate(doc["nodes"]):
        lines = [title(f, i), "= " + short(node["value"])]
        if node["adjoint"] is not None:
            lines.append("∂ " + short(node["adjoint"]))
        out.append(lines)
    return out


def _size(lines: list[str]) -> tuple[float, float]:
    return max(map(len, lines)) * CHAR + 2 * PAD_X, len(lines) * LINE + 2 * PAD_Y


def layout(f, doc: dict, engine: str = "auto") -> dict:
    """The layout of the graph: engine 'graphviz', 'bp', or 'auto' (Graphviz for graphs of
    at most pictures.LARGE nodes when dot is installed: beyond, it takes seconds)."""
    lines = node_lines(f, doc)
    want_dot = engine == "graphviz" or (engine == "auto" and len(f) <= LARGE)
    if want_dot and shutil.which("dot"):
        found = _graphviz(f, lines)
        if found is not None:
            return found
    return _layered(f, lines)


def _edges(f):
    """(parent, slot, child) for every operand slot, in node order."""
    return [(p, s, c) for p in range(len(f)) for s, c in enumerate(f.args[p])]


def _result(source: str, width: float, height: float, boxes: list, paths: list, f, lines) -> dict:
    return {
        "engine": source,
        "width": round(width, 1), "height": round(height, 1),
        "nodes": [{"id": f"n{i}", "x": round(x, 1), "y": round(y, 1), "w": round(w, 1), "h": round(h, 1),
                   "role": role(f, i), "show": view.show(f, i), "lines": lines[i]}
                  for i, (x, y, w, h) in enumerate(boxes)],
        "edges": [{"parent": f"n{p}", "slot": s, "child": f"n{c}", "path": path}
                  for (p, s, c), path in zip(_edges(f), paths)],
    }


# -- Graphviz --------------------------------------------------------------------------
def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _graphviz(f, lines):
    """Graphviz's layout (dot -Tplain), or None if dot fails or takes too long."""
    dot = ["digraph bp {", "  rankdir=LR; nodesep=0.25; ranksep=0.6;",
           f'  node [shape=box, fontname="Helvetica", fontsize={FONT}, margin="0.15,0.08"];']
    for i, text in enumerate(lines):
        w, h = _size(text)
        dot.append(f"  n{i} [label={_quoted(chr(10).join(text))}, width={w / 72:.3f}, "
                   f"height={h / 72:.3f}, fixedsize=true];")
    dot += [f"  n{c} -> n{p};" for p, _, c in _edges(f)]
    dot.append("}")
    try:
        done = subprocess.run([shutil.which("dot"), "-Tplain"], input="\n".join(dot).encode(),
                              capture_output=True, timeout=DOT_SECONDS)
    except (subprocess.TimeoutExpired, OSError):
        return None
    if done.returncode != 0:
        return None
    return _read_plain(done.stdout.decode(), f, lines)


def _read_plain(text: str, f, lines):
    """Boxes and edge paths from Graphviz's plain format (inches, y upwards)."""
    height = 0.0
    width = 0.0
    centres: dict[str, tuple] = {}
    splines: dict[tuple, list] = {}
    for row in text.splitlines():
        parts = row.split()
        if not parts:
            continue
        if parts[0] == "graph":
            width, height = float(parts[2]) * 72, float(parts[3]) * 72
        elif parts[0] == "node":
            centres[parts[1]] = tuple(float(v) * 72 for v in parts[2:6])
        elif parts[0] == "edge":
            n = int(parts[3])
            points = [(float(parts[4 + 2 * k]) * 72, height - float(parts[5 + 2 * k]) * 72) for k in range(n)]
            splines.setdefault((parts[1], parts[2]), []).append(points)
    if len(centres) != len(f):
        return None
    boxes = []
    for i in range(len(f)):
        x, y, w, h = centres[f"n{i}"]
        boxes.append((x - w / 2 + MARGIN, height - y - h / 2 + MARGIN, w, h))
    paths = []
    for p, _, c in _edges(f):
        points = splines[(f"n{c}", f"n{p}")].pop(0)
        paths.append(_bezier([(x + MARGIN, y + MARGIN) for x, y in points]))
    return _result("graphviz", width + 2 * MARGIN, height + 2 * MARGIN, boxes, paths, f, lines)


def _bezier(points: list) -> str:
    """An SVG path through Graphviz's B-spline control points (1 + 3k of them)."""
    head = points[0]
    text = f"M{head[0]:.1f},{head[1]:.1f}"
    for k in range(1, len(points) - 2, 3):
        (a, b), (c, d), (e, g) = points[k:k + 3]
        text += f" C{a:.1f},{b:.1f} {c:.1f},{d:.1f} {e:.1f},{g:.1f}"
    return text


# -- bp's own layout -------------------------------------------------------------------------
def _layers(f) -> list[int]:
    """Operations at 1 + their deepest operand's layer; inputs and constants one layer
    left of their first user, so a constant sits beside the operation it feeds."""
    layer = [0] * len(f)
    for i in range(len(f)):
        if f.args[i]:
            layer[i] = 1 + max(layer[a] for a in f.args[i])
    first_use = [None] * len(f)
    for p in range(len(f)):
        for c in f.args[p]:
            if not f.args[c]:
                first_use[c] = layer[p] - 1 if first_use[c] is None else min(first_use[c], layer[p] - 1)
    return [layer[i] if f.args[i] or first_use[i] is None else first_use[i] for i in range(len(f))]


def _order(f, layer: list[int]) -> list[list[int]]:
    """Nodes of each layer, ordered by the barycentre of their neighbours (a few sweeps
    each way): fewer crossings than node order."""
    count = max(layer) + 1 if layer else 0
    rows: list[list[int]] = [[] for _ in range(count)]
    for i in range(len(f)):
        rows[layer[i]].append(i)
    parents: list[list[int]] = [[] for _ in range(len(f))]
    for p in range(len(f)):
        for c in f.args[p]:
            parents[c].append(p)
    position = [0.0] * len(f)
    for row in rows:
        for k, i in enumerate(row):
            position[i] = k / max(len(row), 1)
    for sweep in range(4):
        down = sweep % 2 == 0
        for row in (rows[1:] if down else rows[-2::-1]):
            def centre(i, down=down):
                near = f.args[i] if down else parents[i]
                return sum(position[j] for j in near) / len(near) if near else position[i]
            row.sort(key=centre)
            for k, i in enumerate(row):
                position[i] = k / max(len(row), 1)
    return rows


def _layered(f, lines) -> dict:
    sizes = [_size(text) for text in lines]
    rows = _order(f, _layers(f))
    boxes: list = [None] * len(f)
    x = MARGIN
    heights = [sum(sizes[i][1] for i in row) + GAP_Y * (len(row) - 1) for row in rows]
    tallest = max(heights, default=0)
    for row, column_height in zip(rows, heights):
        y = MARGIN + (tallest - column_height) / 2
        widest = max((sizes[i][0] for i in row), default=0)
        for i in row:
            w, h = sizes[i]
            boxes[i] = (x + (widest - w) / 2, y, w, h)
            y += h + GAP_Y
        x += widest + GAP_X
    paths = []
    for p, _, c in _edges(f):
        cx, cy, cw, ch = boxes[c]
        px, py, _, ph = boxes[p]
        x0, y0, x1, y1 = cx + cw, cy + ch / 2, px - ARROW, py + ph / 2
        bend = max((x1 - x0) / 2, 20)
        paths.append(f"M{x0:.1f},{y0:.1f} C{x0 + bend:.1f},{y0:.1f} {x1 - bend:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
    return _result("bp", x - GAP_X + MARGIN, tallest + 2 * MARGIN, boxes, paths, f, lines)
