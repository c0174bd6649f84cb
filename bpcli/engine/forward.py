"""Forward mode beside reverse mode: one forward-mode pass per input, checked against backprop.

Forward mode pushes a tangent (∂node/∂input) along the tape with the values, so it needs
one pass per input, and for a tensor input one pass per entry (a basis direction each);
reverse mode gets every input's gradient from one backward pass. For a scalar loss of
many parameters that is why backprop wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bpcli.engine.numeric import close
from bpcli.engine.tensor import jvp

# Both modes multiply the same partials, only in another order: they agree to rounding,
# which is relative to the largest tangent met on the way (a sum can cancel to near 0).
AGREE_REL = 1e-9


@dataclass
class InputTangents:
    """An input's forward-mode passes: seeded with ∂input/∂input = 1 (a tensor: one entry at
    a time), the output's tangents make the gradient; `tangents` are every node's in the
    first pass (along `direction`, the first entry, for a tensor)."""

    name: str
    tangents: list  # ∂node/∂input for every node, in tape order (arrays for a tensor formula)
    forward: object  # ∂output/∂input by forward mode: a number, or an array of the input's shape
    reverse: object  # the same part of reverse mode's gradient
    passes: int = 1
    shape: tuple | None = None  # None: a scalar formula
    scale: float | None = None  # the largest finite tangent of all passes (None: of `tangents`)

    @property
    def direction(self) -> tuple | None:
        """The entry the first pass is seeded at (a tensor input's first); None for a scalar formula."""
        return None if self.shape is None else (0,) * len(self.shape)

    @property
    def agrees(self) -> bool:
        if self.shape is None:
            scale = max([1.0] + [abs(t) for t in self.tangents if math.isfinite(t)])
            return close(self.forward, self.reverse, AGREE_REL, AGREE_REL * scale)
        pairs = zip(self.forward.reshape(-1).tolist(), self.reverse.reshape(-1).tolist())
        return all(close(a, b, AGREE_REL, AGREE_REL * max(1.0, self.scale)) for a, b in pairs)


@dataclass
class ForwardMode:
    inputs: list[InputTangents]
    outputs: int = 1  # the formula has one output: reverse mode needs one backward pass
    tensors: bool = False

    @property
    def forward_passes(self) -> int:
        return sum(t.passes for t in self.inputs)

    @property
    def agrees(self) -> bool:
        return all(t.agrees for t in self.inputs)

    @property
    def summary(self) -> str:
        n, m = self.forward_passes, self.outputs
        verdict = "reverse mode wins here" if n > m else "a tie here" if n == m else "forward mode wins here"
        per = "one per input" if not self.tensors else "one per entry of each input: " + ", ".join(
            f"{t.name} {t.passes}" for t in self.inputs)
        return (f"passes: forward mode {n:,} ({per}), reverse mode {m} (one per output): {verdict}. "
                "Reverse mode wins for wide Jacobians (few outputs, many inputs: a loss of many "
                "parameters), forward mode for tall ones (many outputs, few inputs).")


def forward_mode(formula, result, point: dict) -> ForwardMode:
    """Run one forward-mode pass per input (per entry of a tensor input) and set each
    gradient beside reverse mode's."""
    if result.is_tensor:
        return _tensor_forward_mode(formula, result, point)
    out = formula.output
    passes = []
    for name in formula.inputs:
        _, tangents = formula.jvp(point, {name: 1.0})
        passes.append(InputTangents(name, tangents, tangents[out], result.gradient[name]))
    return ForwardMode(passes)


def tensor_passes(result) -> int:
    """How many forward-mode passes a tensor formula needs: one per entry of every input
    that gets a gradient (class labels get none)."""
    return sum(math.prod(result.shapes[result.formula.inputs[n]]) for n in _differentiated(result))


def _differentiated(result) -> list[str]:
    return [n for n in result.formula.inputs if result.adjoint(result.formula.inputs[n]) is not None]


def _tensor_forward_mode(formula, result, point: dict) -> ForwardMode:
    import numpy as np  # deferred: loads numpy

    out = formula.output
    passes = []
    for name in _differentiated(result):
        shape = result.shapes[formula.inputs[name]]
        size = math.prod(shape)
        gradient = np.zeros(shape)
        first, scale = None, 1.0
        for k in range(size):
            seed = np.zeros(size)
            seed[k] = 1.0
            _, tangents = jvp(formula, point, {name: seed.reshape(shape)})
            gradient.reshape(-1)[k] = tangents[out]
            for t in tangents:
                finite = np.abs(t[np.isfinite(t)])
                if finite.size:
                    scale = max(scale, float(finite.max()))
            first = tangents if first is None else first
        passes.append(InputTangents(name, first, gradient, np.asarray(result.gradient[name]), size,
                                    shape, scale))
    return ForwardMode(passes, tensors=True)
