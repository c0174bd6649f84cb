"""The op table: every operation bp knows, each declared once with all there is to it.

A row gives the operation's syntax name (the grammar's alias), its arity, its
forward rule, its local partial derivatives (one per operand, free to reuse the
forward output), its SymPy counterpart, how it prints, and its convention at
points where it is not differentiable. Rules take a numeric namespace `m`
(bpcli.numeric) so one rule serves float64 scalars and numpy arrays alike.

Adding a function: one row here and one alternative in grammar/bp.lark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .numeric import ONE


@dataclass(frozen=True)
class Op:
    """One primitive operation of the graph."""

    name: str
    arity: int
    doc: str
    forward: Callable  # (m, *operands) -> value
    partials: tuple  # per operand: (m, out, *operands) -> ∂out/∂operand (as autograd's defvjp)
    derivative: tuple  # per operand: ∂out/∂operand in bp syntax over a and b (bp diff, display)
    sympy: Callable  # (sympy module, *operand expressions) -> expression
    show: str  # how a node prints, e.g. "{0} · {1}"
    syntax: str = ""  # bp syntax, e.g. "{0} * {1}" (defaults to a function call)
    prec: int = 9  # binding strength when printed as bp syntax (9: atom-like)
    kink: Callable | None = None  # (*operands) -> True at a non-differentiable point
    convention: str = ""  # what bp does at the kink, said aloud when hit
    # The same operation in the libraries bp exports to (bp export), over operand
    # expressions {0}, {1}; None where the library has no differentiable counterpart.
    torch: str | None = None  # e.g. "torch.exp({0})", the script imports torch
    jax: str | None = None  # e.g. "jnp.exp({0})", the script imports jax.numpy as jnp

    @property
    def is_function(self) -> bool:
        return not self.syntax

    @property
    def constant_partials(self) -> tuple | None:
        """The partials as numbers when none depends on the point (+, -, neg, step, sign),
        read off the derivative formulas (a test holds them equal to `partials`); else None."""
        try:
            values = tuple(float(d) for d in self.derivative)
        except ValueError:
            return None
        return tuple(ONE if v == 1 else v for v in values)  # ONE: the pass skips × 1


# Precedence levels for printing, loosest first; they mirror the grammar's ?rules.
SUM, PRODUCT, UNARY, POWER = 1, 2, 3, 4


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


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op(
            "add", 2, "sum",
            forward=lambda m, a, b: a + b,
            partials=(lambda m, out, a, b: ONE, lambda m, out, a, b: ONE),
            derivative=("1", "1"),
            sympy=lambda sp, a, b: a + b,
            show="{0} + {1}", syntax="{0} + {1}", prec=SUM,
            torch="{0} + {1}", jax="{0} + {1}",
        ),
        Op(
            "sub", 2, "difference",
            forward=lambda m, a, b: a - b,
            partials=(lambda m, out, a, b: ONE, lambda m, out, a, b: -1.0),
            derivative=("1", "-1"),
            sympy=lambda sp, a, b: a - b,
            show="{0} - {1}", syntax="{0} - {1}", prec=SUM,
            torch="{0} - {1}", jax="{0} - {1}",
        ),
        Op(
            "mul", 2, "product",
            forward=lambda m, a, b: a * b,
            partials=(lambda m, out, a, b: b, lambda m, out, a, b: a),
            derivative=("b", "a"),
            sympy=lambda sp, a, b: a * b,
            show="{0} · {1}", syntax="{0} * {1}", prec=PRODUCT,
            torch="{0} * {1}", jax="{0} * {1}",
        ),
        Op(
            "div", 2, "quotient",
            forward=lambda m, a, b: m.div(a, b),
            partials=(lambda m, out, a, b: m.div(1.0, b), lambda m, out, a, b: -m.div(out, b)),
            derivative=("1/b", "-a/b^2"),
            sympy=lambda sp, a, b: a / b,
            show="{0} / {1}", syntax="{0} / {1}", prec=PRODUCT,
            torch="{0} / {1}", jax="{0} / {1}",
        ),
        Op(
            "neg", 1, "negation",
            forward=lambda m, a: -a,
            partials=(lambda m, out, a: -1.0,),
            derivative=("-1",),
            sympy=lambda sp, a: -a,
            show="-{0}", syntax="-{0}", prec=UNARY,
            torch="-{0}", jax="-{0}",
        ),
        Op(
            "pow", 2, "power (right-associative; ^ or **)",
            forward=lambda m, a, b: m.pow(a, b),
            partials=(_pow_base_partial, _pow_exponent_partial),
            derivative=("b*a^(b - 1)", "a^b*log(a)"),
            sympy=lambda sp, a, b: a**b,
            show="{0}^{1}", syntax="{0}^{1}", prec=POWER,
            torch="{0} ** {1}", jax="{0} ** {1}",
        ),
        Op(
            "exp", 1, "e to the power",
            forward=lambda m, a: m.exp(a),
            partials=(lambda m, out, a: out,),
            derivative=("exp(a)",),
            sympy=lambda sp, a: sp.exp(a),
            show="exp({0})",
            torch="torch.exp({0})", jax="jnp.exp({0})",
        ),
        Op(
            "log", 1, "natural logarithm (also ln)",
            forward=lambda m, a: m.log(a),
            partials=(lambda m, out, a: m.div(1.0, a),),
            derivative=("1/a",),
            sympy=lambda sp, a: sp.log(a),
            show="log({0})",
            torch="torch.log({0})", jax="jnp.log({0})",
        ),
        Op(
            "sqrt", 1, "square root",
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
            forward=lambda m, a: m.fabs(a),
            partials=(lambda m, out, a: _sign(m, a),),
            derivative=("sign(a)",),
            sympy=lambda sp, a: sp.Abs(a),
            show="abs({0})",
            torch="torch.abs({0})", jax="jnp.abs({0})",
            kink=lambda a: a == 0,
            convention="abs'(0) taken as 0 (PyTorch's convention)",
        ),
        Op(
            "sin", 1, "sine (radians)",
            forward=lambda m, a: m.sin(a),
            partials=(lambda m, out, a: m.cos(a),),
            derivative=("cos(a)",),
            sympy=lambda sp, a: sp.sin(a),
            show="sin({0})",
            torch="torch.sin({0})", jax="jnp.sin({0})",
        ),
        Op(
            "cos", 1, "cosine (radians)",
            forward=lambda m, a: m.cos(a),
            partials=(lambda m, out, a: -m.sin(a),),
            derivative=("-sin(a)",),
            sympy=lambda sp, a: sp.cos(a),
            show="cos({0})",
            torch="torch.cos({0})", jax="jnp.cos({0})",
        ),
        Op(
            "tan", 1, "tangent (radians)",
            forward=lambda m, a: m.tan(a),
            partials=(lambda m, out, a: 1.0 + out * out,),
            derivative=("1 + tan(a)^2",),
            sympy=lambda sp, a: sp.tan(a),
            show="tan({0})",
            torch="torch.tan({0})", jax="jnp.tan({0})",
        ),
        Op(
            "tanh", 1, "hyperbolic tangent",
            forward=lambda m, a: m.tanh(a),
            partials=(lambda m, out, a: 1.0 - out * out,),
            derivative=("1 - tanh(a)^2",),
            sympy=lambda sp, a: sp.tanh(a),
            show="tanh({0})",
            torch="torch.tanh({0})", jax="jnp.tanh({0})",
        ),
        Op(
            "sigmoid", 1, "logistic function 1/(1 + e^-x)",
            forward=_sigmoid,
            partials=(lambda m, out, a: out * (1.0 - out),),
            derivative=("sigmoid(a)*(1 - sigmoid(a))",),
            sympy=lambda sp, a: 1 / (1 + sp.exp(-a)),
            show="sigmoid({0})",
            torch="torch.sigmoid({0})", jax="jax.nn.sigmoid({0})",
        ),
        Op(
            "relu", 1, "rectifier max(x, 0)",
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
            forward=_softplus,
            partials=(lambda m, out, a: _sigmoid(m, a),),
            derivative=("sigmoid(a)",),
            sympy=lambda sp, a: sp.log(1 + sp.exp(a)),
            show="softplus({0})",
            torch="torch.nn.functional.softplus({0})", jax="jax.nn.softplus({0})",
        ),
        Op(
            "max", 2, "larger of two",
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
            forward=_sign,
            partials=(lambda m, out, a: 0.0,),
            derivative=("0",),
            sympy=lambda sp, a: sp.sign(a),
            show="sign({0})",
            torch="torch.sign({0})", jax="jnp.sign({0})",
            kink=lambda a: a == 0,
            convention="sign'(0) taken as 0",
        ),
    ]
}

FUNCTIONS = [name for name, op in OPS.items() if op.is_function]

_OPERAND = re.compile(r"\b[ab]\b")


def partial_formula(op: Op, slot: int, refs: list[str]) -> str:
    """∂op/∂operand `slot` in bp syntax, the operands written as `refs`."""
    names = dict(zip("ab", refs))
    return _OPERAND.sub(lambda m: names[m.group()], op.derivative[slot])


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
