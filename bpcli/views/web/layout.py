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
PAD_X, PAD_Y = 10, 6
GAP_X, GAP_Y = 56, 22  # between layers, between nodes of a layer
GRID_SIDE = 8  # a tensor of at most 2 axes and 8 × 8 entries is drawn as a grid of its entries
CELL_H = 17  # px per grid row
CELL_BARE = 14  # px per grid column when its numbers do not fit (a coloured cell, the number on hover)
CELL_CHARS = 7  # the longest number a cell writes
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
        return "[" + "×".join(map(str, nested_shape(v))) + "]"
    return number_text(v, 6)


def nested_shape(v: list) -> list[int]:
    """The shape of an array written as nested lists (a JSON document's)."""
    shape = []
    while isinstance(v, list):
        shape.append(len(v))
        v = v[0] if v else None
    return shape


def _flat(v) -> list:
    out, todo = [], [v]
    while todo:
        x = todo.pop()
        if isinstance(x, list):
            todo.extend(reversed(x))
        else:
            out.append(x)
    return out


def summary(v) -> str:
    """A large array's shape and range: [64×64] −1.2 … 3.4."""
    flat = [float(x) for x in _flat(v) if not isinstance(x, str)]
    if not flat:
        return short(v)
    return f"{short(v)} {number_text(min(flat), 3)} … {number_text(max(flat), 3)}".replace("-", "−")


def grid(node: dict) -> dict | None:
    """The grid a tensor node draws its entries in (a vector as a column), or None: a number,
    an array of more than 2 axes or more than GRID_SIDE entries a side."""
    v = node["value"]
    if not isinstance(v, list) or not v:
        return None
    rows, cols = (len(v), len(v[0])) if isinstance(v[0], list) else (len(v), 1)
    if rows > GRID_SIDE or cols > GRID_SIDE or (cols > 1 and any(isinstance(x, list) for x in v[0])):
        return None
    if isinstance(v[0], list) and not v[0]:
        return None
    texts = [short(x) for x in _flat(v) + (_flat(node["adjoint"]) if node["adjoint"] is not None else [])]
    chars = max(map(len, texts))
    width = chars * CHAR + 6 if chars <= CELL_CHARS else CELL_BARE
    return {"rows": rows, "cols": cols, "cw": round(width, 1), "ch": CELL_H, "numbers": chars <= CELL_CHARS}


def node_lines(f, doc: dict) -> list[list[str]]:
    """The text lines of every node box: its title, its value, its adjoint (if any); a large
    array by its shape and range."""
    out = []
    for i, node in enumerate(doc["nodes"]):
        big = isinstance(node["value"], list) and grid(node) is None
        text = summary if big else short
        lines = [title(f, i), "= " + text(node["value"])]
        if node["adjoint"] is not None:
            lines.append("∂ " + text(node["adjoint"]))
        out.append(lines)
    return out


def _size(lines: list[str], cells: dict | None = None) -> tuple[float, float]:
    w, h = max(map(len, lines)) * CHAR, len(lines) * LINE
    if cells:  # a grid under the value line, another under the adjoint's
        w = max(w, cells["cols"] * cells["cw"])
        h += (len(lines) - 1) * (cells["rows"] * cells["ch"] + 4)
    return w + 2 * PAD_X, h + 2 * PAD_Y


def layout(f, doc: dict, engine: str = "auto") -> dict:
    """The layout of the graph: engine 'graphviz', 'bp', or 'auto' (Graphviz for graphs of
    at most pictures.LARGE nodes when dot is installed: beyond, it takes seconds)."""
    lines = node_lines(f, doc)
    grids = [grid(n) for n in doc["nodes"]]
    want_dot = engine == "graphviz" or (engine == "auto" and len(f) <= LARGE)
    if want_dot and shutil.which("dot"):
        found = _graphviz(f, lines, grids)
        if found is not None:
            return found
    return _layered(f, lines, grids)


def _edges(f):
    """(parent, slot, child) for every operand slot, in node order."""
    return [(p, s, c) for p in range(len(f)) for s, c in enumerate(f.args[p])]


def _result(source: str, width: float, height: float, boxes: list, paths: list, f, lines, grids) -> dict:
    return {
        "engine": source,
        "width": round(width, 1), "height": round(height, 1),
        "nodes": [{"id": f"n{i}", "x": round(x, 1), "y": round(y, 1), "w": round(w, 1), "h": round(h, 1),
                   "role": role(f, i), "show": view.show(f, i), "lines": lines[i],
                   **({"grid": grids[i]} if grids[i] else {})}
                  for i, (x, y, w, h) in enumerate(boxes)],
        "edges": [{"parent": f"n{p}", "slot": s, "child": f"n{c}", "path": path}
                  for (p, s, c), path in zip(_edges(f), paths)],
    }


# -- Graphviz --------------------------------------------------------------------------
def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _graphviz(f, lines, grids):
    """Graphviz's layout (dot -Tplain), or None if dot fails or takes too long."""
    dot = ["digraph bp {", "  rankdir=LR; nodesep=0.25; ranksep=0.5;",
           f'  node [shape=box, fontname="Helvetica", fontsize={FONT}, margin="0.15,0.08"];']
    for i, text in enumerate(lines):
        w, h = _size(text, grids[i])
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
    return _read_plain(done.stdout.decode(), f, lines, grids)


def _read_plain(text: str, f, lines, grids):
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
    return _result("graphviz", width + 2 * MARGIN, height + 2 * MARGIN, boxes, paths, f, lines, grids)


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


def _layered(f, lines, grids) -> dict:
    sizes = [_size(text, cells) for text, cells in zip(lines, grids)]
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
    return _result("bp", x - GAP_X + MARGIN, tallest + 2 * MARGIN, boxes, paths, f, lines, grids)
