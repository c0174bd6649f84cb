"""The classic mistakes in words: a wrong backward pass (bpcli.engine.mistakes) beside the
right one, as a table, a verdict (where they part and why, or why this formula is immune) and
a JSON member."""

from __future__ import annotations

from bpcli.engine import mistakes as wrong
from bpcli.views.documents import json_number
from bpcli.views.labels import label, ref
from bpcli.views.numbers import show_number
from bpcli.views.tables import add_row, shown, table
from bpcli.views.text import plain

# One line each, for `--mistake list` and the JSON's description.
LINES = {
    "recursive": "backward as a depth-first recursion, no topological order: a node passes its gradient on "
                 "at its first contribution, so a reused non-leaf node (b = a + a; c = b + b) loses the rest",
    "assign": "c.grad = … instead of c.grad += …: a node used twice (x*x) keeps only its last contribution",
    "detach": "a path cut off, as .detach(), .item() or .data do: detach:NODE cuts every use of NODE "
              "(an id such as n4 or a name); alone, the last use of the first reused node (x * x.detach())",
    "no-zero-grad": "bp train: gradients never zeroed between steps, so each step adds the earlier steps' "
                    "gradients (the second step's is twice the first's where the data repeat)",
}


def name_of(f, i: int) -> str:
    """n4, with its name if it has one: n4 (r)."""
    own = label(f, i)
    return f"n{i} ({own})" if own else f"n{i}"


def _edge_text(f, parent: int, slot: int) -> str:
    return f"{name_of(f, parent)} ← {name_of(f, f.args[parent][slot])}"


class Comparison:
    """A mistake run on one result: its table, its verdict and its JSON member."""

    def __init__(self, result, mistaken: wrong.Mistaken):
        self.result, self.mistaken = result, mistaken

    @property
    def gradient(self) -> dict:
        return {name: self.mistaken.adjoints[i] for name, i in self.result.formula.inputs.items()}

    def verdict(self) -> str:
        """Where the passes part and why, or why they cannot part on this formula."""
        return {"recursive": self._recursive, "assign": self._assign, "detach": self._detach}[self.mistaken.name]()

    def _parted(self) -> str:
        f, m, i = self.result.formula, self.mistaken, self.mistaken.first
        return (f"The passes part at {name_of(f, i)}: the wrong pass gives {show_number(m.adjoints[i])}, "
                f"the right one {show_number(self.result.adjoints[i])}.")

    def _recursive(self) -> str:
        f, m = self.result.formula, self.mistaken
        if m.first is None:
            if not m.reused:
                return ("Immune: no non-leaf node is reused (each gets its gradient along one edge), so every node "
                        "holds all of its gradient when it fires, in any order. Reuse one (b = a + a; c = b + b) "
                        "to see the order matter.")
            return (f"The same here by chance: {', '.join(name_of(f, i) for i in m.reused[:3])} "
                    f"{'is' if len(m.reused) == 1 else 'are'} reused, but the contributions that arrived late "
                    "are 0 at this point.")
        v, held = m.early[0]
        total = m.adjoints[v]
        uses = wrong.incoming(f)[v]
        return (f"{self._parted()} Why: {name_of(f, v)} is used by {uses} edges and fired (passed its gradient on) "
                f"when the first had arrived, holding {show_number(held)} of its {show_number(total)}; what "
                "arrived later stopped there. A topological order fires a node only after every node that uses it.")

    def _assign(self) -> str:
        f, m = self.result.formula, self.mistaken
        if m.first is None:
            if not m.reused:
                return ("Immune: no node is used twice (a tree), so every adjoint receives one contribution and "
                        "= and += agree. Use a node twice (x*x) to see = lose one.")
            return "The same here by chance: the contributions = overwrote are 0 at this point."
        cause = max(i for i, lost in m.lost.items() if any(x != 0 for x in lost))
        dropped = " and ".join(show_number(x) for x in m.lost[cause])
        return (f"{self._parted()} Why: {name_of(f, cause)} is used by {wrong.incoming(f)[cause]} edges; = kept "
                f"the last contribution, {show_number(m.adjoints[cause])}, and overwrote {dropped}; += adds them "
                f"all: {show_number(self.result.adjoints[cause])}.")

    def _detach(self) -> str:
        f, m = self.result.formula, self.mistaken
        cut = "; ".join(_edge_text(f, p, s) for p, s in m.cut)
        head = f"Cut: {cut}."
        if m.first is None:
            return f"{head} The cut changes nothing here: what that path carries is 0 at this point."
        below = [n for n, i in f.inputs.items() if self.gradient[n] != self.result.gradient[n]]
        return (f"{head} {self._parted()} Why: the cut edge{'s carry' if len(m.cut) > 1 else ' carries'} "
                f"nothing, so {ref(f, m.first)} and everything below it lose that path's share of the gradient"
                + (f": ∂/∂{', ∂/∂'.join(below)} {'is' if len(below) == 1 else 'are'} wrong." if below else "."))

    # -- faces ------------------------------------------------------------------------
    def printed(self, limit: int | None) -> list:
        """The table of both passes' adjoints, output first, and the verdict."""
        from rich.text import Text

        f, m, right = self.result.formula, self.mistaken, self.result.adjoints
        made = table(f"Mistake: {m.name}, beside the right pass",
                     "node", "label", "right adjoint", "wrong adjoint", "same", numeric_columns=("right adjoint",
                                                                                                 "wrong adjoint"))
        made.columns[-1].no_wrap = True
        rows = [i for i in range(len(f) - 1, -1, -1) if f.differentiable[i]]
        for i in shown(made, rows, limit):
            agree = i != m.first and wrong.same(m.adjoints[i], right[i], max(1.0, abs(right[i])))
            mark = Text(plain("✓" if agree else "✗"), style="green" if agree else "bold red")
            if i == m.first:
                mark = Text(plain("✗ first"), style="bold red")
            add_row(made, f"n{i}", label(f, i), show_number(right[i]), show_number(m.adjoints[i]), mark)
        return [made, Text(plain(self.verdict()))]

    def document(self) -> dict:
        """The `mistake` member of bp grad --json."""
        f, m = self.result.formula, self.mistaken
        doc = {
            "name": m.name,
            "description": LINES[m.name],
            "adjoints": {f"n{i}": json_number(m.adjoints[i]) for i in range(len(f)) if f.differentiable[i]},
            "gradient": {name: json_number(g) for name, g in self.gradient.items()},
            "first": None if m.first is None else f"n{m.first}",
            "immune": m.first is None and not m.reused,
            "exposed": [f"n{i}" for i in m.reused],
            "verdict": self.verdict(),
        }
        if m.name == "recursive":
            doc["fired_early"] = [{"node": f"n{v}", "held": json_number(held)} for v, held in m.early]
        if m.name == "assign":
            doc["overwritten"] = {f"n{i}": [json_number(x) for x in lost] for i, lost in sorted(m.lost.items())}
        if m.name == "detach":
            doc["cut"] = [{"parent": f"n{p}", "slot": s, "child": f"n{f.args[p][s]}"} for p, s in m.cut]
        return doc


def run(result, name: str, cut: list | None = None) -> Comparison:
    """The named mistake (recursive, assign, detach with its edges) on a scalar result."""
    if name == "recursive":
        return Comparison(result, wrong.recursive(result))
    if name == "assign":
        return Comparison(result, wrong.assign(result))
    return Comparison(result, wrong.detach(result, cut or []))


def listing(width: int = 80) -> str:
    """--mistake list: each mistake's name and its line, folded to `width`."""
    import textwrap

    pad = max(map(len, LINES)) + 2
    return "\n".join(textwrap.fill(line, width, initial_indent=f"{name:<{pad}}", subsequent_indent=" " * pad)
                     for name, line in LINES.items())
