"""The computational graph: a hash-consed DAG built node by node, then frozen into a tape.

Nodes are integers. A node is created only after its operands, so creation order
is already a topological order: no sort (and no recursion) is ever needed.
"""

from __future__ import annotations

import math

from bpcli.engine.numtext import number_text
from bpcli.engine.ops import CONST, INPUT
from bpcli.engine.tape import Formula

__all__ = ["CONST", "INPUT", "NAMED_CONSTANTS", "GraphBuilder"]
# The language's named constants: their value, and their name in SymPy.
NAMED_CONSTANTS = {"pi": (math.pi, "pi"), "e": (math.e, "E")}


class GraphBuilder:
    """Collects nodes; structurally identical nodes are one node (hash-consing)."""

    def __init__(self) -> None:
        self.kinds: list[str] = []  # op name, INPUT or CONST
        self.args: list[tuple[int, ...]] = []
        self.consts: dict[int, float] = {}
        self.names: dict[int, str] = {}  # input node -> name; constant -> its text
        self.labels: dict[int, list[str]] = {}  # node -> names bound to it
        self.params: dict[int, tuple] = {}  # node -> static parameters (an axis, indices)
        self._index: dict[tuple, int] = {}

    def _add(self, key: tuple, kind: str, args: tuple[int, ...]) -> int:
        node = self._index.get(key)
        if node is None:
            node = self._index[key] = len(self.kinds)
            self.kinds.append(kind)
            self.args.append(args)
        return node

    def input(self, name: str) -> int:
        node = self._add((INPUT, name), INPUT, ())
        self.names[node] = name
        return node

    def const(self, value: float, text: str | None = None) -> int:
        text = text or number_text(value)
        node = self._add((CONST, text if text in NAMED_CONSTANTS else value.hex()), CONST, ())
        self.consts[node] = value
        self.names.setdefault(node, text)
        return node

    def apply(self, op: str, args: tuple[int, ...]) -> int:
        return self._add((op, args), op, args)

    def apply_with(self, op: str, args: tuple[int, ...], params: tuple) -> int:
        """An operation with static parameters, which are part of its identity: sum(A, 0)
        and sum(A, 1) are two nodes."""
        node = self._add((op, args, params), op, args)
        self.params[node] = params
        return node

    def insert(self, formula, env: dict[str, int]) -> list[int]:
        """Copy a frozen formula into this graph, its inputs replaced by `env`'s nodes;
        the new id of every node."""
        ids: list[int] = []
        for i, kind in enumerate(formula.kinds):
            if kind == INPUT:
                name = formula.names[i]
                node = env[name] if name in env else self.input(name)
            elif kind == CONST:
                node = self.const(formula.consts[i], formula.names[i])
            elif i in formula.params:
                node = self.apply_with(kind, tuple(ids[a] for a in formula.args[i]), formula.params[i])
            else:
                node = self.apply(kind, tuple(ids[a] for a in formula.args[i]))
            for label in formula.labels.get(i, []):
                self.bind(label, node)
            ids.append(node)
        return ids

    def bind(self, name: str, node: int) -> None:
        self.labels.setdefault(node, []).append(name)

    def freeze(self, output: int, text: str = "") -> Formula:
        """The tape of the nodes the output depends on, renumbered in topological order."""
        keep = [False] * (output + 1)
        keep[output] = True
        for node in range(output, -1, -1):
            if keep[node]:
                for a in self.args[node]:
                    keep[a] = True
        self.renumbered: dict[int, int] | None = None  # old id -> frozen id; None: the same
        if len(keep) == len(self.kinds) and all(keep):  # no dead code: the ids stay as they are
            return Formula(text=text, kinds=list(self.kinds), args=list(self.args),
                           consts=dict(self.consts), names=dict(self.names), labels=dict(self.labels),
                           params=dict(self.params))
        new_id: dict[int, int] = {}
        for old, kept in enumerate(keep):
            if kept:
                new_id[old] = len(new_id)
        self.renumbered = new_id
        return Formula(
            text=text,
            kinds=[self.kinds[o] for o in new_id],
            args=[tuple(map(new_id.__getitem__, self.args[o])) for o in new_id],
            consts={new_id[o]: v for o, v in self.consts.items() if o in new_id},
            names={new_id[o]: s for o, s in self.names.items() if o in new_id},
            labels={new_id[o]: ls for o, ls in self.labels.items() if o in new_id},
            params={new_id[o]: p for o, p in self.params.items() if o in new_id},
        )


def incoming(f) -> list[int]:
    """How many edges carry a gradient into each node: more than one, and the node's adjoint is
    their sum (the accumulation, +=, of a reused node)."""
    count = [0] * len(f)
    for operands in f.args:
        for a in operands:
            if f.differentiable[a]:
                count[a] += 1
    return count
