"""What one forward and backward pass found: values, adjoints, the gradient, the hits."""

from __future__ import annotations

from functools import cached_property

from bpcli.engine.numeric import FLOAT


class Result:
    """Everything one forward and backward pass found.

    `display` is the object that shows a result (its tables as text, the page as HTML): a face
    registers it from above (bpcli.views.notebook.register); without one a result shows as a
    line of plain text."""

    display = None  # an object with .text(result) and .html(result), set by bpcli.views.notebook
    shapes = None  # each node's shape (a tensor result sets them); None: every node is a number

    def __init__(self, formula, values: list, adjoints: list, m=FLOAT):
        self.formula = formula
        self.values = values
        self.adjoints = adjoints
        self.m = m  # the number namespace of the pass: FLOAT, or an ArrayMath

    @property
    def is_tensor(self) -> bool:
        """True for a tensor result (shapes per node, maybe a batch); False for numbers, or
        numbers at many points."""
        return False

    def local(self, i: int) -> tuple:
        """∂node/∂operand per operand slot of node i (recomputed: the pass keeps none)."""
        return self.formula.local_gradients(self.values, i, self.m)

    @property
    def value(self):
        return self.values[self.formula.output]

    @cached_property
    def gradient(self) -> dict:
        return {name: self.adjoints[i] for name, i in self.formula.inputs.items()}

    @cached_property
    def hits(self) -> list[tuple[str, int]]:
        return self.formula.hits(self.values)

    # -- one backward step, as passes other than the right one (bp's --mistake) take it --------
    @cached_property
    def carrying(self) -> list[bool]:
        """Per node, whether it carries a gradient (numbers: it depends on an input)."""
        return list(self.formula.differentiable)

    def carries(self, v: int, slot: int, a: int) -> bool:
        """Whether the edge from node v into its operand `slot`, node a, can carry a gradient."""
        return self.formula.differentiable[a]

    def sends(self, v: int, g) -> list:
        """What a gradient g at node v sends each operand a gradient reaches, as (slot, operand,
        contribution): here the adjoint times the edge's partial."""
        f, live = self.formula, self.formula.differentiable
        local = f.local_gradients(self.values, v, self.m)
        return [(slot, a, g * local[slot]) for slot, a in enumerate(f.args[v]) if live[a]]

    def labels(self) -> list[str]:
        """Inputs used only as class labels: a formula of numbers has none (a tensor's may)."""
        return []

    def zero_adjoint(self, i: int):
        """A nothing-reached adjoint of node i: 0.0 for a number."""
        return 0.0

    def adjoint(self, i: int):
        """∂output/∂node, or None for a node that depends on no input (a constant) or that no
        gradient reaches (read only through a comparison)."""
        return self.adjoints[i] if self.formula.gets_gradient[i] else None

    # -- display: delegated to the registered display object ---------------------------
    def __repr__(self) -> str:
        """The tables of `bp grad`, as text (a plain line without a display registered)."""
        if Result.display is not None:
            return Result.display.text(self)
        return f"<Result of {self.formula.text.strip()!r}: value {self.value!r}>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str | None:
        """In Jupyter: the page of `bp view`, stepping through both passes."""
        return None if Result.display is None else Result.display.html(self)
