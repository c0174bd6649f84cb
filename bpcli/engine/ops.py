"""The op table: every operation bp knows, each declared once with all there is to it.

A row gives the operation's syntax name (the grammar's alias), its arity, its
forward rule, its local partial derivatives (one per operand, free to reuse the
forward output), its SymPy counterpart, how it prints, and its convention at
points where it is not differentiable. Rules take a numeric namespace `m`
(bpcli.numeric) so one rule serves float64 scalars and numpy arrays alike.

Adding a function: one row here and one alternative in grammar/bp.lark.

Every row works on tensors too. An elementwise row (the default) needs nothing more: the
tensor pass applies it with NumPy broadcasting and multiplies each partial into the upstream
gradient. The others (matmul, sum, softmax, indexing, …) give a vector-Jacobian rule per
operand, a shape rule and the rule in words; their forward and VJP rules also receive a
`Site` (the node's static parameters and its operands' per-example ranks) and are written
for one example with any leading batch axes: negative axes and `...` only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from bpcli.engine.numeric import ONE, whole_indices
from bpcli.engine.numtext import shape_text
from bpcli.errors import ShapeError

# The two kinds of leaf node; every other node's kind is a row of OPS.
INPUT, CONST = "input", "const"


@dataclass(frozen=True)
class Op:
    """One primitive operation of the graph."""

    name: str
    arity: int
    doc: str
    forward: Callable  # (m, *operands) -> value
    partials: tuple  # per operand: (m, out, *operands) -> ∂out/∂operand (as autograd's defvjp)
    derivative: tuple  # per operand: ∂out/∂operand in bp syntax over a, b, c (bp diff, display)
    sympy: Callable  # (sympy module, *operand expressions) -> expression
    show: str  # how a node prints, e.g. "{0} · {1}"
    syntax: str = ""  # bp syntax, e.g. "{0} * {1}" (defaults to a function call)
    prec: int = 9  # binding strength when printed as bp syntax (9: atom-like)
    kink: Callable | None = None  # (*operands) -> True at a non-differentiable point
    convention: str = ""  # what bp does at the kink, said aloud when hit
    # The same operation in the libraries bp exports to (bp export), over operand
    # expressions {0}, {1} (and a tensor row's {axis}: the integer or None, {index}: "1, 0");
    # None where the library has no differentiable counterpart.
    torch: str | None = None  # e.g. "torch.exp({0})", the script imports torch
    jax: str | None = None  # e.g. "jnp.exp({0})", the script imports jax.numpy as jnp
    # Where JAX's convention at the kink differs from bp's (and PyTorch's): per operand
    # (m, out, *operands) -> JAX's partial there (a tensor row: its whole VJP in JAX's way,
    # (m, g, out, *operands, site)), and the difference in words, which the exported JAX
    # script says aloud instead of reporting a false difference.
    jax_partials: tuple = ()
    jax_convention: str = ""
    elementwise: bool = True  # False: forward and vjp take a Site last; shape says the output's
    vjp: tuple = ()  # per operand: (m, g, out, *operands, site) -> contribution, or None (no gradient)
    shape: Callable | None = None  # (operand shapes, params) -> output shape, or ShapeError
    rule: tuple = ()  # per operand, the VJP in words: {0}, {1} the operands, {y} the output
    # Static parameters written after the operands, by position or by name (`sum(A, 0)`,
    # `mean(x, -1, keepdim=True)`): each a Param; the graph keeps their values (canonical()).
    signature: tuple = ()
    # Operand slots of an elementwise row through which no gradient flows at all (a comparison's,
    # where's condition): PyTorch's bool tensors; the tensor pass sends nothing there.
    inert: tuple = ()
    # A non-elementwise row's SymPy counterpart, over numpy arrays of SymPy expressions:
    # (sympy module, *operands, site) -> an array of expressions; None: the check uses finite
    # differences alone for formulas with it (a rule SymPy has no exact counterpart of).
    sympy_tensor: Callable | None = None
    # Forward mode for a non-elementwise row, per operand: (m, t, out, *operands, site) -> what
    # the operand's tangent t (in its shape) adds to the output's tangent; None: no tangent flows.
    jvp: tuple = ()
    # The partials as a textbook writes them (bp syntax over a, b, c), where `derivative` needs
    # masks to compute right at a kink; people read these (bp ops, bp diff, the tables), bp
    # computes with `derivative`. `textbook_note`: where the two differ and what bp takes there.
    textbook: tuple = ()
    textbook_note: str = ""
    # The differentiation rule each partial applies, in a word or two (sum, product, quotient,
    # power, exponential, chain, …): one name for the row, or one per operand where they differ
    # (pow: the power rule for the base, the exponential rule for the exponent).
    rule_name: str | tuple = ""

    def rule_of(self, slot: int) -> str:
        """The rule the partial of operand `slot` applies."""
        return self.rule_name if isinstance(self.rule_name, str) else self.rule_name[slot]
    labels: tuple = ()  # operand slots that are class labels: whole numbers, no gradient
    # Where the operands are written among a call's positional arguments when its static
    # parameters sit between them (gather(x, dim, idx): 0 and 2); empty: first, in order.
    # Such a row's parameters are written back by name (gather(x, idx, dim=1)), which also binds.
    operand_positions: tuple = ()

    @property
    def is_function(self) -> bool:
        return not self.syntax

    def bound(self, params: tuple) -> dict:
        """Every static parameter by name: the node's values (in signature order), defaults after."""
        out = {p.name: p.default for p in self.signature}
        out.update(zip((p.name for p in self.signature), params))
        return out

    def canonical(self, values: dict) -> tuple:
        """The values a node keeps, in signature order, those at their default dropped from the
        end: sum(A) and sum(A, keepdim=False) are one node."""
        full = [values.get(p.name, p.default) for p in self.signature]
        while full and full[-1] == self.signature[len(full) - 1].default:
            full.pop()
        return tuple(full)

    def written_signature(self) -> str:
        """How the call is written, parameters and defaults: sum(a, dim, keepdim=False)."""
        return f"{self.name}({', '.join(list('abc'[:self.arity]) + [p.spec() for p in self.signature])})"

    def written(self, params: tuple) -> list[str]:
        """The static parameters as bp writes them after the operands: by position while each
        is given, then by name (`0`, `keepdim=True`)."""
        out, by_name = [], False
        for p, v in zip(self.signature, params):
            if v == p.default:
                by_name = True
                continue
            text = p.text(v)
            named = by_name or p.keyword or p.kind == "bool" or self.operand_positions
            out.append(f"{p.name}={text}" if named else text)
        return out

    @property
    def shown_derivative(self) -> tuple:
        """The partials for people: the textbook form where there is one, else `derivative`."""
        return self.textbook or self.derivative

    @property
    def constant_partials(self) -> tuple | None:
        """The partials as numbers when none depends on the point (+, -, neg, step, sign),
        read off the derivative formulas (a test holds them equal to `partials`); else None."""
        try:
            values = tuple(float(d) for d in self.derivative)
        except ValueError:
            return None
        return tuple(ONE if v == 1 else v for v in values)  # ONE: the pass skips × 1


class Param(NamedTuple):  # a NamedTuple, not a dataclass: cheaper to define, at every start-up
    """A static parameter of an operation: a constant written after the operands, by position
    (unless `keyword`) or as name=value. `kind` is what is written: "int" (an integer, negative
    allowed), "bool" (True or False), "ints" (every remaining positional argument: reshape's
    sizes). `default` is the value when absent (None: the op's own meaning, e.g. every axis)."""

    name: str
    kind: str = "int"
    default: object = None
    keyword: bool = False  # only as name=value
    doc: str = ""
    required: bool = False

    def text(self, value) -> str:
        if self.kind == "ints":
            return ", ".join(map(str, value))
        return str(value)

    def spec(self) -> str:
        """How `bp ops` lists it: dim, keepdim=False, *sizes."""
        if self.kind == "ints":
            return f"*{self.name}"
        return self.name if self.default is None and not self.keyword else f"{self.name}={self.default}"


# The reductions' parameters, as PyTorch names them.
DIM = Param("dim", doc="the axis reduced (absent: every axis)")
KEEPDIM = Param("keepdim", "bool", False, doc="keep the reduced axis with length 1")


def carries_gradient(op, slot: int) -> bool:
    """Whether a gradient flows back into this operand slot: not into p[y]'s label, nor through
    a comparison or where's condition (their partial is the constant 0, PyTorch's bool tensors)."""
    return slot not in op.inert if op.elementwise else op.vjp[slot] is not None


# Precedence levels for printing, loosest first; they mirror the grammar's ?rules.
COMPARE, SUM, PRODUCT, UNARY, POWER = 0, 1, 2, 3, 4


def _pow_base_partial(m, out, a, b):
    # PyTorch: the partial is 0 where the exponent is 0 (even at a = 0, where 0·inf is nan).
    return m.where(b == 0, 0.0, b * m.pow(a, b - 1.0))


def _pow_exponent_partial(m, out, a, b):
    # PyTorch: a^b·ln a, taken as 0 where a = 0 and b >= 0 (the limit from above).
    return m.where((a == 0) & (b >= 0), 0.0, out * m.log(a))


def _sigmoid(m, a):
    # Stable on both sides: exp never sees a large positive argument.
    z = m.exp(-m.fabs(a))
    return m.where(a >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _softplus(m, a):
    # log(1 + e^a) = log1p(e^-|a|) + max(a, 0): no overflow at ±1000.
    return m.log1p(m.exp(-m.fabs(a))) + m.where(a > 0, a, 0.0)


def _sign(m, a):
    return m.where(a > 0, 1.0, m.where(a < 0, -1.0, 0.0))


def _pick(m, a, b):
    """∂max(a,b)/∂a: 1 where a wins, 0 where it loses, 1/2 at a tie (PyTorch)."""
    return m.where(a > b, 1.0, m.where(a < b, 0.0, 0.5))


def _max(m, a, b):
    # nan in either operand propagates, as torch.maximum does.
    return m.where(a > b, a, m.where(a < b, b, m.where(a != a, a, b)))


def _min(m, a, b):
    return m.where(a < b, a, m.where(a > b, b, m.where(a != a, a, b)))


def _tie(a, b):
    return a == b


LN2, LN10 = math.log(2.0), math.log(10.0)
LOG2E, LOG10E = 1.0 / LN2, 1.0 / LN10  # 1/(a·ln 2) is written LOG2E/a: one rounding, not two
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
SQRT1_2 = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
PI = math.pi


def _sqrt_one_minus_square(m, a):
    # sqrt(1 - a²) as sqrt(1 - a)·sqrt(1 + a): 1 - a² loses its digits near ±1.
    return m.sqrt(1.0 - a) * m.sqrt(1.0 + a)


def _atan_partial(m, out, a):
    # 1/(1 + a²), without a² overflowing: for |a| > 1 it is r/(a + r) with r = 1/a.
    r = m.div(1.0, a)
    return m.where(m.fabs(a) > 1.0, m.div(r, a + r), m.div(1.0, 1.0 + a * a))


def _atan2_partials(slot):
    """∂atan2(a, b)/∂a = b/(a² + b²), ∂/∂b = -a/(a² + b²), as (·/h)/h with h = hypot(a, b)
    (no overflow); 0 at the origin, as PyTorch."""

    def partial(m, out, a, b):
        h = m.hypot(a, b)
        top = b if slot == 0 else -a
        return m.where(h == 0, 0.0, m.div(m.div(top, h), h))

    return partial


def _logaddexp(m, a, b):
    # max + log1p(e^-|a-b|): no overflow at ±800; a = b (±inf included) is a + ln 2, as numpy.
    big = _max(m, a, b)
    return m.where(a == b, a + LN2, big + m.log1p(m.exp(-m.fabs(a - b))))


def _sinpi(m, a):
    """sin(πa), exact in the argument: a is reduced mod 2 (exactly) to [-1/2, 1/2] first,
    so sinc stays accurate at large a and near the integers, where sin(π·a) is not."""
    r = m.fmod(a, 2.0)  # exact, in (-2, 2)
    r = m.where(r > 1.0, r - 2.0, m.where(r < -1.0, r + 2.0, r))  # exact, in [-1, 1]
    r = m.where(r > 0.5, 1.0 - r, m.where(r < -0.5, -1.0 - r, r))  # sin(π(1 - r)) = sin(πr)
    return m.sin(PI * r)


def _sinc(m, a):
    return m.where(a == 0, 1.0, m.div(_sinpi(m, a), PI * a))


# sinc'(a) = Σ_k≥1 (-1)^k·2k·π^2k·a^(2k-1)/(2k+1)!, for |a| < 1/4 where cos(πa) - sinc(a)
# cancels. Each coefficient is ±1/n for a whole n: the derivative formula writes it so.
_SINC_DIVISORS = [(-1) ** k * (math.factorial(2 * k + 1) // (2 * k)) for k in range(1, 10)]
_SINC_SERIES = [1 / n for n in _SINC_DIVISORS]


def _sinc_partial(m, out, a):
    y = (PI * a) * (PI * a)
    series = 0.0
    for c in reversed(_SINC_SERIES):
        series = series * y + c
    series = series * (PI * PI) * a
    direct = m.div(m.cos(PI * a) - out, a)
    return m.where(m.fabs(a) < 0.25, series, direct)


def _sinc_derivative() -> str:
    """The partial above in bp syntax, series and all: differentiated again (--hessian, bp diff
    of bp diff) it gives sinc''(0) = -π²/3 and stays exact near 0, where the quotient's
    own derivative would cancel to nothing."""
    series = ""  # the signs alternate from -: -(1/3 - y·(1/30 - y·(…))) with y = (πa)²
    for n in reversed(_SINC_DIVISORS):
        series = f"1/{abs(n)}" + (f" - (pi*a)^2*({series})" if series else "")
    near = "step(1/4 - abs(a))"
    return f"-{near}*pi^2*a*({series}) + (1 - {near})*(cos(pi*a) - sinc(a))/(a + {near})"


def _gelu(m, a):
    # x·Φ(x) with Φ(x) = erfc(-x/√2)/2: 1 + erf(x/√2) would cancel to 0 for x below -8.
    return 0.5 * a * m.erfc(-a * SQRT1_2)


def _gelu_partial(m, out, a):
    return 0.5 * m.erfc(-a * SQRT1_2) + a * INV_SQRT_2PI * m.exp(-0.5 * a * a)


def _silu_partial(m, out, a):
    # σ(a)·(1 + a·(1 - σ(a))), with 1 - σ(a) as σ(-a): no cancellation for large a.
    return _sigmoid(m, a) * (1.0 + a * _sigmoid(m, -a))


def _clamp(m, a, lo, hi):
    return _min(m, _max(m, a, lo), hi)


def _bit(m, cond):
    return m.where(cond, 1.0, 0.0)


def _clamp_partials():
    """PyTorch's: x gets the gradient where lo <= x <= hi (ties included), lo where x < lo <= hi,
    hi where the result is hi and x is not (x > hi, or lo > hi)."""
    return (
        lambda m, out, a, lo, hi: _bit(m, (a >= lo) & (a <= hi)),
        lambda m, out, a, lo, hi: _bit(m, (a < lo) & (lo <= hi)),
        lambda m, out, a, lo, hi: _bit(m, (a > hi) | (lo > hi)),
    )


def _clip_partials():
    """JAX's clip: min(max(a, lo), hi), its max and min each splitting a tie 1/2 and 1/2."""
    return (
        lambda m, out, a, lo, hi: _pick(m, hi, _max(m, a, lo)) * _pick(m, a, lo),
        lambda m, out, a, lo, hi: _pick(m, hi, _max(m, a, lo)) * _pick(m, lo, a),
        lambda m, out, a, lo, hi: _pick(m, _max(m, a, lo), hi),
    )


@cache
def _flat(sp, base: str):
    """SymPy's floor or ceiling with derivative 0 (SymPy leaves floor's undone): the
    derivative away from the jumps, as bp and PyTorch take it everywhere."""
    return type(base, (getattr(sp, base),), {"fdiff": lambda self, argindex=1: sp.S.Zero})


def _is_integer(a):
    """Whole numbers (inf and nan are not: their remainder is nan); a float or an array."""
    return a % 1.0 == 0


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op(
            "add", 2, "sum",
            rule_name="sum",
            forward=lambda m, a, b: a + b,
            partials=(lambda m, out, a, b: ONE, lambda m, out, a, b: ONE),
            derivative=("1", "1"),
            sympy=lambda sp, a, b: a + b,
            show="{0} + {1}", syntax="{0} + {1}", prec=SUM,
            torch="{0} + {1}", jax="{0} + {1}",
        ),
        Op(
            "sub", 2, "difference",
            rule_name="difference",
            forward=lambda m, a, b: a - b,
            partials=(lambda m, out, a, b: ONE, lambda m, out, a, b: -1.0),
            derivative=("1", "-1"),
            sympy=lambda sp, a, b: a - b,
            show="{0} - {1}", syntax="{0} - {1}", prec=SUM,
            torch="{0} - {1}", jax="{0} - {1}",
        ),
        Op(
            "mul", 2, "product",
            rule_name="product",
            forward=lambda m, a, b: a * b,
            partials=(lambda m, out, a, b: b, lambda m, out, a, b: a),
            derivative=("b", "a"),
            sympy=lambda sp, a, b: a * b,
            show="{0} · {1}", syntax="{0} * {1}", prec=PRODUCT,
            torch="{0} * {1}", jax="{0} * {1}",
        ),
        Op(
            "div", 2, "quotient",
            rule_name="quotient",
            forward=lambda m, a, b: m.div(a, b),
            partials=(lambda m, out, a, b: m.div(1.0, b), lambda m, out, a, b: -m.div(out, b)),
            derivative=("1/b", "-a/b^2"),
            sympy=lambda sp, a, b: a / b,
            show="{0} / {1}", syntax="{0} / {1}", prec=PRODUCT,
            torch="{0} / {1}", jax="{0} / {1}",
        ),
        Op(
            "neg", 1, "negation",
            rule_name="negation",
            forward=lambda m, a: -a,
            partials=(lambda m, out, a: -1.0,),
            derivative=("-1",),
            sympy=lambda sp, a: -a,
            show="-{0}", syntax="-{0}", prec=UNARY,
            torch="-{0}", jax="-{0}",
        ),
        Op(
            "pow", 2, "power (right-associative; ^ or **)",
            rule_name=("power", "exponential"),
            forward=lambda m, a, b: m.pow(a, b),
            partials=(_pow_base_partial, _pow_exponent_partial),
            # As the partials (PyTorch's), 0 where b = 0 (resp. a = 0 and b >= 0) and not 0·inf = nan,
            # by masks that keep the second derivatives right: a + 1 - sign(abs(a) + abs(b)) is a but
            # 1 at a = b = 0 (the one point where b·a^(b - 1) is 0·inf), and a + 1 - sign(abs(a)) is a
            # but 1 at a = 0. A mask adds a constant only where it is not 0, so ∂²(x^y)/∂x∂y is 1/x
            # at y = 0 (b·a^(b - sign(abs(b))) gave 1) and the Hessian is symmetric, at (0, 0) too.
            derivative=("b*(a + 1 - sign(abs(a) + abs(b)))^(b - 1)", "a^b*log(a + 1 - sign(abs(a)))"),
            textbook=("b*a^(b - 1)", "a^b*log(a)"),
            textbook_note="at a = 0 the textbook forms give 0·inf or log(0): bp takes ∂/∂a = 0 where "
                          "b = 0 and ∂/∂b = 0 where b >= 0 (PyTorch's convention)",
            sympy=lambda sp, a, b: a**b,
            show="{0}^{1}", syntax="{0}^{1}", prec=POWER,
            torch="{0} ** {1}", jax="{0} ** {1}",
        ),
        Op(
            "exp", 1, "e to the power",
            rule_name="exponential",
            forward=lambda m, a: m.exp(a),
            partials=(lambda m, out, a: out,),
            derivative=("exp(a)",),
            sympy=lambda sp, a: sp.exp(a),
            show="exp({0})",
            torch="torch.exp({0})", jax="jnp.exp({0})",
        ),
        Op(
            "log", 1, "natural logarithm (also ln)",
            rule_name="logarithm",
            forward=lambda m, a: m.log(a),
            partials=(lambda m, out, a: m.div(1.0, a),),
            derivative=("1/a",),
            sympy=lambda sp, a: sp.log(a),
            show="log({0})",
            torch="torch.log({0})", jax="jnp.log({0})",
        ),
        Op(
            "sqrt", 1, "square root",
            rule_name="power",
            forward=lambda m, a: m.sqrt(a),
            partials=(lambda m, out, a: m.div(0.5, out),),
            derivative=("1/(2*sqrt(a))",),
            sympy=lambda sp, a: sp.sqrt(a),
            show="sqrt({0})",
            torch="torch.sqrt({0})", jax="jnp.sqrt({0})",
            kink=lambda a: a == 0,
            convention="sqrt'(0) = inf, as PyTorch gives",
        ),
        Op(
            "abs", 1, "absolute value",
            rule_name="selection",
            forward=lambda m, a: m.fabs(a),
            partials=(lambda m, out, a: _sign(m, a),),
            derivative=("sign(a)",),
            sympy=lambda sp, a: sp.Abs(a),
            show="abs({0})",
            torch="torch.abs({0})", jax="jnp.abs({0})",
            kink=lambda a: a == 0,
            convention="abs'(0) taken as 0 (PyTorch's convention)",
            jax_partials=(lambda m, out, a: 1.0,),
            jax_convention="JAX takes abs'(0) = 1; bp and PyTorch take 0",
        ),
        Op(
            "sin", 1, "sine (radians)",
            rule_name="chain",
            forward=lambda m, a: m.sin(a),
            partials=(lambda m, out, a: m.cos(a),),
            derivative=("cos(a)",),
            sympy=lambda sp, a: sp.sin(a),
            show="sin({0})",
            torch="torch.sin({0})", jax="jnp.sin({0})",
        ),
        Op(
            "cos", 1, "cosine (radians)",
            rule_name="chain",
            forward=lambda m, a: m.cos(a),
            partials=(lambda m, out, a: -m.sin(a),),
            derivative=("-sin(a)",),
            sympy=lambda sp, a: sp.cos(a),
            show="cos({0})",
            torch="torch.cos({0})", jax="jnp.cos({0})",
        ),
        Op(
            "tan", 1, "tangent (radians)",
            rule_name="chain",
            forward=lambda m, a: m.tan(a),
            partials=(lambda m, out, a: 1.0 + out * out,),
            derivative=("1 + tan(a)^2",),
            sympy=lambda sp, a: sp.tan(a),
            show="tan({0})",
            torch="torch.tan({0})", jax="jnp.tan({0})",
        ),
        Op(
            "tanh", 1, "hyperbolic tangent",
            rule_name="chain",
            forward=lambda m, a: m.tanh(a),
            partials=(lambda m, out, a: 1.0 - out * out,),
            derivative=("1 - tanh(a)^2",),
            sympy=lambda sp, a: sp.tanh(a),
            show="tanh({0})",
            torch="torch.tanh({0})", jax="jnp.tanh({0})",
        ),
        Op(
            "sigmoid", 1, "logistic function 1/(1 + e^-x)",
            rule_name="chain",
            forward=_sigmoid,
            partials=(lambda m, out, a: out * (1.0 - out),),
            derivative=("sigmoid(a)*(1 - sigmoid(a))",),
            sympy=lambda sp, a: 1 / (1 + sp.exp(-a)),
            show="sigmoid({0})",
            torch="torch.sigmoid({0})", jax="jax.nn.sigmoid({0})",
        ),
        Op(
            "relu", 1, "rectifier max(x, 0)",
            rule_name="selection",
            forward=lambda m, a: m.where(a < 0, 0.0, a),
            partials=(lambda m, out, a: m.where(a > 0, 1.0, 0.0),),
            derivative=("step(a)",),
            sympy=lambda sp, a: sp.Max(0, a),
            show="relu({0})",
            torch="torch.relu({0})", jax="jax.nn.relu({0})",
            kink=lambda a: a == 0,
            convention="relu'(0) taken as 0 (PyTorch's convention; SymPy says 1/2)",
        ),
        Op(
            "softplus", 1, "smooth rectifier log(1 + e^x)",
            rule_name="chain",
            forward=_softplus,
            partials=(lambda m, out, a: _sigmoid(m, a),),
            derivative=("sigmoid(a)",),
            sympy=lambda sp, a: sp.log(1 + sp.exp(a)),
            show="softplus({0})",
            torch="torch.nn.functional.softplus({0})", jax="jax.nn.softplus({0})",
        ),
        Op(
            "max", 2, "larger of two",
            rule_name="selection",
            forward=_max,
            partials=(lambda m, out, a, b: _pick(m, a, b), lambda m, out, a, b: _pick(m, b, a)),
            derivative=("(1 + sign(a - b))/2", "(1 + sign(b - a))/2"),
            sympy=lambda sp, a, b: sp.Max(a, b),
            show="max({0}, {1})",
            torch="torch.maximum({0}, {1})", jax="jnp.maximum({0}, {1})",
            kink=_tie,
            convention="at a tie max and min send 1/2 to each operand (PyTorch's convention)",
        ),
        Op(
            "min", 2, "smaller of two",
            rule_name="selection",
            forward=_min,
            partials=(lambda m, out, a, b: _pick(m, b, a), lambda m, out, a, b: _pick(m, a, b)),
            derivative=("(1 + sign(b - a))/2", "(1 + sign(a - b))/2"),
            sympy=lambda sp, a, b: sp.Min(a, b),
            show="min({0}, {1})",
            torch="torch.minimum({0}, {1})", jax="jnp.minimum({0}, {1})",
            kink=_tie,
            convention="at a tie max and min send 1/2 to each operand (PyTorch's convention)",
        ),
        Op(
            "step", 1, "unit step: 1 where x > 0, else 0 (the derivative of relu)",
            rule_name="constant",
            forward=lambda m, a: m.where(a > 0, 1.0, m.where(a != a, a, 0.0)),
            partials=(lambda m, out, a: 0.0,),
            derivative=("0",),
            sympy=lambda sp, a: sp.Heaviside(a, 0),
            show="step({0})",
            torch=None, jax="jnp.heaviside({0}, 0.0)",  # torch.heaviside has no derivative
            kink=lambda a: a == 0,
            convention="step(0) = 0 and step'(0) taken as 0 (as relu'(0) = 0)",
        ),
        Op(
            "sign", 1, "sign: -1, 0 or 1 (the derivative of abs)",
            rule_name="constant",
            forward=_sign,
            partials=(lambda m, out, a: 0.0,),
            derivative=("0",),
            sympy=lambda sp, a: sp.sign(a),
            show="sign({0})",
            torch="torch.sign({0})", jax="jnp.sign({0})",
            kink=lambda a: a == 0,
            convention="sign'(0) taken as 0",
        ),
        # Issue 13: the functions other autodiff tools have, each evaluated stably.
        Op(
            "asin", 1, "inverse sine (radians)",
            rule_name="chain",
            forward=lambda m, a: m.asin(a),
            partials=(lambda m, out, a: m.div(1.0, _sqrt_one_minus_square(m, a)),),
            derivative=("1/sqrt((1 - a)*(1 + a))",),
            sympy=lambda sp, a: sp.asin(a),
            show="asin({0})",
            torch="torch.asin({0})", jax="jnp.arcsin({0})",
            kink=lambda a: abs(a) == 1,
            convention="asin'(±1) = inf (a vertical tangent), as PyTorch gives",
        ),
        Op(
            "acos", 1, "inverse cosine (radians)",
            rule_name="chain",
            forward=lambda m, a: m.acos(a),
            partials=(lambda m, out, a: m.div(-1.0, _sqrt_one_minus_square(m, a)),),
            derivative=("-1/sqrt((1 - a)*(1 + a))",),
            sympy=lambda sp, a: sp.acos(a),
            show="acos({0})",
            torch="torch.acos({0})", jax="jnp.arccos({0})",
            kink=lambda a: abs(a) == 1,
            convention="acos'(±1) = -inf (a vertical tangent), as PyTorch gives",
        ),
        Op(
            "atan", 1, "inverse tangent (radians)",
            rule_name="chain",
            forward=lambda m, a: m.atan(a),
            partials=(_atan_partial,),
            derivative=("1/(1 + a^2)",),
            sympy=lambda sp, a: sp.atan(a),
            show="atan({0})",
            torch="torch.atan({0})", jax="jnp.arctan({0})",
        ),
        Op(
            "atan2", 2, "angle of the point (b, a): atan2(y, x), in (-pi, pi]",
            rule_name="chain",
            forward=lambda m, a, b: m.atan2(a, b),
            partials=(_atan2_partials(0), _atan2_partials(1)),
            derivative=("b/(a^2 + b^2)", "-a/(a^2 + b^2)"),
            sympy=lambda sp, a, b: sp.atan2(a, b),
            show="atan2({0}, {1})",
            torch="torch.atan2({0}, {1})", jax="jnp.arctan2({0}, {1})",
            kink=lambda a, b: (a == 0) & (b == 0),
            convention="atan2's gradient at (0, 0) taken as 0 (PyTorch's convention)",
            jax_partials=(lambda m, out, a, b: math.nan, lambda m, out, a, b: math.nan),
            jax_convention="JAX's gradient of atan2 at (0, 0) is nan (0/0); bp and PyTorch take 0",
        ),
        Op(
            "sinh", 1, "hyperbolic sine",
            rule_name="chain",
            forward=lambda m, a: m.sinh(a),
            partials=(lambda m, out, a: m.cosh(a),),
            derivative=("cosh(a)",),
            sympy=lambda sp, a: sp.sinh(a),
            show="sinh({0})",
            torch="torch.sinh({0})", jax="jnp.sinh({0})",
        ),
        Op(
            "cosh", 1, "hyperbolic cosine",
            rule_name="chain",
            forward=lambda m, a: m.cosh(a),
            partials=(lambda m, out, a: m.sinh(a),),
            derivative=("sinh(a)",),
            sympy=lambda sp, a: sp.cosh(a),
            show="cosh({0})",
            torch="torch.cosh({0})", jax="jnp.cosh({0})",
        ),
        Op(
            "asinh", 1, "inverse hyperbolic sine",
            rule_name="chain",
            forward=lambda m, a: m.asinh(a),
            partials=(lambda m, out, a: m.div(1.0, m.hypot(a, 1.0)),),
            derivative=("1/hypot(a, 1)",),
            sympy=lambda sp, a: sp.asinh(a),
            show="asinh({0})",
            torch="torch.asinh({0})", jax="jnp.arcsinh({0})",
        ),
        Op(
            "acosh", 1, "inverse hyperbolic cosine (x >= 1)",
            rule_name="chain",
            forward=lambda m, a: m.acosh(a),
            partials=(lambda m, out, a: m.div(1.0, m.sqrt(a - 1.0) * m.sqrt(a + 1.0)),),
            derivative=("1/(sqrt(a - 1)*sqrt(a + 1))",),
            sympy=lambda sp, a: sp.acosh(a),
            show="acosh({0})",
            torch="torch.acosh({0})", jax="jnp.arccosh({0})",
            kink=lambda a: a == 1,
            convention="acosh'(1) = inf (a vertical tangent), as PyTorch gives",
        ),
        Op(
            "atanh", 1, "inverse hyperbolic tangent (-1 < x < 1)",
            rule_name="chain",
            forward=lambda m, a: m.atanh(a),
            partials=(lambda m, out, a: m.div(1.0, (1.0 - a) * (1.0 + a)),),
            derivative=("1/((1 - a)*(1 + a))",),
            sympy=lambda sp, a: sp.atanh(a),
            show="atanh({0})",
            torch="torch.atanh({0})", jax="jnp.arctanh({0})",
        ),
        Op(
            "log1p", 1, "log(1 + x), exact for small x",
            rule_name="logarithm",
            forward=lambda m, a: m.log1p(a),
            partials=(lambda m, out, a: m.div(1.0, 1.0 + a),),
            derivative=("1/(1 + a)",),
            sympy=lambda sp, a: sp.log(1 + a),
            show="log1p({0})",
            torch="torch.log1p({0})", jax="jnp.log1p({0})",
        ),
        Op(
            "expm1", 1, "exp(x) - 1, exact for small x",
            rule_name="exponential",
            forward=lambda m, a: m.cr_expm1(a),
            partials=(lambda m, out, a: m.exp(a),),
            derivative=("exp(a)",),
            sympy=lambda sp, a: sp.exp(a) - 1,
            show="expm1({0})",
            torch="torch.expm1({0})", jax="jnp.expm1({0})",
        ),
        Op(
            "log2", 1, "base-2 logarithm",
            rule_name="logarithm",
            forward=lambda m, a: m.log2(a),
            partials=(lambda m, out, a: m.div(LOG2E, a),),
            derivative=("1/(a*log(2))",),
            sympy=lambda sp, a: sp.log(a) / sp.log(2),
            show="log2({0})",
            torch="torch.log2({0})", jax="jnp.log2({0})",
        ),
        Op(
            "log10", 1, "base-10 logarithm",
            rule_name="logarithm",
            forward=lambda m, a: m.cr_log10(a),
            partials=(lambda m, out, a: m.div(LOG10E, a),),
            derivative=("1/(a*log(10))",),
            sympy=lambda sp, a: sp.log(a) / sp.log(10),
            show="log10({0})",
            torch="torch.log10({0})", jax="jnp.log10({0})",
        ),
        Op(
            "exp2", 1, "2 to the power",
            rule_name="exponential",
            forward=lambda m, a: m.exp2(a),
            partials=(lambda m, out, a: out * LN2,),
            derivative=("exp2(a)*log(2)",),
            sympy=lambda sp, a: 2**a,
            show="exp2({0})",
            torch="torch.exp2({0})", jax="jnp.exp2({0})",
        ),
        Op(
            "cbrt", 1, "real cube root (odd: cbrt(-8) = -2)",
            rule_name="power",
            forward=lambda m, a: m.cbrt(a),
            partials=(lambda m, out, a: m.div(1.0, 3.0 * (out * out)),),
            derivative=("1/(3*cbrt(a)^2)",),
            sympy=lambda sp, a: sp.sign(a) * sp.Abs(a) ** sp.Rational(1, 3),
            show="cbrt({0})",
            torch="torch.sign({0}) * torch.abs({0}) ** (1 / 3)", jax="jnp.cbrt({0})",
            kink=lambda a: a == 0,
            convention="cbrt'(0) = inf (a vertical tangent), as sqrt'(0)",
        ),
        Op(
            "hypot", 2, "sqrt(a^2 + b^2) without overflow or underflow",
            rule_name="chain",
            forward=lambda m, a, b: m.hypot(a, b),
            partials=(lambda m, out, a, b: m.div(a, out), lambda m, out, a, b: m.div(b, out)),
            derivative=("a/hypot(a, b)", "b/hypot(a, b)"),
            sympy=lambda sp, a, b: sp.sqrt(a**2 + b**2),
            show="hypot({0}, {1})",
            torch="torch.hypot({0}, {1})", jax="jnp.hypot({0}, {1})",
            kink=lambda a, b: (a == 0) & (b == 0),
            convention="hypot's gradient at (0, 0) is nan: there is no limit (PyTorch gives nan)",
            jax_partials=(lambda m, out, a, b: 0.5, lambda m, out, a, b: 0.5),
            jax_convention="JAX's gradient of hypot at (0, 0) is (1/2, 1/2); bp and PyTorch give nan",
        ),
        Op(
            "logaddexp", 2, "log(e^a + e^b) without overflow",
            rule_name="chain",
            forward=_logaddexp,
            partials=(lambda m, out, a, b: _sigmoid(m, a - b), lambda m, out, a, b: _sigmoid(m, b - a)),
            derivative=("sigmoid(a - b)", "sigmoid(b - a)"),
            sympy=lambda sp, a, b: sp.log(sp.exp(a) + sp.exp(b)),
            show="logaddexp({0}, {1})",
            torch="torch.logaddexp({0}, {1})", jax="jnp.logaddexp({0}, {1})",
        ),
        Op(
            "erf", 1, "error function",
            rule_name="chain",
            forward=lambda m, a: m.erf(a),
            partials=(lambda m, out, a: TWO_OVER_SQRT_PI * m.exp(-(a * a)),),
            derivative=("2/sqrt(pi)*exp(-a^2)",),
            sympy=lambda sp, a: sp.erf(a),
            show="erf({0})",
            torch="torch.erf({0})", jax="jax.lax.erf({0})",
        ),
        Op(
            "erfc", 1, "complementary error function 1 - erf(x), exact in the tail",
            rule_name="chain",
            forward=lambda m, a: m.cr_erfc(a),
            partials=(lambda m, out, a: -TWO_OVER_SQRT_PI * m.exp(-(a * a)),),
            derivative=("-2/sqrt(pi)*exp(-a^2)",),
            sympy=lambda sp, a: sp.erfc(a),
            show="erfc({0})",
            torch="torch.erfc({0})", jax="jax.lax.erfc({0})",
        ),
        Op(
            "floor", 1, "largest integer <= x",
            rule_name="constant",
            forward=lambda m, a: m.floor(a),
            partials=(lambda m, out, a: 0.0,),
            derivative=("0",),
            sympy=lambda sp, a: _flat(sp, "floor")(a),
            show="floor({0})",
            torch="torch.floor({0})", jax="jnp.floor({0})",
            kink=_is_integer,
            convention="floor jumps at integers; its derivative is taken as 0 everywhere (PyTorch's convention)",
        ),
        Op(
            "ceil", 1, "smallest integer >= x",
            rule_name="constant",
            forward=lambda m, a: m.ceil(a),
            partials=(lambda m, out, a: 0.0,),
            derivative=("0",),
            sympy=lambda sp, a: _flat(sp, "ceiling")(a),
            show="ceil({0})",
            torch="torch.ceil({0})", jax="jnp.ceil({0})",
            kink=_is_integer,
            convention="ceil jumps at integers; its derivative is taken as 0 everywhere (PyTorch's convention)",
        ),
        Op(
            "round", 1, "nearest integer, halves to even (round(2.5) = 2)",
            rule_name="constant",
            forward=lambda m, a: m.rint(a),
            partials=(lambda m, out, a: 0.0,),
            derivative=("0",),
            sympy=lambda sp, a: _flat(sp, "floor")(a + sp.Rational(1, 2)),  # ties aside
            show="round({0})",
            torch="torch.round({0})", jax="jnp.round({0})",
            kink=lambda a: _is_integer(a + 0.5),
            convention="round jumps at halves; its derivative is taken as 0 everywhere (PyTorch's convention)",
        ),
        Op(
            "mod", 2, "remainder a - b*floor(a/b), with the sign of b (Python's %, torch.remainder)",
            rule_name="chain",
            forward=lambda m, a, b: m.remainder(a, b),
            partials=(lambda m, out, a, b: ONE, lambda m, out, a, b: -m.floordiv(a, b)),
            derivative=("1", "-floor(a/b)"),
            sympy=lambda sp, a, b: a - b * _flat(sp, "floor")(a / b),
            show="mod({0}, {1})",
            torch="torch.remainder({0}, {1})", jax="jnp.remainder({0}, {1})",
            kink=lambda a, b: (b != 0) & _is_integer(a / (b + (b == 0))),  # no division by 0
            convention="mod jumps where a/b is an integer; its partials are taken as 1 and -floor(a/b) "
                       "there (PyTorch's remainder)",
        ),
        Op(
            "clamp", 3, "x limited to [lo, hi]: min(max(x, lo), hi)",
            rule_name="selection",
            forward=_clamp,
            partials=_clamp_partials(),
            derivative=("(1 - step(b - a))*(1 - step(a - c))", "step(b - a)*(1 - step(b - c))",
                        "1 - (1 - step(a - c))*(1 - step(b - c))"),
            sympy=lambda sp, a, b, c: sp.Min(sp.Max(a, b), c),
            show="clamp({0}, {1}, {2})",
            torch="torch.clamp({0}, {1}, {2})", jax="jnp.clip({0}, {1}, {2})",
            kink=lambda a, lo, hi: (a == lo) | (a == hi) | (lo == hi),
            convention="at a bound clamp passes the gradient to x, and with lo = hi to lo below "
                       "and hi above (PyTorch's convention)",
            jax_partials=_clip_partials(),
            jax_convention="JAX's clip is min(max(x, lo), hi), whose ties split the gradient 1/2 and 1/2 "
                           "at a bound; bp and PyTorch pass it whole",
        ),
        Op(
            "relu6", 1, "rectifier capped at 6: min(max(x, 0), 6)",
            rule_name="selection",
            forward=lambda m, a: m.where(a < 0, 0.0, m.where(a > 6, 6.0, a)),
            partials=(lambda m, out, a: _bit(m, (a > 0) & (a < 6)),),
            derivative=("step(a)*step(6 - a)",),
            sympy=lambda sp, a: sp.Min(sp.Max(a, 0), 6),
            show="relu6({0})",
            torch="torch.nn.functional.relu6({0})", jax="jax.nn.relu6({0})",
            kink=lambda a: (a == 0) | (a == 6),
            convention="relu6'(0) = relu6'(6) = 0 (PyTorch's and JAX's convention)",
        ),
        Op(
            "leaky_relu", 2, "leaky rectifier: x where x > 0, else slope*x (leaky_relu(x, slope))",
            rule_name="chain",
            forward=lambda m, a, b: m.where(a > 0, a, a * b),
            partials=(lambda m, out, a, b: m.where(a > 0, 1.0, b), lambda m, out, a, b: m.where(a > 0, 0.0, a)),
            derivative=("step(a) + b*(1 - step(a))", "a*(1 - step(a))"),
            sympy=lambda sp, a, b: sp.Max(a, 0) + b * sp.Min(a, 0),
            show="leaky_relu({0}, {1})",
            torch="torch.where({0} > 0, {0}, {0} * {1})", jax="jnp.where({0} > 0, {0}, {0} * {1})",
            kink=lambda a, b: a == 0,
            convention="leaky_relu'(0) taken as the slope (PyTorch's convention)",
        ),
        Op(
            "elu", 1, "exponential linear unit: x where x > 0, else exp(x) - 1",
            rule_name="chain",
            forward=lambda m, a: m.where(a > 0, a, m.expm1(m.where(a > 0, 0.0, a))),
            partials=(lambda m, out, a: m.exp(m.where(a > 0, 0.0, a)),),
            derivative=("exp(-relu(-a))",),  # exp(min(a, 0)); relu'(0) = 0 makes elu''(0) 0, as PyTorch
            sympy=lambda sp, a: sp.Piecewise((a, a > 0), (sp.exp(a) - 1, True)),
            show="elu({0})",
            torch="torch.nn.functional.elu({0})", jax="jax.nn.elu({0})",
        ),
        Op(
            "gelu", 1, "Gaussian error linear unit x*Phi(x) (exact, erf form)",
            rule_name="chain",
            forward=_gelu,
            partials=(_gelu_partial,),
            derivative=("erfc(-a/sqrt(2))/2 + a*exp(-a^2/2)/sqrt(2*pi)",),
            sympy=lambda sp, a: a / 2 * (1 + sp.erf(a / sp.sqrt(2))),
            show="gelu({0})",
            torch="torch.nn.functional.gelu({0})", jax="jax.nn.gelu({0}, approximate=False)",
        ),
        Op(
            "silu", 1, "SiLU (also swish): x*sigmoid(x)",
            rule_name="chain",
            forward=lambda m, a: a * _sigmoid(m, a),
            partials=(_silu_partial,),
            derivative=("sigmoid(a)*(1 + a*sigmoid(-a))",),
            sympy=lambda sp, a: a / (1 + sp.exp(-a)),
            show="silu({0})",
            torch="torch.nn.functional.silu({0})", jax="jax.nn.silu({0})",
        ),
        Op(
            "square", 1, "x^2",
            rule_name="power",
            forward=lambda m, a: a * a,
            partials=(lambda m, out, a: 2.0 * a,),
            derivative=("2*a",),
            sympy=lambda sp, a: a**2,
            show="square({0})",
            torch="torch.square({0})", jax="jnp.square({0})",
        ),
        Op(
            "rsqrt", 1, "reciprocal square root 1/sqrt(x)",
            rule_name="power",
            forward=lambda m, a: m.div(1.0, m.sqrt(a)),
            partials=(lambda m, out, a: m.div(-0.5 * out, a),),
            derivative=("-rsqrt(a)/(2*a)",),
            sympy=lambda sp, a: 1 / sp.sqrt(a),
            show="rsqrt({0})",
            torch="torch.rsqrt({0})", jax="jax.lax.rsqrt({0})",
        ),
        Op(
            "sinc", 1, "normalized sinc sin(pi*x)/(pi*x), 1 at 0 (as numpy and PyTorch)",
            rule_name="chain",
            forward=_sinc,
            partials=(_sinc_partial,),
            derivative=(_sinc_derivative(),),
            textbook=("(cos(pi*a) - sinc(a))/a",),
            textbook_note="at a = 0 the quotient is 0/0 and near 0 it cancels: bp uses its Taylor "
                          "series for |a| < 1/4 (sinc'(0) = 0)",
            sympy=lambda sp, a: sp.sinc(sp.pi * a),
            show="sinc({0})",
            torch="torch.sinc({0})", jax="jnp.sinc({0})",
            kink=lambda a: a == 0,
            convention="sinc(0) = 1 and sinc'(0) = 0, the limits",
        ),
    ]
}


# -- tensor operations ------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    """What a non-elementwise rule knows besides the values: the node's static parameters
    (axes, indices; `kw` by name, defaults filled in) and its operands' per-example ranks
    (more axes than that: a batch)."""

    params: tuple
    ranks: tuple
    kw: dict = field(default_factory=dict)


def site(kind: str, params: tuple, ranks: tuple) -> Site:
    """The Site of a node of this kind."""
    return Site(params, ranks, OPS[kind].bound(params))


def _matmul_shape(shapes, params):
    a, b = shapes
    if not (a and b):
        raise ShapeError(f"@ multiplies vectors and matrices, not {shape_text(a)} by {shape_text(b)}")
    if len(a) <= 2 and len(b) <= 2:
        if a[-1] != b[0]:
            raise ShapeError(f"cannot multiply {shape_text(a)} by {shape_text(b)} (@ needs {a[-1]} = {b[0]})")
        return a[:-1] + b[1:]
    # Batched: the last two axes multiply, the ones before broadcast (torch.matmul)
    pa, pb = (a if len(a) > 1 else (1,) + a), (b if len(b) > 1 else b + (1,))
    if pa[-1] != pb[-2]:
        raise ShapeError(f"cannot multiply {shape_text(a)} by {shape_text(b)} (@ needs {pa[-1]} = {pb[-2]})")
    lead = []
    for k in range(max(len(pa), len(pb)) - 2, 0, -1):
        x = pa[-2 - k] if k <= len(pa) - 2 else 1
        y = pb[-2 - k] if k <= len(pb) - 2 else 1
        if x != y and 1 not in (x, y):
            raise ShapeError(f"cannot multiply {shape_text(a)} by {shape_text(b)}: their batch axes "
                             f"({shape_text(pa[:-2])} and {shape_text(pb[:-2])}) do not broadcast")
        lead.append(max(x, y) if 1 in (x, y) else x)
    return tuple(lead) + ((pa[-2],) if len(a) > 1 else ()) + ((pb[-1],) if len(b) > 1 else ())


def _batched(a, ra, b, rb):
    """Both operands of a batched @ as (…, rows, columns) with the same number of axes, each
    example's leading axes after the batch axis (if any): vectors promoted as torch.matmul."""
    pa = a[..., None, :] if ra == 1 else a
    pb = b[..., :, None] if rb == 1 else b
    ra, rb = max(ra, 2), max(rb, 2)
    lead = max(ra, rb) - 2
    fix = []
    for x, r in ((pa, ra), (pb, rb)):
        batch = x.shape[:x.ndim - r]
        fix.append(x.reshape(batch + (1,) * (lead - (r - 2)) + x.shape[x.ndim - r:]))
    n = max(fix[0].ndim, fix[1].ndim)
    return [x.reshape((1,) * (n - x.ndim) + x.shape) for x in fix]


def _summed_to(np, c, shape):
    """c summed over the axes where `shape` has 1 (broadcast), in that shape."""
    axes = tuple(k for k, (n, m) in enumerate(zip(shape, c.shape)) if n == 1 and m != 1)
    return (c.sum(axis=axes, keepdims=True) if axes else c).reshape(shape)


def _matmul_batched(m, a, b, site, slot=None, g=None):
    """The forward (slot None) or one operand's VJP of a batched @."""
    np = m.np
    ra, rb = site.ranks
    pa, pb = _batched(a, ra, b, rb)
    if slot is None:
        return _unpromoted(np.matmul(pa, pb), ra, rb)
    pg = _promoted_grad(g, ra, rb)
    if slot == 0:
        c = _summed_to(np, np.matmul(pg, np.swapaxes(pb, -1, -2)), pa.shape)
        return c.reshape(a.shape if ra > 1 else a.shape[:-1] + (1, a.shape[-1])).reshape(a.shape)
    c = _summed_to(np, np.matmul(np.swapaxes(pa, -1, -2), pg), pb.shape)
    return c.reshape(b.shape)


def _promoted(a, ra, b, rb):
    """Vectors as a row (left) and a column (right), so every case is a matrix product."""
    return (a if ra == 2 else a[..., None, :]), (b if rb == 2 else b[..., :, None])


def _unpromoted(x, ra, rb):
    if rb == 1:
        x = x[..., 0]
    if ra == 1:
        x = x[..., 0, :] if rb >= 2 else x[..., 0]
    return x


def _matmul(m, a, b, site):
    np = m.np
    ra, rb = site.ranks
    if ra > 2 or rb > 2:
        return _matmul_batched(m, a, b, site)
    if ra == 2 and rb == 1 and a.ndim == 2:  # one matrix, vectors (maybe a batch): one GEMM
        return b @ a.T
    if ra == 1 and b.ndim == rb:  # vectors (maybe a batch) times one vector or matrix
        return a @ b
    pa, pb = _promoted(a, ra, b, rb)
    return _unpromoted(np.matmul(pa, pb), ra, rb)


def _promoted_grad(g, ra, rb):
    """The upstream gradient in the promoted product's shape (…, rows, columns)."""
    g = g[..., None] if rb == 1 else g
    return g[..., None, :] if ra == 1 else g


def _matmul_grad_a(m, g, out, a, b, site):
    np = m.np
    ra, rb = site.ranks
    if ra > 2 or rb > 2:
        return _matmul_batched(m, a, b, site, 0, g)
    if ra == 2 and rb == 1 and a.ndim == 2 and b.ndim == 2:  # shared matrix, a batch of vectors
        return g.T @ b
    pg = _promoted_grad(g, ra, rb)
    _, pb = _promoted(a, ra, b, rb)
    ga = np.matmul(pg, np.swapaxes(pb, -1, -2))
    return ga[..., 0, :] if ra == 1 else ga


def _matmul_grad_b(m, g, out, a, b, site):
    np = m.np
    ra, rb = site.ranks
    if ra > 2 or rb > 2:
        return _matmul_batched(m, a, b, site, 1, g)
    if ra == 1 and b.ndim == rb and a.ndim == 2:  # a batch of vectors times one vector or matrix
        return a.T @ g
    pg = _promoted_grad(g, ra, rb)
    pa, _ = _promoted(a, ra, b, rb)
    gb = np.matmul(np.swapaxes(pa, -1, -2), pg)
    return gb[..., 0] if rb == 1 else gb


def _reductions():
    from bpcli.engine import reductions  # deferred: the reductions' numpy rules, off bp grad's scalar path
    return reductions


def _reduction(name: str):
    """A rule of engine/reductions.py, which loads when a tensor pass first runs one."""
    def run(*args):
        return getattr(_reductions(), name)(*args)

    run.__name__ = name
    return run


def _reduction_shape(name: str, empty: bool = True):
    def shape(shapes, kw):
        return _reductions().reduce_shape(name, empty)(shapes, kw)

    return shape


def _shapes():
    from bpcli.engine import shapes  # deferred: the shape ops' numpy rules, off bp grad's scalar path
    return shapes


def _shape_rule(name: str, symbolic: bool = False):
    """A rule of engine/shapes.py (its SymPy counterpart: `symbolic`), loaded when first run."""
    def run(*args):
        return (_shapes().symbolic(name) if symbolic else getattr(_shapes(), name))(*args)

    run.__name__ = name
    return run


def _shape_of(name: str, *more):
    def shape(shapes, kw):
        rule = getattr(_shapes(), name)
        return (rule(*more) if more else rule)(shapes, kw)

    return shape


def _vector_shape(name):
    def shape(shapes, params):
        (a,) = shapes
        return a

    return shape


def _one_entry(rule, lifted: tuple, squeeze: bool = True):
    """A last-axis rule (softmax, log_softmax, logsumexp: forward, VJP or JVP) for a scalar
    example as for a vector of one entry, as PyTorch takes a 0-d tensor: the operands at
    positions `lifted` get a last axis of length 1, which the result loses again (`squeeze`)."""
    def run(m, *args):
        site = args[-1]
        if site.ranks[0]:
            return rule(m, *args)
        new = [m.np.asarray(x)[..., None] if k in lifted else x for k, x in enumerate(args[:-1])]
        out = rule(m, *new, site)
        return out[..., 0] if squeeze else out

    return run


def _shifted(m, a):
    """a minus its largest entry along the last axis (finite or not), so exp never overflows;
    an empty axis is left as it is (PyTorch's softmax of a 2×0 tensor is 2×0)."""
    top = m.np.max(a, axis=-1, keepdims=True, initial=-m.np.inf)
    return a - m.np.where(m.np.isfinite(top), top, 0.0), top


def _softmax(m, a, site):
    e = m.np.exp(_shifted(m, a)[0])
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(m, a, site):
    z = _shifted(m, a)[0]
    return z - m.np.log(m.np.exp(z).sum(axis=-1, keepdims=True))


class Slice(NamedTuple):
    """start:stop:step in a subscript, x[1:3, ::2]: a static part of an index node, each bound an
    integer or None (absent). Written back as the text it was parsed from."""

    start: int | None
    stop: int | None
    step: int | None

    def __str__(self) -> str:
        text = ("" if self.start is None else str(self.start)) + ":" + ("" if self.stop is None else str(self.stop))
        return text if self.step is None else f"{text}:{self.step}"

    def python(self) -> slice:
        return slice(self.start, self.stop, self.step)


def index_key(params) -> tuple:
    """An index node's parameters as a Python subscript: integers stay, slices become slice()."""
    return tuple(p.python() if isinstance(p, Slice) else p for p in params)


def _index_shape(shapes, params):
    (a,) = shapes
    if len(params) > len(a):
        raise ShapeError(f"{len(params)} indices into a {shape_text(a)} tensor: it has {len(a)} "
                         f"ax{'is' if len(a) == 1 else 'es'}")
    out = []
    for axis, (i, n) in enumerate(zip(params, a)):
        if isinstance(i, Slice):  # out-of-range bounds are clamped, as Python and PyTorch do
            out.append(len(range(*i.python().indices(n))))
        elif not -n <= i < n:
            raise ShapeError(f"index {i} is out of range for axis {axis} of length {n}"
                             f" (a {shape_text(a)} tensor)")
    return tuple(out) + a[len(params):]


def _index_key(x, site) -> tuple:
    return (slice(None),) * (x.ndim - site.ranks[0]) + index_key(site.params)


def _index(m, a, site):
    return a[_index_key(a, site)]


def _index_grad(m, g, out, a, site):
    z = m.np.zeros(a.shape, dtype=m.dtype)
    z[_index_key(a, site)] = g
    return z


def _take_shape(shapes, params):
    p, y = shapes
    if not p:
        raise ShapeError("p[y] picks entries of a tensor along its first axis: p is a scalar")
    return y + p[1:]  # as PyTorch's x[idx]: the index tensor's shape, then p's other axes


def _take_key(m, p, y, site) -> tuple:
    """Where p[y] reads, for a batch of rows or one: y's entries, checked to be whole numbers in
    range, pick along p's first axis (its second in a batch, each row its own)."""
    np = m.np
    n = p.shape[p.ndim - site.ranks[0]]
    labels = np.asarray(y)
    whole = whole_indices(np, labels, n, "the index")
    batch = p.ndim > site.ranks[0]
    if labels.ndim > site.ranks[1] and batch:  # a batch of rows, each with its own labels
        return (np.arange(len(whole)).reshape((-1,) + (1,) * site.ranks[1]), whole)
    key = whole if labels.ndim else int(whole)
    return (slice(None), key) if batch else (key,)


def _take(m, p, y, site):
    return p[_take_key(m, p, y, site)]


def _take_grad(m, g, out, p, y, site):
    z = m.np.zeros(p.shape, dtype=m.dtype)
    m.np.add.at(z, _take_key(m, p, y, site), g)  # add.at: one label may repeat in a batch
    return z


def _tensor_op(name, arity, doc, rule_name, forward, vjp, shape, rule, show, **more):
    return Op(name, arity, doc, forward=forward, partials=(), rule_name=rule_name,
              derivative=tuple(r.format("a", "b", y="Y") for r in rule), sympy=None,
              show=show, elementwise=False, vjp=vjp, shape=shape, rule=rule, **more)


for _op in [
    _tensor_op("matmul", 2, "matrix product (vector·vector, matrix·vector, vector·matrix, matrix·matrix); over leading "
               "axes, broadcast, for 3-D and more (torch.matmul)",
               "matrix product",
               _matmul, (_matmul_grad_a, _matmul_grad_b), _matmul_shape,
               ("∂L/∂{y} @ {1}ᵀ", "{0}ᵀ @ ∂L/∂{y}"), "{0} @ {1}", syntax="{0} @ {1}", prec=PRODUCT,
               torch="{0} @ {1}", jax="{0} @ {1}",
               jvp=(lambda m, t, out, a, b, site: _matmul(m, t, b, site),
                    lambda m, t, out, a, b, site: _matmul(m, a, t, site))),
    _tensor_op("sum", 1, "sum of all entries; sum(A, dim) along one axis", "sum",
               _reduction("total"), (_reduction("total_vjp"),), _reduction_shape("sum"),
               ("∂L/∂{y} copied to every summed entry",), "sum({0})", signature=(DIM, KEEPDIM),
               torch="torch.sum({0}, dim={dim}, keepdim={keepdim})",
               jax="jnp.sum({0}, axis={dim}, keepdims={keepdim})",
               sympy_tensor=_reduction("total_sympy"),
               jvp=(_reduction("total_jvp"),)),
    _tensor_op("mean", 1, "mean of all entries; mean(A, dim) along one axis", "mean",
               _reduction("mean"), (_reduction("mean_vjp"),), _reduction_shape("mean"),
               ("∂L/∂{y} / n copied to every averaged entry",), "mean({0})", signature=(DIM, KEEPDIM),
               torch="torch.mean({0}, dim={dim}, keepdim={keepdim})",
               jax="jnp.mean({0}, axis={dim}, keepdims={keepdim})",
               sympy_tensor=_reduction("mean_sympy"),
               jvp=(_reduction("mean_jvp"),)),
    _tensor_op("transpose", 1, "transpose: swaps the last two axes (a vector stays as it is); "
               "transpose(A, dim0, dim1) swaps those two", "transpose",
               _shape_rule("transpose"), (_shape_rule("transpose_vjp"),), _shape_of("transpose_shape"),
               ("(∂L/∂{y}) with the two axes swapped back",), "transpose({0})",
               signature=(Param("dim0", doc="one axis (absent: the last two)"), Param("dim1", doc="the other")),
               torch="torch.transpose({0}, {dim0}, {dim1})", jax="jnp.swapaxes({0}, {dim0}, {dim1})",
               sympy_tensor=_shape_rule("transpose", symbolic=True),
               jvp=(_shape_rule("transpose_jvp"),)),
    _tensor_op("softmax", 1, "softmax along the last axis: exp(v) / sum(exp(v))", "softmax",
               _one_entry(_softmax, (0,)),
               (_one_entry(lambda m, g, out, a, site: out * (g - (g * out).sum(axis=-1, keepdims=True)),
                           (0, 1, 2)),),
               _vector_shape("softmax"), ("{y} ⊙ (∂L/∂{y} − Σ ∂L/∂{y} ⊙ {y})",), "softmax({0})",
               torch="torch.softmax({0}, dim=-1)", jax="jax.nn.softmax({0}, axis=-1)",
               jvp=(_one_entry(lambda m, t, out, a, site: out * (t - (t * out).sum(axis=-1, keepdims=True)),
                               (0, 1, 2)),)),
    _tensor_op("log_softmax", 1, "log of softmax along the last axis, computed stably", "log-softmax",
               _one_entry(_log_softmax, (0,)),
               (_one_entry(lambda m, g, out, a, site: g - m.np.exp(out) * g.sum(axis=-1, keepdims=True),
                           (0, 1, 2)),),
               _vector_shape("log_softmax"), ("∂L/∂{y} − softmax({0}) · Σ ∂L/∂{y}",), "log_softmax({0})",
               torch="torch.log_softmax({0}, dim=-1)", jax="jax.nn.log_softmax({0}, axis=-1)",
               jvp=(_one_entry(lambda m, t, out, a, site: t - (m.np.exp(out) * t).sum(axis=-1, keepdims=True),
                               (0, 1, 2)),)),
    _tensor_op("logsumexp", 1, "log of the sum of exp(v) along an axis (the last by default), computed stably",
               "log-sum-exp",
               _reduction("logsumexp"), (_reduction("logsumexp_vjp"),), _reduction_shape("logsumexp"),
               ("∂L/∂{y} · softmax({0}) along the axis",), "logsumexp({0})",
               signature=(Param("dim", default=-1, doc="the axis reduced"), KEEPDIM),
               torch="torch.logsumexp({0}, dim={dim}, keepdim={keepdim})",
               jax="jax.nn.logsumexp({0}, axis={dim}, keepdims={keepdim})",
               sympy_tensor=_reduction("logsumexp_sympy"),
               jvp=(_reduction("logsumexp_jvp"),)),
    _tensor_op("index", 1, "entries at integer indices and slices, as PyTorch's basic indexing: v[2], A[1, 0], "
               "A[-1], x[1:3], A[:, 0], x[::2] (a slice keeps its axis, an integer drops it)", "indexing",
               _index, (_index_grad,), _index_shape, ("∂L/∂{y} at the indexed entries, 0 elsewhere",), "{0}[…]",
               syntax="{0}[…]", prec=POWER + 1, torch="{0}[{index}]", jax="{0}[{index}]",
               jvp=(lambda m, t, out, a, site: _index(m, t, site),)),
    _tensor_op("take", 2, "p[y]: the entries of p at y, an input holding whole numbers (a class label, or a "
               "tensor of indices along p's first axis, as PyTorch's x[idx])", "indexing",
               _take, (_take_grad, None), _take_shape,
               ("∂L/∂{y} added at the entries {1} picks, 0 elsewhere", "none: an index is not differentiated"),
               "{0}[{1}]", syntax="{0}[{1}]", prec=POWER + 1,
               torch="{0}[{1}.long()]", jax="{0}[{1}.astype(int)]",
               jvp=(lambda m, t, out, p, y, site: _take(m, t, y, site), None), labels=(1,)),
]:
    OPS[_op.name] = _op


# -- issue 24's operations (shapes, slicing, reductions, comparisons, batched @) ---------------
# Their rules live in engine/reductions.py and engine/shapes.py, loaded when a tensor pass first
# runs one (bp grad on numbers never does).
CORRECTION = Param("correction", default=1, keyword=True,
                   doc="divide by n - correction (1: the unbiased estimate, PyTorch's default)")


# The rule each of these rows applies, in a word or two (the tables' and JSON's rule_name)
RULE_NAMES = {"amax": "selection", "amin": "selection", "prod": "product", "var": "variance",
              "std": "standard deviation", "cumsum": "running sum", "cumprod": "running product",
              "logcumsumexp": "log-sum-exp", "reshape": "reshaping", "flatten": "reshaping",
              "permute": "transpose", "squeeze": "reshaping", "unsqueeze": "reshaping", "cat": "joining",
              "stack": "joining", "pad": "padding", "flip": "reversal", "tril": "masking", "triu": "masking"}


def _reduction_row(name, doc, rule, torch, jax, signature=(DIM, KEEPDIM), empty=True, sympy=True, **more):
    return _tensor_op(name, 1, doc, RULE_NAMES[name], _reduction(name), (_reduction(f"{name}_vjp"),),
                      _reduction_shape(name, empty), (rule,), f"{name}({{0}})", signature=signature,
                      torch=torch, jax=jax, jvp=(_reduction(f"{name}_jvp"),),
                      sympy_tensor=_reduction(f"{name}_sympy") if sympy else None, **more)


def _along_row(name, doc, rule, torch, jax):
    return _tensor_op(name, 1, doc, RULE_NAMES[name], _reduction(name), (_reduction(f"{name}_vjp"),),
                      _along_shape(name),
                      (rule,), f"{name}({{0}})", signature=(Param("dim", required=True, doc="the axis"),),
                      torch=torch, jax=jax, jvp=(_reduction(f"{name}_jvp"),),
                      sympy_tensor=_reduction(f"{name}_sympy"))


def _along_shape(name: str):
    def shape(shapes, kw):
        return _reductions().along_shape(name)(shapes, kw)

    return shape


_TIES = "ties share the gradient evenly (1/k to each of k tied entries), as PyTorch's amax and amin"

for _op in [
    _reduction_row("amax", "largest entry; amax(A, dim) along one axis",
                   "∂L/∂{y} split evenly among the entries equal to the largest, 0 elsewhere",
                   "torch.amax({0}, dim={dim}, keepdim={keepdim})", "jnp.max({0}, axis={dim}, keepdims={keepdim})",
                   empty=False, sympy=False, kink=_reduction("tied_max"), convention=_TIES),
    _reduction_row("amin", "smallest entry; amin(A, dim) along one axis",
                   "∂L/∂{y} split evenly among the entries equal to the smallest, 0 elsewhere",
                   "torch.amin({0}, dim={dim}, keepdim={keepdim})", "jnp.min({0}, axis={dim}, keepdims={keepdim})",
                   empty=False, sympy=False, kink=_reduction("tied_min"), convention=_TIES),
    _reduction_row("prod", "product of all entries; prod(A, dim) along one axis",
                   "∂L/∂{y} times the product of the other entries (exact at zeros)",
                   "torch.prod({0}, dim={dim}, keepdim={keepdim})", "jnp.prod({0}, axis={dim}, keepdims={keepdim})"),
    _reduction_row("var", "variance, unbiased (divides by n - 1, PyTorch's default; correction=0: by n)",
                   "∂L/∂{y} · 2({0} − mean) / (n − correction)",
                   "torch.var({0}, dim={dim}, correction={correction}, keepdim={keepdim})",
                   "jnp.var({0}, axis={dim}, ddof={correction}, keepdims={keepdim})",
                   signature=(DIM, KEEPDIM, CORRECTION)),
    _reduction_row("std", "standard deviation, unbiased (sqrt of var; correction=0: divides by n)",
                   "∂L/∂{y} · ({0} − mean) / ((n − correction) · {y})",
                   "torch.std({0}, dim={dim}, correction={correction}, keepdim={keepdim})",
                   "jnp.std({0}, axis={dim}, ddof={correction}, keepdims={keepdim})",
                   signature=(DIM, KEEPDIM, CORRECTION), kink=_reduction("std_zero"),
                   convention="std = 0 (all entries equal): its gradient is taken as 0, as PyTorch's std "
                              "(a kink, as |x| at 0)",
                   jax_partials=(_reduction("std_vjp_unmasked"),),
                   jax_convention="JAX's std of equal entries has gradient nan (sqrt'(0) · 0); bp and "
                                  "PyTorch take 0"),
    _along_row("cumsum", "running sum along an axis", "reversed running sum of ∂L/∂{y} along the axis",
               "torch.cumsum({0}, dim={dim})", "jnp.cumsum({0}, axis={dim})"),
    _along_row("cumprod", "running product along an axis",
               "Σ over j from i on: ∂L/∂{y}_j · the product of the other {0}_k up to j (exact at zeros)",
               "torch.cumprod({0}, dim={dim})", "jnp.cumprod({0}, axis={dim})"),
    _along_row("logcumsumexp", "log of the running sum of exp along an axis, computed stably",
               "Σ over j from i on: ∂L/∂{y}_j · exp({0}_i − {y}_j)",
               "torch.logcumsumexp({0}, dim={dim})", "jax.lax.cumlogsumexp({0}, axis={dim})"),
]:
    OPS[_op.name] = _op


def _shape_row(name, arity, doc, rule, torch, jax, signature, shape=None):
    """A row whose rules are engine/shapes.py's functions name, name_vjp (name_vjp_a, _b for two
    operands), name_jvp and name_shape."""
    slots = ("",) if arity == 1 else ("_a", "_b")
    show = f"{name}({', '.join(f'{{{k}}}' for k in range(arity))})"
    return _tensor_op(name, arity, doc, RULE_NAMES[name], _shape_rule(name),
                      tuple(_shape_rule(f"{name}_vjp{s}") for s in slots),
                      shape or _shape_of(f"{name}_shape"), rule, show,
                      signature=signature, torch=torch, jax=jax,
                      jvp=tuple(_shape_rule(f"{name}_jvp{s}") for s in slots),
                      sympy_tensor=_shape_rule(name, symbolic=True))


_BACK = "∂L/∂{y} reshaped back to {0}'s shape"

for _op in [
    _shape_row("reshape", 1, "the entries in a new shape, row-major: reshape(x, 2, 3) (one size may be -1)",
               (_BACK,), "torch.reshape({0}, {shape})", "jnp.reshape({0}, {shape})",
               (Param("shape", "ints", required=True, doc="the new sizes, one of them may be -1"),)),
    _shape_row("flatten", 1, "the entries as one axis (flatten(x, start_dim, end_dim): those axes)",
               (_BACK,), "torch.flatten({0}, {start_dim}, {end_dim})", "jnp.reshape({0}, {out_shape})",
               (Param("start_dim", default=0, doc="the first axis flattened"),
                Param("end_dim", default=-1, doc="the last axis flattened"))),
    _shape_row("permute", 1, "the axes in a new order: permute(x, 2, 0, 1)",
               ("∂L/∂{y} with the axes put back (the inverse permutation)",),
               "torch.permute({0}, {dims})", "jnp.transpose({0}, {dims})",
               (Param("dims", "ints", required=True, doc="every axis once, in the new order"),)),
    _shape_row("squeeze", 1, "without axes of length 1 (squeeze(x, dim): that axis, if its length is 1)",
               (_BACK,), "torch.squeeze({0}, dim={dim})", "jnp.reshape({0}, {out_shape})",
               (Param("dim", doc="the axis removed if its length is 1 (absent: every such axis)"),)),
    _shape_row("unsqueeze", 1, "with a new axis of length 1 at dim: unsqueeze(x, 0)",
               (_BACK,), "torch.unsqueeze({0}, {dim})", "jnp.expand_dims({0}, {dim})",
               (Param("dim", required=True, doc="where the new axis goes"),)),
    _shape_row("cat", 2, "two tensors joined along an axis: cat(a, b, dim)",
               ("∂L/∂{y}'s part along the axis where {0} lies", "∂L/∂{y}'s part where {1} lies"),
               "torch.cat(({0}, {1}), dim={dim})", "jnp.concatenate(({0}, {1}), axis={dim})",
               (Param("dim", default=0, doc="the axis they are joined along"),)),
    _shape_row("stack", 2, "two tensors of one shape stacked along a new axis: stack(a, b, dim)",
               ("∂L/∂{y}'s first slice along the new axis", "∂L/∂{y}'s second slice"),
               "torch.stack(({0}, {1}), dim={dim})", "jnp.stack(({0}, {1}), axis={dim})",
               (Param("dim", default=0, doc="where the new axis goes"),)),
    _shape_row("pad", 1, "zeros around the entries: pad(x, 1) on every axis, pad(x, l, r, …) as F.pad "
               "(pairs from the last axis)",
               ("∂L/∂{y} with the padding cut off",), "torch.nn.functional.pad({0}, {torch_pad})",
               "jnp.pad({0}, {jax_pad})",
               (Param("pad", "ints", required=True,
                      doc="one width for every side, or (before, after) pairs from the last axis"),)),
    _shape_row("flip", 1, "the entries in reverse order along axes: flip(x, 0)",
               ("∂L/∂{y} flipped back",), "torch.flip({0}, {dims})", "jnp.flip({0}, {dims})",
               (Param("dims", "ints", required=True, doc="the axes reversed"),)),
    _shape_row("tril", 1, "the lower triangle of a matrix (the last two axes), zeros above",
               ("the lower triangle of ∂L/∂{y}",), "torch.tril({0}, {diagonal})", "jnp.tril({0}, {diagonal})",
               (Param("diagonal", default=0, doc="which diagonal bounds the triangle (0: the main one)"),),
               shape=_shape_of("triangle_shape", "tril")),
    _shape_row("triu", 1, "the upper triangle of a matrix (the last two axes), zeros below",
               ("the upper triangle of ∂L/∂{y}",), "torch.triu({0}, {diagonal})", "jnp.triu({0}, {diagonal})",
               (Param("diagonal", default=0, doc="which diagonal bounds the triangle (0: the main one)"),),
               shape=_shape_of("triangle_shape", "triu")),
    _tensor_op("gather", 2, "entries of x picked along an axis by an index tensor (whole numbers): "
               "gather(x, dim, idx) as torch.gather; out[i][j] = x[i][idx[i][j]] for dim 1",
               "indexing", _shape_rule("gather"), (_shape_rule("gather_vjp_a"), None),
               _shape_of("gather_shape"),
               ("∂L/∂{y} added at the entries {1} picks, 0 elsewhere", "none: an index is not differentiated"),
               "gather({0}, {1})", signature=(Param("dim", required=True, doc="the axis picked along"),),
               operand_positions=(0, 2), labels=(1,),
               torch="torch.gather({0}, {dim}, {1}.long())",
               # torch.gather reads an index shorter than x off the axis: JAX's needs x cut to it
               jax="jnp.take_along_axis({0}[tuple(slice(None) if k == {dim} % {0}.ndim else slice(0, n) "
                   "for k, n in enumerate({out_shape}))], {1}.astype(int), axis={dim})",
               sympy_tensor=_shape_rule("gather", symbolic=True),
               jvp=(_shape_rule("gather_jvp_a"), None)),
]:
    OPS[_op.name] = _op


# Comparisons (values 1 and 0, no gradient: PyTorch's bool tensors, as numbers) and where.
def _comparison(name, symbol, test, sympy_test, torch_op):
    return Op(
        name, 2, f"1 where a {symbol} b, else 0 (no gradient flows through it)",
        forward=lambda m, a, b: _bit(m, test(a, b)),
        partials=(lambda m, out, a, b: 0.0, lambda m, out, a, b: 0.0),
        derivative=("0", "0"),
        sympy=lambda sp, a, b: sp.Piecewise((sp.S.One, sympy_test(sp, a, b)), (sp.S.Zero, True)),
        show=f"{{0}} {symbol} {{1}}", syntax=f"{{0}} {symbol} {{1}}", prec=COMPARE,
        torch=f"({{0}} {torch_op} {{1}}).to(DTYPE)", jax=f"jnp.where({{0}} {torch_op} {{1}}, 1.0, 0.0)",
        inert=(0, 1), kink=_tie, rule_name="constant",
        convention=f"a {symbol} b jumps where a = b: its gradient is taken as 0 there too (no gradient flows)",
    )


for _op in [
    _comparison("gt", ">", lambda a, b: a > b, lambda sp, a, b: sp.Gt(a, b), ">"),
    _comparison("lt", "<", lambda a, b: a < b, lambda sp, a, b: sp.Lt(a, b), "<"),
    _comparison("ge", ">=", lambda a, b: a >= b, lambda sp, a, b: sp.Ge(a, b), ">="),
    _comparison("le", "<=", lambda a, b: a <= b, lambda sp, a, b: sp.Le(a, b), "<="),
    _comparison("eq", "==", lambda a, b: a == b, lambda sp, a, b: sp.Eq(a, b), "=="),
    _comparison("ne", "!=", lambda a, b: a != b, lambda sp, a, b: sp.Ne(a, b), "!="),
    Op(
        "where", 3, "where(cond, a, b): a where cond is not 0, else b (masked fill: where(mask, x, -inf))",
        forward=lambda m, c, a, b: m.where(c != 0, a, b),
        partials=(lambda m, out, c, a, b: 0.0, lambda m, out, c, a, b: _bit(m, c != 0),
                  lambda m, out, c, a, b: _bit(m, c == 0)),
        derivative=("0", "where(a, 1, 0)", "where(a, 0, 1)"),
        sympy=lambda sp, c, a, b: sp.Piecewise((a, sp.Ne(c, 0)), (b, True)),
        show="where({0}, {1}, {2})",
        torch="torch.where({0} != 0, {1}, {2})", jax="jnp.where({0} != 0, {1}, {2})",
        inert=(0,), kink=lambda c, a, b: (c == 0) & (a != b), rule_name="selection",
        convention="where(cond, a, b) jumps where cond reaches 0: the gradient goes to the side taken (b at 0)",
    ),
]:
    OPS[_op.name] = _op

# -- convolution, pooling and losses (issue 24): numpy kernels in engine/conv.py -------------------
def _kernel(name: str, **fixed):
    """A rule whose kernel lives in engine/conv.py, imported on first use."""
    def run(*args):
        from bpcli.engine import conv  # deferred: numpy kernels, loaded only when a formula uses one
        return getattr(conv, name)(*args, **fixed)

    run.__name__ = name
    return run


def _out_size(n: int, kernel: int, stride: int, padding: int) -> int:
    return (n + 2 * padding - kernel) // stride + 1


def _conv_shape(d: int):
    name = f"conv{d}d"
    layout = "(N, C, L) or (C, L)" if d == 1 else "(N, C, H, W) or (C, H, W)"

    def shape(shapes, kw):
        x, w = shapes
        stride, padding = kw["stride"], kw["padding"]
        if stride < 1 or padding < 0:
            raise ShapeError(f"{name}'s stride must be at least 1 and its padding at least 0, "
                             f"not stride={stride}, padding={padding}")
        if len(x) not in (d + 1, d + 2):
            raise ShapeError(f"{name} takes an input of {layout}, not {shape_text(x)}")
        if len(w) != d + 2:
            raise ShapeError(f"{name}'s filters are (C_out, C_in, {'k' if d == 1 else 'kH, kW'}), "
                             f"not {shape_text(w)}")
        if w[0] == 0 or 0 in w[-d:]:
            raise ShapeError(f"{name} needs at least one filter and a kernel of at least one entry a side, "
                             f"not {shape_text(w)} filters (as PyTorch)")
        if x[-d - 1] != w[1]:
            raise ShapeError(f"{name} of a {shape_text(x)} input by {shape_text(w)} filters: "
                             f"{x[-d - 1]} input channels, the filters expect {w[1]}")
        outs = tuple(_out_size(n, k, stride, padding) for n, k in zip(x[-d:], w[-d:]))
        if min(outs) < 1:
            raise ShapeError(f"{name}'s {shape_text(w[-d:])} kernel is larger than the "
                             f"{shape_text(x[-d:])} input (padded by {padding})")
        return x[:-d - 1] + (w[0],) + outs

    return shape


def _pool_shape(name: str):
    def shape(shapes, kw):
        (x,) = shapes
        kernel, stride, padding = kw["kernel_size"], kw["stride"] or kw["kernel_size"], kw["padding"]
        if kernel < 1 or stride < 1 or padding < 0:
            raise ShapeError(f"{name}'s kernel size and stride must be at least 1 and its padding "
                             f"at least 0, not {kernel}, {stride}, {padding}")
        if 2 * padding > kernel:
            raise ShapeError(f"{name}'s padding {padding} is more than half its kernel size {kernel} "
                             "(PyTorch's bound)")
        if len(x) not in (3, 4):
            raise ShapeError(f"{name} takes an input of (N, C, H, W) or (C, H, W), not {shape_text(x)}")
        if 0 in x[-3:]:
            raise ShapeError(f"{name} of a {shape_text(x)} input: its channels, height and width need entries "
                             "(only the batch N may be empty, as in PyTorch)")
        outs = tuple(_out_size(n, kernel, stride, padding) for n in x[-2:])
        if min(outs) < 1:
            raise ShapeError(f"{name}'s {kernel}×{kernel} window is larger than the "
                             f"{shape_text(x[-2:])} input (padded by {padding})")
        return x[:-2] + outs

    return shape


def _label_loss_shape(name: str):
    def shape(shapes, params):
        z, y = shapes
        if len(z) not in (1, 2):
            raise ShapeError(f"{name} takes scores of (N, C) or (C), not {shape_text(z)}")
        if z[-1] == 0:
            raise ShapeError(f"{name} of {shape_text(z)} scores: there is no class to label (C = 0)")
        if y != z[:-1]:
            want = "a number" if len(z) == 1 else f"a vector of {z[0]} (one per row)"
            raise ShapeError(f"{name}'s class labels for {shape_text(z)} scores must be {want}, "
                             f"not {shape_text(y)}")
        return ()

    return shape


def _mse_shape(shapes, params):
    a, b = shapes
    rank = max(len(a), len(b))
    for k in range(1, rank + 1):
        n, m = (a[-k] if k <= len(a) else 1), (b[-k] if k <= len(b) else 1)
        if n != m and 1 not in (n, m):
            raise ShapeError(f"mse_loss of {shape_text(a)} and {shape_text(b)}: broadcasting needs "
                             f"{n} = {m} or 1 on axis {-k}")
    return ()


def _same_shape(name: str):
    def shape(shapes, params):
        a, b = shapes
        if a != b:
            raise ShapeError(f"{name} needs the target the size of the input (PyTorch's rule): "
                             f"{shape_text(a)} and {shape_text(b)}")
        return ()

    return shape


_CONV_SIGNATURE = (Param("stride", default=1, doc="the step between windows"),
                   Param("padding", default=0, doc="zeros added on each side of every spatial axis"))
_POOL_SIGNATURE = (Param("kernel_size", required=True, doc="the window's side"),
                   Param("stride", doc="the step between windows (absent: the kernel size)"),
                   Param("padding", default=0, doc="added on each side (-inf for max, 0 for avg)"))
_JAX_CONV = ("jax.lax.conv_general_dilated({0}[(None,) * ({rank} - {0}.ndim)], {1}, ({strides}), "
             "[({padding}, {padding})] * {d})[(0,) * ({rank} - {0}.ndim)]")
_JAX_POOL = ("jax.lax.reduce_window({0}, {init}, jax.lax.{how}, (1,) * ({0}.ndim - 2) + ({kernel_size}, "
             "{kernel_size}), (1,) * ({0}.ndim - 2) + ({stride} or {kernel_size}, {stride} or {kernel_size}), "
             "((0, 0),) * ({0}.ndim - 2) + (({padding}, {padding}),) * 2)")

for _op in [
    *(_tensor_op(f"conv{d}d", 2, f"{d}-d convolution (cross-correlation, no bias) of "
                 f"{'(N, C, L) by (C_out, C, k)' if d == 1 else '(N, C, H, W) by (C_out, C, kH, kW)'}; "
                 "optional stride, padding (zeros)",
                 "convolution", _kernel("conv", d=d), (_kernel("conv_grad_x", d=d), _kernel("conv_grad_w", d=d)),
                 _conv_shape(d),
                 ("∂L/∂{y} convolved back through the filters {1} (a transposed convolution: "
                  "each window of {0} gets ∂L/∂{y} times the filters)",
                  "Σ over the batch and every position of ∂L/∂{y} times the window of {0} there"),
                 f"conv{d}d({{0}}, {{1}})", signature=_CONV_SIGNATURE,
                 torch=f"torch.nn.functional.conv{d}d({{0}}, {{1}}, stride={{stride}}, padding={{padding}})",
                 jax=_JAX_CONV.replace("{rank}", str(d + 2)).replace("{d}", str(d)).replace(
                     "{strides}", "{stride}, " * d),
                 sympy_tensor=_kernel("conv_sympy", d=d),
                 jvp=(_kernel("conv_jvp_x", d=d), _kernel("conv_jvp_w", d=d)))
      for d in (1, 2)),
    _tensor_op("max_pool2d", 1, "max over k×k windows of (N, C, H, W) or (C, H, W); stride k unless "
               "given, optional padding", "selection", _kernel("max_pool"), (_kernel("max_pool_grad"),),
               _pool_shape("max_pool2d"),
               ("∂L/∂{y} to each window's max in {0} (at a tie the first in row-major order, "
                "as PyTorch), 0 elsewhere",), "max_pool2d({0})", signature=_POOL_SIGNATURE,
               torch="torch.nn.functional.max_pool2d({0}, {kernel_size}, {stride}, {padding})",
               jax=_JAX_POOL.replace("{init}", "-jnp.inf").replace("{how}", "max"),
               sympy_tensor=_kernel("max_pool_sympy"), jvp=(_kernel("max_pool_jvp"),)),
    _tensor_op("avg_pool2d", 1, "mean over k×k windows of (N, C, H, W) or (C, H, W); stride k unless "
               "given, optional padding (counted in the mean, as PyTorch)", "mean", _kernel("avg_pool"),
               (_kernel("avg_pool_grad"),), _pool_shape("avg_pool2d"),
               ("∂L/∂{y} / k² to every entry of its window in {0}",), "avg_pool2d({0})",
               signature=_POOL_SIGNATURE,
               torch="torch.nn.functional.avg_pool2d({0}, {kernel_size}, {stride}, {padding})",
               jax="(" + _JAX_POOL.replace("{init}", "0.0").replace("{how}", "add")
               + " / ({kernel_size} * {kernel_size}))",
               sympy_tensor=_kernel("avg_pool_sympy"), jvp=(_kernel("avg_pool_jvp"),)),
    _tensor_op("cross_entropy", 2, "cross-entropy of scores (C) or (N, C) at class labels y (a number "
               "or N of them), mean over the rows: torch.nn.functional.cross_entropy",
               "cross-entropy", _kernel("cross_entropy"), (_kernel("cross_entropy_grad"), None),
               _label_loss_shape("cross_entropy"),
               ("(softmax({0}) − one-hot({1})) · ∂L/∂{y} / N", "none: a label is not differentiated"),
               "cross_entropy({0}, {1})", labels=(1,),
               torch="torch.nn.functional.cross_entropy({0}, {1}.long())",
               jax="-jnp.mean(jnp.take_along_axis(jax.nn.log_softmax({0}, axis=-1), "
                   "{1}.astype(int)[..., None], axis=-1))",
               sympy_tensor=_kernel("label_loss_sympy", softmax=True),
               jvp=(_kernel("cross_entropy_jvp"), None)),
    _tensor_op("nll_loss", 2, "negative log-likelihood of log-probabilities (C) or (N, C) at class "
               "labels y, mean over the rows: torch.nn.functional.nll_loss",
               "negative log-likelihood", _kernel("nll_loss"), (_kernel("nll_loss_grad"), None),
               _label_loss_shape("nll_loss"),
               ("−one-hot({1}) · ∂L/∂{y} / N", "none: a label is not differentiated"),
               "nll_loss({0}, {1})", labels=(1,),
               torch="torch.nn.functional.nll_loss({0}, {1}.long())",
               jax="-jnp.mean(jnp.take_along_axis({0}, {1}.astype(int)[..., None], axis=-1))",
               sympy_tensor=_kernel("label_loss_sympy", softmax=False),
               jvp=(_kernel("nll_loss_jvp"), None)),
    _tensor_op("mse_loss", 2, "mean squared error mean((a - b)^2) over every entry (broadcast): "
               "torch.nn.functional.mse_loss", "mean squared error", _kernel("mse_loss"),
               (_kernel("mse_grad", sign=1.0), _kernel("mse_grad", sign=-1.0)), _mse_shape,
               ("2({0} − {1}) / n · ∂L/∂{y}", "−2({0} − {1}) / n · ∂L/∂{y}"), "mse_loss({0}, {1})",
               # broadcast first: F.mse_loss warns of operands of two shapes, though it computes the same
               torch="torch.nn.functional.mse_loss(*torch.broadcast_tensors({0}, {1}))",
               jax="jnp.mean(({0} - {1}) ** 2)",
               sympy_tensor=_kernel("mse_sympy"),
               jvp=(_kernel("mse_jvp", sign=1.0), _kernel("mse_jvp", sign=-1.0))),
    _tensor_op("binary_cross_entropy_with_logits", 2, "binary cross-entropy of logits z against "
               "targets y in [0, 1], mean over every entry, computed stably: "
               "torch.nn.functional.binary_cross_entropy_with_logits",
               "cross-entropy", _kernel("bce_logits"), (_kernel("bce_grad_z"), _kernel("bce_grad_y")),
               _same_shape("binary_cross_entropy_with_logits"),
               ("(sigmoid({0}) − {1}) / n · ∂L/∂{y}", "−{0} / n · ∂L/∂{y}"),
               "binary_cross_entropy_with_logits({0}, {1})",
               torch="torch.nn.functional.binary_cross_entropy_with_logits({0}, {1})",
               jax="jnp.mean(jax.nn.softplus({0}) - {0} * {1})",
               sympy_tensor=_kernel("bce_sympy"), jvp=(_kernel("bce_jvp_z"), _kernel("bce_jvp_y"))),
]:
    OPS[_op.name] = _op


FUNCTIONS = [name for name, op in OPS.items() if op.is_function]
ELEMENTWISE = [name for name, op in OPS.items() if op.elementwise]  # what the scalar passes run

_OPERAND = re.compile(r"\b[abc]\b")


def partial_formula(op: Op, slot: int, refs: list[str]) -> str:
    """∂op/∂operand `slot` in bp syntax as people read it (the textbook form), the operands
    written as `refs`."""
    names = dict(zip("abc", refs))
    return _OPERAND.sub(lambda m: names[m.group()], op.shown_derivative[slot])


def partial_display(op: Op, slot: int, refs: list[str]) -> str:
    """The same for people: · for products, and r^2's partial as 2·r rather than 2·r^(2 - 1)."""
    if op.name == "pow" and slot == 0:
        try:
            e = float(refs[1])
        except ValueError:
            pass
        else:
            return f"{refs[1]}·{refs[0]}" if e == 2 else f"{refs[1]}·{refs[0]}^{e - 1:g}"
    return partial_formula(op, slot, refs).replace("*", "·")
