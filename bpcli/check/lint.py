"""bp lint: the hazard notes a formula can raise over its inputs' typical ranges, found by
running it at seeded random points instead of at one given point.

Each input is drawn from its range: by default ±10^u with u uniform in [-12, 3] (magnitudes
from 1e-12 to 1000, both signs, where cancellation near 0 and overflow past 709 both live),
or uniform on an interval the caller gives. The same seed gives the same points, the same
notes, in the same order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bpcli.check.hazards import find
from bpcli.engine.values import require_scalars
from bpcli.errors import LimitError, UsageError

SAMPLES = 200
SEED = 0
DECADES = (-12.0, 3.0)  # the default range: |x| = 10^u, u uniform here, either sign
MAX_WORK = 20_000_000  # node evaluations a lint may spend (formula nodes × points)


@dataclass(frozen=True)
class Range:
    """Where an input is drawn: uniform on [lo, hi], or (decades) ±10^u with u uniform on [lo, hi]."""

    lo: float
    hi: float
    decades: bool = False

    def draw(self, rng: random.Random) -> float:
        if self.decades:
            return rng.choice((-1.0, 1.0)) * 10.0 ** rng.uniform(self.lo, self.hi)
        return rng.uniform(self.lo, self.hi)

    def text(self) -> str:
        if self.decades:
            return f"±1e{self.lo:g} … ±1e{self.hi:g} (log-uniform, both signs)"
        return f"{self.lo:g} … {self.hi:g} (uniform)"


TYPICAL = Range(*DECADES, decades=True)


@dataclass
class Finding:
    """One note, with how many of the points raised it and the first of them."""

    node: int
    kind: str  # "hazard" (a stable rewrite exists) or "underflow"
    message: str  # as bp grad words it, at the example point
    suggestion: str | None
    points: int
    example: dict[str, float]


@dataclass
class Lint:
    """What a lint found: the notes over the sampled points, and how they were sampled."""

    samples: int
    seed: int
    ranges: dict[str, Range]
    findings: list[Finding] = field(default_factory=list)


def parse_range(text: str) -> tuple[str, Range]:
    """NAME=LO:HI as a uniform range (the --range option's text)."""
    name, eq, bounds = text.partition("=")
    lo, colon, hi = bounds.partition(":")
    try:
        low, high = float(lo), float(hi)
    except ValueError:
        low = high = float("nan")
    if not (eq and colon and name.strip()) or not (low < high) or high - low == float("inf"):
        raise UsageError(f"a range is NAME=LO:HI with finite LO < HI, e.g. x=-5:5, not {text!r}")
    return name.strip(), Range(low, high)


def lint(formula, samples: int = SAMPLES, seed: int = SEED, ranges: dict[str, Range] | None = None) -> Lint:
    """Run `formula` at `samples` seeded points and gather the hazard notes of every point."""
    require_scalars(formula, {}, "bp lint")
    ranges = ranges or {}
    unknown = [n for n in ranges if n not in formula.inputs]
    if unknown:
        raise UsageError(f"the formula has no input named {', '.join(unknown)}; its inputs: "
                         f"{', '.join(formula.inputs) or 'none'}")
    if len(formula) * samples > MAX_WORK:
        raise LimitError(f"{samples:,} points of a {len(formula):,}-node formula is more than "
                         f"{MAX_WORK:,} node evaluations", hint="lower the number of points")
    used = {n: ranges.get(n, TYPICAL) for n in formula.inputs}
    rng = random.Random(seed)
    seen: dict[tuple, Finding] = {}
    for _ in range(samples):
        point = {n: r.draw(rng) for n, r in used.items()}
        for h in find(formula, formula.forward(point)):
            key = (h.node, h.kind, h.suggestion)
            if key in seen:
                seen[key].points += 1
            else:
                seen[key] = Finding(h.node, h.kind, h.message, h.suggestion, 1, point)
    return Lint(samples, seed, used, sorted(seen.values(), key=lambda f: (f.node, f.kind)))
