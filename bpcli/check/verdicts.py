"""What a cross-check decides, and by which tolerances: the verdicts shared by the scalar
check (verify) and the tensor check (tensorcheck)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from bpcli.engine.numeric import close

# Tolerances, documented in the README: |a - b| <= ABS + REL * max(|a|, |b|).
SYMPY_REL, SYMPY_ABS = 1e-9, 1e-12
FD_REL, FD_ABS = 1e-5, 1e-6
FD_STEP = 6.06e-6  # about the cube root of float64's epsilon, scaled by max(1, |x|)
FD_WORK = 1_000_000  # node evaluations finite differences may spend (2 passes per input)
EPS = sys.float_info.epsilon


@dataclass
class InputCheck:
    """How one gradient component compares with SymPy and finite differences."""

    name: str
    backprop: float
    derivative: str | None = None  # SymPy's derivative, printed
    sympy: float | None = None
    finite_difference: float | None = None  # None: this input was not sampled
    sampled: object = None  # a tensor's entries the finite differences took (bool array); None: all
    status: str = "ok"  # ok | convention | mismatch | skipped (no reference gave a number)

    @property
    def ok(self) -> bool:
        return self.status != "mismatch"


@dataclass
class Check:
    inputs: list[InputCheck]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.inputs)


@dataclass
class Steps:
    """A finite difference taken again with the step doubled and halved: what it is worth.
    Curvature (error ∝ h²) or rounding (∝ 1/h) makes a difference move with its step; a
    wrong gradient does not."""

    fd: float  # D(h)
    double: float  # D(2h)
    half: float  # D(h/2)

    @property
    def extrapolated(self) -> float:
        """Richardson's (4·D(h) - D(2h))/3: curvature's h² error removed."""
        return (4 * self.fd - self.double) / 3

    @property
    def spread(self) -> float:
        """How far D(h/2) and D(2h) move from D(h): an estimate of its own error."""
        return max(abs(self.double - self.fd), abs(self.half - self.fd))

    def judge(self, g: float, noise: float = 0.0) -> str:
        """'curvature' (extrapolated it agrees), 'moves' (too coarse to judge) or 'holds'
        (it holds still and still misses: a real disagreement)."""
        if close(g, self.extrapolated, FD_REL, FD_ABS + noise):
            return "curvature"
        if abs(g - self.fd) <= FD_ABS + noise + FD_REL * abs(g) + 3 * self.spread:
            return "moves"
        return "holds"
