"""The page's walk through the passes, in one place: the steps bp view's page plays (its data
carries them) and bp graph --step draws.

    step 0                 the start: nothing computed
    steps 1 … N            the forward pass, node by node (after step k, nodes 0 … k-1 have values)
    step N+1               the seed: the output's adjoint is 1
    steps N+2 … N+1+E      the backward pass, edge by edge in the order of the document's edges
                           (each sends its contribution to its child's adjoint)
    the last step          the result

A formula whose output depends on no input has no backward steps (no seed, no edges).
Each step is [kind, index]: the node of a forward or seed step, the edge of a backward step.
"""

from __future__ import annotations

from dataclasses import dataclass


def steps(doc: dict) -> list[list]:
    """The walk over a grad document (bp.grad/2): [kind, index] per step."""
    nodes, edges = doc["nodes"], doc["edges"]
    out: list[list] = [["start", None]]
    out += [["forward", i] for i in range(len(nodes))]
    if nodes and nodes[-1]["adjoint"] is not None:
        out.append(["seed", len(nodes) - 1])
        out += [["backward", k] for k in range(len(edges))]
    out.append(["result", None])
    return out


@dataclass
class State:
    """What is known after a step: how many nodes have values, the edges whose contribution has
    arrived, whether the output's adjoint is seeded, and the step itself."""

    computed: int
    done: int  # edges 0 … done-1 have sent their contribution
    seeded: bool
    step: list


def state_at(doc: dict, walk: list[list], k: int) -> State:
    """The state after step k of the walk (0 … len(walk) - 1)."""
    n = len(doc["nodes"])
    seeded = any(kind == "seed" for kind, _ in walk[:k + 1])
    done = sum(1 for kind, _ in walk[:k + 1] if kind == "backward")
    if walk[k][0] == "result":
        done = len(doc["edges"]) if seeded else 0
    return State(min(n, k), done, seeded, walk[k])
