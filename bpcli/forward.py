"""Forward mode beside reverse mode: one forward-mode pass per input, checked against backprop.

Forward mode pushes a tangent (∂node/∂input) along the tape with the values, so it needs
one pass per input; reverse mode gets every input's gradient from one backward pass. For
a scalar loss of many parameters that is why backprop wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .verify import close

# Both modes multiply the same partials, only in another order: they agree to rounding,
# which is relative to the largest tangent met on the way (a sum can cancel to near 0).
AGREE_REL = 1e-9


@dataclass
class InputTangents:
    """One forward-mode pass: seeded with ∂input/∂input = 1, every node's tangent."""

    name: str
    tangents: list  # ∂node/∂input for every node, in tape order
    forward: float  # the output's tangent: ∂output/∂input by forward mode
    reverse: float  # the same component of reverse mode's gradient

    @property
    def agrees(self) -> bool:
        scale = max([1.0] + [abs(t) for t in self.tangents if math.isfinite(t)])
        return close(self.forward, self.reverse, AGREE_REL, AGREE_REL * scale)


@dataclass
class ForwardMode:
    inputs: list[InputTangents]
    outputs: int = 1  # the formula has one output: reverse mode needs one backward pass

    @property
    def forward_passes(self) -> int:
        return len(self.inputs)

    @property
    def agrees(self) -> bool:
        return all(t.agrees for t in self.inputs)

    @property
    def summary(self) -> str:
        n, m = self.forward_passes, self.outputs
        verdict = "reverse mode wins here" if n > m else "a tie here" if n == m else "forward mode wins here"
        return (f"passes: forward mode {n} (one per input), reverse mode {m} (one per output): {verdict}. "
                "Reverse mode wins for wide Jacobians (few outputs, many inputs: a loss of many "
                "parameters), forward mode for tall ones (many outputs, few inputs).")


def forward_mode(formula, result, point: dict) -> ForwardMode:
    """Run one forward-mode pass per input and set each gradient beside reverse mode's."""
    out = formula.output
    passes = []
    for name in formula.inputs:
        _, tangents = formula.jvp(point, {name: 1.0})
        passes.append(InputTangents(name, tangents, tangents[out], result.gradient[name]))
    return ForwardMode(passes)
