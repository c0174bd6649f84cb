"""The classic mistakes in words: a wrong backward pass (bpcli.engine.mistakes) beside the
right one, as a table, a verdict (where they part and why, or why this formula is immune) and
a JSON member; on numbers and on tensors (arrays shown as the other tables show them, in full
in JSON)."""

from __future__ import annotations

import math
import textwrap

from bpcli.engine import mistakes as wrong
from bpcli.engine.numtext import count_text
from bpcli.engine.values import is_number
from bpcli.views.documents import json_number, json_value
from bpcli.views.labels import label, ref
from bpcli.views.numbers import count_json, show_inline, show_number, show_value
from bpcli.views.tables import add_row, shown, table
from bpcli.views.text import plain
from bpcli.views.training import sample_epochs

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


def said(v) -> str:
    """An adjoint in a sentence: a number as the tables show it, an array on one line."""
    return show_number(v) if is_number(v) else show_inline(v, 40)


def _nonzero(v) -> bool:
    if is_number(v):
        return v != 0
    import numpy as np  # deferred: numpy, for tensor results only

    return bool(np.any(np.asarray(v) != 0))


def _agree(a, b) -> bool:
    """The two passes' adjoints of one node the same up to rounding (the tables' ✓)."""
    return wrong.same(a, b, max(1.0, wrong.magnitude(b)))


class Comparison:
    """A mistake run on one result: its table, its verdict and its JSON member."""

    def __init__(self, result, mistaken: wrong.Mistaken):
        self.result, self.mistaken = result, mistaken

    @property
    def gradient(self) -> dict:
        """The wrong pass's gradient, of the inputs the right pass gives one."""
        inputs = self.result.formula.inputs
        return {name: self.mistaken.adjoints[inputs[name]] for name in self.result.gradient}

    def parted(self) -> list[int]:
        """The nodes, output first, whose adjoints the two passes give differently."""
        live, right, m = self.result.carrying, self.result.adjoints, self.mistaken
        return [i for i in range(len(right) - 1, -1, -1) if live[i] and (i == m.first
                                                                         or not _agree(m.adjoints[i], right[i]))]

    def verdict(self) -> str:
        """Where the passes part and why, or why they cannot part on this formula."""
        return {"recursive": self._recursive, "assign": self._assign, "detach": self._detach}[self.mistaken.name]()

    def _parted(self) -> str:
        f, m, i = self.result.formula, self.mistaken, self.mistaken.first
        return (f"The passes part at {name_of(f, i)}: the wrong pass gives {said(m.adjoints[i])}, "
                f"the right one {said(self.result.adjoints[i])}.")

    def _recursive(self) -> str:
        return self._recursive_why() + self._cost()

    def _recursive_why(self) -> str:
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
        uses = wrong.uses(self.result)[v]
        return (f"{self._parted()} Why: {name_of(f, v)} is used by {uses} edges and fired (passed its gradient on) "
                f"when the first had arrived, holding {said(held)} of its {said(total)}; what "
                "arrived later stopped there. A topological order fires a node only after every node that uses it.")

    def _cost(self) -> str:
        """What the right recursion costs, a call per path, where it calls a node more than once."""
        nodes, calls = self.mistaken.visits
        if calls == nodes:
            return ""
        return (" Passing each path's own share down instead (backward(c, g · local), no visited set) gets every "
                f"number right with a call per path: {count_text(calls)} calls for {count_text(nodes)} nodes.")

    def _assign(self) -> str:
        f, m = self.result.formula, self.mistaken
        if m.first is None:
            if not m.reused:
                return ("Immune: no node is used twice (a tree), so every adjoint receives one contribution and "
                        "= and += agree. Use a node twice (x*x) to see = lose one.")
            return "The same here by chance: the contributions = overwrote are 0 at this point."
        cause = max(i for i, lost in m.lost.items() if any(_nonzero(x) for x in lost))
        dropped = " and ".join(said(x) for x in m.lost[cause])
        return (f"{self._parted()} Why: {name_of(f, cause)} is used by {wrong.uses(self.result)[cause]} edges; = kept "
                f"the last contribution, {said(m.adjoints[cause])}, and overwrote {dropped}; += adds them "
                f"all: {said(self.result.adjoints[cause])}.")

    def _detach(self) -> str:
        f, m = self.result.formula, self.mistaken
        cut = "; ".join(_edge_text(f, p, s) for p, s in m.cut)
        head = f"Cut: {cut}."
        if m.first is None:
            carries = self.result.carries
            if not any(carries(p, s, f.args[p][s]) for p, s in m.cut):
                return (f"{head} The cut changes nothing: no gradient flows along "
                        f"{'these edges' if len(m.cut) > 1 else 'that edge'}, cut or not (a comparison's operand, "
                        "a class label or an index).")
            return f"{head} The cut changes nothing here: what that path carries is 0 at this point."
        below = [n for n, g in self.gradient.items() if not _agree(g, self.result.gradient[n])]
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
        live, parted = self.result.carrying, set(self.parted())
        rows = [i for i in range(len(f) - 1, -1, -1) if live[i]]
        for i in shown(made, rows, limit):
            agree = i not in parted
            mark = Text(plain("✓" if agree else "✗"), style="green" if agree else "bold red")
            if i == m.first:
                mark = Text(plain("✗ first"), style="bold red")
            add_row(made, f"n{i}", label(f, i), show_value(right[i], 20), show_value(m.adjoints[i], 20), mark)
        return [made, Text(plain(self.verdict()))]

    def document(self) -> dict:
        """The `mistake` member of bp grad --json."""
        f, m, live = self.result.formula, self.mistaken, self.result.carrying
        doc = {
            "name": m.name,
            "description": LINES[m.name],
            "adjoints": {f"n{i}": json_value(m.adjoints[i]) for i in range(len(f)) if live[i]},
            "gradient": {name: json_value(g) for name, g in self.gradient.items()},
            "first": None if m.first is None else f"n{m.first}",
            "parted": [f"n{i}" for i in self.parted()],
            "immune": m.first is None and not m.reused,
            "exposed": [f"n{i}" for i in m.reused],
            "verdict": self.verdict(),
        }
        if m.name == "recursive":
            doc["fired_early"] = [{"node": f"n{v}", "held": json_value(held)} for v, held in m.early]
            doc["visits"] = {"nodes": m.visits[0], "per_path": count_json(m.visits[1])}
        if m.name == "assign":
            doc["overwritten"] = {f"n{i}": [json_value(x) for x in lost] for i, lost in sorted(m.lost.items())}
        if m.name == "detach":
            doc["cut"] = [{"parent": f"n{p}", "slot": s, "child": f"n{f.args[p][s]}"} for p, s in m.cut]
        return doc


def run(result, name: str, cut: list | None = None) -> Comparison:
    """The named mistake (recursive, assign, detach with its edges) on a result of one number,
    of numbers or of tensors."""
    if name == "recursive":
        return Comparison(result, wrong.recursive(result))
    if name == "assign":
        return Comparison(result, wrong.assign(result))
    return Comparison(result, wrong.detach(result, cut or []))


def listing(width: int = 80) -> str:
    """--mistake list: each mistake's name and its line, folded to `width`."""
    pad = max(map(len, LINES)) + 2
    return "\n".join(textwrap.fill(line, width, initial_indent=f"{name:<{pad}}", subsequent_indent=" " * pad)
                     for name, line in LINES.items())


# -- no-zero-grad: a training run beside the right one ------------------------------------------
def _size(grads: dict) -> float:
    """The length of every parameter's gradient taken together (a float's is its |value|)."""
    total = 0.0
    for g in grads.values():
        if is_number(g):
            total += float(g) * float(g)
        else:
            import numpy as np  # deferred: numpy, for tensor parameters only

            total += float(np.sum(np.square(np.asarray(g, dtype=np.float64))))
    return math.sqrt(total)


def _ratio(own: dict, used: dict) -> float:
    size = _size(own)
    return _size(used) / size if size else float("inf")


class TrainingComparison:
    """bp train --mistake no-zero-grad: the run that never zeroes its gradients beside the right
    run, epoch by epoch, and what its first two steps show."""

    def __init__(self, right, wrong, first_steps: list):
        self.right, self.wrong, self.first_steps = right, wrong, first_steps

    def verdict(self) -> str:
        parts = ["Without zeroing, every backward pass adds to the gradients already there, so each step "
                 "uses the sum of every gradient since the first."]
        if len(self.first_steps) < 2:
            return parts[0] + (" Immune here: one step only, so nothing came before it to add to, and the two "
                               "runs are the same. Train for more steps to see it.")
        if len(self.first_steps) == 2:
            own, used = self.first_steps[1]
            p = next(iter(own))
            parts.append(f"At the second step ∂loss/∂{p} is {show_number(_plain(own[p]))} of its own, but the "
                         f"step used {show_number(_plain(used[p]))}: {_ratio(own, used):.3g}× its own size.")
        right, wrong = self.right.epochs, self.wrong.epochs
        if self.wrong.diverged is not None:
            parts.append(f"Training diverged in epoch {len(wrong)}; with zeroing it ends at a mean loss of "
                         f"{show_number(right[-1].loss)}.")
        elif right and wrong:
            parts.append(f"After {len(wrong)} epoch{'s' if len(wrong) > 1 else ''} the mean loss is "
                         f"{show_number(wrong[-1].loss)}; with "
                         f"zeroing, {show_number(right[-1].loss)}.")
        return " ".join(parts)

    def printed(self) -> list:
        from rich.text import Text

        made = table("Mistake: no-zero-grad, beside the right training", "epoch", "mean loss",
                     "no-zero-grad loss", "used/own grad", numeric_columns=("epoch", "mean loss", "no-zero-grad loss",
                                                                            "used/own grad"))
        wrong, picked = self.wrong.epochs, sample_epochs(self.right.epochs)
        if len(picked) > 2 and picked[1].epoch != 1:  # the second epoch always: where the sum first shows
            picked.insert(1, self.right.epochs[1])
        for e in picked:
            w = wrong[e.epoch] if e.epoch < len(wrong) else None
            add_row(made, str(e.epoch), show_number(e.loss), "diverged" if w is None else show_number(w.loss),
                    "–" if w is None else f"{_ratio(w.fresh, w.used):.3g}×")
        return [made, Text(plain(self.verdict()))]

    def document(self) -> dict:
        """The `mistake` member of bp train --json."""
        return {
            "name": "no-zero-grad",
            "description": LINES["no-zero-grad"],
            "loss": [json_number(e.loss) for e in self.wrong.epochs],
            "used_over_own": [json_number(_ratio(e.fresh, e.used)) for e in self.wrong.epochs],
            "first_steps": [{"own": {p: json_number(_plain(g)) for p, g in own.items()},
                             "used": {p: json_number(_plain(g)) for p, g in used.items()}}
                            for own, used in self.first_steps],
            "params": {p: json_value(v) for p, v in self.wrong.params.items()},
            "diverged": self.wrong.diverged is not None,
            "verdict": self.verdict(),
        }


def _plain(g):
    """A gradient as one number: a float, or a tensor's length."""
    return g if isinstance(g, float) else _size({"g": g})
