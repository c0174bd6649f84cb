"""Pictures of the computational graph: a Rich tree, Graphviz DOT, Mermaid, SVG and PNG.

Styled after the lecture's figures: forward values in blue above each edge, backward
numbers (the local gradient and its contribution) in red below, each node's value and adjoint
(∂out/∂node: docs/glossary.md); inputs, named intermediate nodes and the output each look
different. Deterministic: same input, same bytes.
"""

from __future__ import annotations

import shutil
import subprocess

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.numtext import count_text
from bpcli.engine.ops import shape_text
from bpcli.errors import LimitError, MissingDependency, UsageError, setting
from bpcli.views import labels as view
from bpcli.views import settings
from bpcli.views.explain import path_counts
from bpcli.views.numbers import show_inline
from bpcli.views.text import ascii_text


def show_number(v) -> str:
    """A value as the tables show it (arrays summarised, on one line; the node's title has
    the shape); '' for none (a tensor edge has a rule, not one local number)."""
    return "" if v is None else show_inline(v, shape=False)

FORMATS = ("tree", "dot", "mermaid", "svg", "png", "pdf", "tikz")
GRAPHVIZ = ("svg", "png", "pdf")  # drawn by Graphviz's dot program
FORWARD, BACKWARD = "#1565c0", "#c62828"  # blue values, red gradients


def role(f, i: int) -> str:
    """How a node is drawn: input, const, output, named (an intermediate with a name) or op."""
    if f.kinds[i] == INPUT:
        return "input"
    if f.kinds[i] == CONST:
        return "const"
    if i == f.output:
        return "output"
    return "named" if f.labels.get(i) else "op"


def title(f, i: int, result=None) -> str:
    """A node's title: its name or operation, and its shape where it is a tensor."""
    kind = f.kinds[i]
    if kind in (INPUT, CONST):
        text = view.label(f, i)
    else:
        head = f"n{i}: {view.show(f, i, lambda j: view.ref(f, j))}"
        text = f"{view.label(f, i)} = {head}" if f.labels.get(i) else head
    shapes = None if result is None else result.shapes  # a graph drawn without values has none
    if shapes and shapes[i]:
        text += f" (shape {shape_text(shapes[i])})"
    return text


# -- DOT ----------------------------------------------------------------------------------
def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


DOT_STYLE = {
    "input": 'shape=ellipse, style=filled, fillcolor="#e3f2fd"',
    "const": 'shape=plaintext',
    "op": 'shape=box, style="rounded"',
    "named": 'shape=box, style="rounded,filled", fillcolor="#fff8e1"',
    "output": 'shape=box, style="rounded,filled,bold", fillcolor="#e8f5e9"',
}


LARGE, FAN_OUT = 300, 3
HAZARD = "#c62828"


def _hazard_marks(result) -> dict[int, str]:
    """Node -> what to say on it: a numerical hazard at the point, and its stable form."""
    if result is None:
        return {}
    return {h.node: h.suggestion and f"try {h.suggestion}" or h.message.split(":")[0] for h in view.hazards(result)}


def _spread_leaves(f) -> set[int]:
    """In a large graph, the inputs and constants used more than FAN_OUT times: drawn beside
    each use, since an input feeding every layer makes Graphviz route edges across every
    rank (a few thousand nodes would take Graphviz minutes, or crash it)."""
    if len(f) <= LARGE:
        return set()
    uses = [0] * len(f)
    for args in f.args:
        for a in args:
            uses[a] += 1
    return {i for i in range(len(f)) if not f.args[i] and uses[i] > FAN_OUT}


def to_dot(f, result=None) -> str:
    """Graphviz DOT; with a result, values and adjoints on nodes, values, local gradients and contributions on edges."""
    lines = ["digraph bp {", "  rankdir=LR;", '  node [fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    spread = _spread_leaves(f)
    large = len(f) > LARGE
    marked = _hazard_marks(result)
    if large:
        lines.append(f"  // large graph: edge values in tooltips; {len(spread)} much-used inputs and "
                     "constants drawn beside each use")

    def label(i: int) -> str:
        heading = _html(title(f, i, result))
        if result is None:
            return f"<{heading}>"
        adj = result.adjoint(i)
        rows = f'{heading}<br/><font color="{FORWARD}">= {_html(show_number(result.values[i]))}</font>'
        if adj is not None:
            rows += f'<br/><font color="{BACKWARD}">adjoint = {_html(show_number(adj))}</font>'
        if i in marked:
            rows += f'<br/><font color="{HAZARD}">⚠ {_html(marked[i])}</font>'
        return f"<{rows}>"

    for i in range(len(f)):
        if i not in spread:
            mark = f', color="{HAZARD}", penwidth=2' if i in marked else ""
            lines.append(f"  n{i} [label={label(i)}, {DOT_STYLE[role(f, i)]}{mark}];")
    for parent in range(len(f)):
        for slot, child in enumerate(f.args[parent]):
            source = f"n{child}"
            if child in spread:
                source = f"n{child}_{parent}_{slot}"
                lines.append(f"  {source} [label={label(child)}, {DOT_STYLE[role(f, child)]}];")
            tip = f"operand {slot} of n{parent}"
            attrs = []
            if result is not None:
                value = show_number(result.values[child])
                local = show_number(result.local(parent)[slot]) if f.differentiable[child] else None
                local = local or None
                tip += f": value {value}" + (f", local gradient {local}" if local else "")
                if not large:  # edge labels cost Graphviz a node each: a large graph has tooltips
                    text = f'<font color="{FORWARD}">{_html(value)}</font>'
                    if local:
                        text += f'<br/><font color="{BACKWARD}">local {_html(local)}</font>'
                    attrs.append(f"label=<{text}>")
            attrs.insert(0, f"tooltip={_dot_string(tip)}")
            lines.append(f"  {source} -> n{parent} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Mermaid ------------------------------------------------------------------------------
def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


MERMAID_SHAPE = {"input": ("([", "])"), "const": ("[", "]"), "op": ("(", ")"), "named": ("(", ")"),
                 "output": ("[[", "]]")}


def to_mermaid(f, result=None) -> str:
    """A Mermaid flowchart, as GitHub and GitLab render in Markdown."""
    lines = ["flowchart LR"]
    for i in range(len(f)):
        text = title(f, i, result)
        if result is not None:
            text += f"\n= {show_number(result.values[i])}"
            if result.adjoint(i) is not None:
                text += f"\nadjoint = {show_number(result.adjoint(i))}"
        left, right = MERMAID_SHAPE[role(f, i)]
        lines.append(f"  n{i}{left}{_mermaid_text(text)}{right}")
    for parent in range(len(f)):
        for slot, child in enumerate(f.args[parent]):
            if result is None:
                lines.append(f"  n{child} --> n{parent}")
                continue
            text = show_number(result.values[child])
            if f.differentiable[child]:
                text += f" / ∂ {show_number(result.local(parent)[slot])}"
            lines.append(f"  n{child} -->|{_mermaid_text(text)}| n{parent}")
    lines.append("  classDef input fill:#e3f2fd;")
    lines.append("  classDef output fill:#e8f5e9,stroke-width:2px;")
    roles = {r: [f"n{i}" for i in range(len(f)) if role(f, i) == r] for r in ("input", "output")}
    for kind, ids in roles.items():
        if ids:
            lines.append(f"  class {','.join(ids)} {kind};")
    return "\n".join(lines) + "\n"


def for_stdout(source: str, fmt: str) -> str:
    """DOT or Mermaid source as standard output can take it: on an ASCII-only stream bp's
    symbols spelled out as everywhere else, other characters as the format's own entities."""
    if not settings.current().ascii:
        return source
    entity = "&#{};" if fmt == "dot" else "#{};"
    return ascii_text(source, lambda c: entity.format(ord(c)))


# -- Graphviz programs -------------------------------------------------------------------------
def render_with_graphviz(dot: str, fmt: str) -> bytes:
    """SVG, PNG or PDF bytes from Graphviz's `dot` program."""
    program = shutil.which("dot")
    if program is None:
        raise MissingDependency(f"{setting('format', fmt)} needs Graphviz's dot program, which is not installed",
                                hint="apt install graphviz (Debian, Ubuntu), brew install graphviz (macOS); "
                                     f"or use {setting('format', 'dot')} or mermaid")
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True,
                              timeout=GRAPHVIZ_SECONDS)
    except subprocess.TimeoutExpired:
        raise LimitError(f"Graphviz did not finish the picture in {GRAPHVIZ_SECONDS} s",
                         hint=f"lower {setting('max_nodes')}, or write {setting('format', 'dot')} and run dot "
                              "yourself") from None
    if done.returncode != 0:
        raise UsageError(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout


# -- Rich tree ------------------------------------------------------------------------------
GRAPHVIZ_SECONDS = 300  # what Graphviz may take for a picture within --max-nodes


def check_nodes(f, max_nodes: int, fmt: str) -> None:
    """Refuse a Graphviz picture of more than `max_nodes` nodes (0: no limit) before drawing it."""
    if max_nodes and len(f) > max_nodes:
        raise LimitError(f"the graph has {len(f):,} nodes, more than the {max_nodes:,} a {setting('format', fmt)} "
                         "picture draws (Graphviz would take minutes)",
                         hint=f"raise the limit with {setting('max_nodes', 'N')} (0: none), or write "
                              f"{setting('format', 'dot')} or mermaid")


def _tree_size(f, fold: bool) -> tuple[int, int]:
    """Lines and levels of the tree, counted without drawing it (--no-fold: exact integers,
    since a tree that repeats shared subtrees grows exponentially with the graph)."""
    if fold:
        plan = _plan(f, fold=True)
        return len(plan), max(depth for _, depth, _ in plan)
    depth = [0] * len(f)
    for i in range(f.output, -1, -1):
        for a in f.args[i]:
            depth[a] = max(depth[a], depth[i] + 1)
    counts = path_counts(f)
    return sum(counts), max(d for d, c in zip(depth, counts) if c)


def check_tree(f, fold: bool, max_nodes: int, max_depth: int) -> None:
    """Refuse a tree of more than `max_nodes` lines or `max_depth` levels (0: no limit)."""
    if not max_nodes and not max_depth:  # nothing to refuse: tree_lines plans the tree once
        return
    lines, levels = _tree_size(f, fold)
    other = (f"{setting('format', 'svg')} or dot" if not max_nodes or len(f) <= max_nodes
             else setting("format", "dot")) + ("" if fold else f", or drop {setting('no_fold')}")
    if max_nodes and lines > max_nodes:
        raise LimitError(f"the tree would draw {count_text(lines)} lines, more than the limit of {max_nodes:,}",
                         hint=f"raise the limit with {setting('max_nodes', 'N')} (0: none), or use {other}")
    if max_depth and levels > max_depth:
        raise LimitError(f"the tree would be {levels:,} levels deep ({4 * levels:,} columns), more than the "
                         f"limit of {max_depth:,}",
                         hint=f"raise the limit with {setting('max_depth', 'N')} (0: none), or use {other}")


def _plan(f, fold: bool) -> list[tuple[int, int, bool]]:
    """The tree's lines in drawing order: (node, depth, drawn before); depth first, no recursion.
    "Drawn before" is decided when a line is drawn, so a shared node is drawn whole where it
    first appears and referred to below it, never above."""
    plan = []
    seen = [False] * len(f)
    stack = [(f.output, 0)]
    while stack:
        node, depth = stack.pop()
        again = fold and seen[node] and bool(f.args[node])
        plan.append((node, depth, again))
        if again:
            continue
        seen[node] = True
        stack.extend((child, depth + 1) for child in reversed(f.args[node]))
    return plan


GUIDES = {False: ("├── ", "└── ", "│   ", "    "), True: ("+-- ", "`-- ", "|   ", "    ")}


def _last_children(plan: list) -> list[bool]:
    """For each line of the plan, whether it is its parent's last child (scanned backwards)."""
    last = [True] * len(plan)
    later: list[bool] = []  # later[d]: a later line at depth d under the same parent
    for k in range(len(plan) - 1, -1, -1):
        depth = plan[k][1]
        del later[depth + 1:]
        later.extend([False] * (depth + 1 - len(later)))
        last[k] = not later[depth]
        later[depth] = True
    return last


def tree_lines(f, result=None, fold: bool = True, ascii_only: bool = False) -> list:
    """The tree from the output down, as Rich Text lines (guides, then the node); a shared node
    is drawn once, then referred to. Lines, not a Rich Tree: a tree deeper than the width would
    lose its deep levels silently, where a line can be cut and the cut said."""
    from rich.text import Text

    def label(i: int, again: bool) -> Text:
        text = Text(title(f, i, result), style="bold" if role(f, i) in ("output", "named") else "")
        if result is not None:
            text.append(f"  = {show_number(result.values[i])}", style="blue")
            if result.adjoint(i) is not None:
                text.append(f"  adjoint = {show_number(result.adjoint(i))}", style="red")
        if again:
            text.append("  (shown above)", style="dim")
        return text

    fork, corner, through, blank = GUIDES[ascii_only]
    plan = _plan(f, fold)
    last = _last_children(plan)
    lines = []
    guides: list[str] = []  # what each open level draws on the lines below it
    for k, (node, depth, again) in enumerate(plan):
        del guides[max(depth - 1, 0):]
        prefix = "".join(guides) + (corner if last[k] else fork) if depth else ""
        if depth:
            guides.append(blank if last[k] else through)
        lines.append(Text(prefix) + label(node, again))
    return lines


def tree_text(lines: list) -> str:
    """The tree's lines as plain text, each whole (no width to cut it to)."""
    return "".join(line.plain + "\n" for line in lines)


def cut_lines(lines: list, width: int) -> tuple[int, int]:
    """How many lines are wider than `width` columns, and how wide the widest is."""
    widths = [line.cell_len for line in lines]
    return sum(w > width for w in widths), max(widths, default=0)
