"""Hypothesis strategies for tensor formulas: each expression is drawn with its shape and the
same computation in PyTorch, so a test can compare bp with torch float64 on any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

# The inputs every drawn formula may use, per example: a matrix, vectors of both its sizes,
# another matrix to multiply, a scalar.
SHAPES = {"A": (3, 2), "B": (2, 4), "v": (2,), "u": (3,), "s": ()}


@dataclass
class Expr:
    text: str  # bp syntax
    shape: tuple
    torch: Callable  # (dict of torch tensors) -> tensor


def _leaf(name: str) -> Expr:
    return Expr(name, SHAPES[name], lambda t, n=name: t[n])


def _unary(draw, e: Expr) -> Expr:
    import torch

    name = draw(st.sampled_from(["tanh", "sigmoid", "sin", "softplus", "neg", "square", "relu", "abs"]))
    f = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "sin": torch.sin,
         "softplus": torch.nn.functional.softplus, "relu": torch.relu, "abs": torch.abs}
    if name == "neg":
        return Expr(f"-({e.text})", e.shape, lambda t: -e.torch(t))
    if name == "square":
        return Expr(f"({e.text})^2", e.shape, lambda t: e.torch(t) ** 2)
    return Expr(f"{name}({e.text})", e.shape, lambda t: f[name](e.torch(t)))


def _broadcasts(a: tuple, b: tuple) -> bool:
    return all(x == y or x == 1 or y == 1 for x, y in zip(reversed(a), reversed(b)))


def _binary(draw, a: Expr, b: Expr) -> Expr | None:
    import torch

    if not _broadcasts(a.shape, b.shape):
        return None
    shape = a.shape if len(a.shape) >= len(b.shape) else b.shape
    shape = tuple(max(x, y) for x, y in zip((1,) * (len(shape) - len(a.shape)) + a.shape,
                                          (1,) * (len(shape) - len(b.shape)) + b.shape))
    op = draw(st.sampled_from(["+", "-", "*", "/", "max", "min"]))
    if op == "/":  # a denominator kept away from zero
        return Expr(f"({a.text}) / (1.5 + sin({b.text}))", shape,
                    lambda t: a.torch(t) / (1.5 + torch.sin(b.torch(t))))
    if op in ("max", "min"):
        f = torch.maximum if op == "max" else torch.minimum
        return Expr(f"{op}({a.text}, {b.text})", shape, lambda t: f(a.torch(t), b.torch(t)))
    f = {"+": torch.add, "-": torch.sub, "*": torch.mul}[op]
    return Expr(f"({a.text}) {op} ({b.text})", shape, lambda t: f(a.torch(t), b.torch(t)))


def _matmul(a: Expr, b: Expr) -> Expr | None:
    import torch

    if not (1 <= len(a.shape) <= 2 and 1 <= len(b.shape) <= 2) or a.shape[-1] != b.shape[0]:
        return None
    return Expr(f"({a.text}) @ ({b.text})", a.shape[:-1] + b.shape[1:],
                lambda t: torch.matmul(a.torch(t), b.torch(t)))


def _tensor_op(draw, e: Expr) -> Expr | None:
    import torch

    rank = len(e.shape)
    if not rank:
        return None
    name = draw(st.sampled_from(["sum", "mean", "sum_axis", "mean_axis", "softmax", "log_softmax",
                                 "logsumexp", "transpose", "index"]))
    if name in ("sum", "mean"):
        return Expr(f"{name}({e.text})", (), lambda t: getattr(e.torch(t), name)())
    if name in ("sum_axis", "mean_axis"):
        f, axis = name[:-5], draw(st.integers(-rank, rank - 1))
        shape = e.shape[:axis % rank] + e.shape[axis % rank + 1:]
        return Expr(f"{f}({e.text}, {axis})", shape, lambda t: getattr(e.torch(t), f)(dim=axis))
    if name in ("softmax", "log_softmax"):
        f = getattr(torch, name)
        return Expr(f"{name}({e.text})", e.shape, lambda t: f(e.torch(t), -1))
    if name == "logsumexp":
        return Expr(f"logsumexp({e.text})", e.shape[:-1], lambda t: torch.logsumexp(e.torch(t), -1))
    if name == "transpose":
        shape = e.shape[:-2] + e.shape[:-3:-1]
        return Expr(f"transpose({e.text})", shape,
                    lambda t: e.torch(t).transpose(-1, -2) if rank >= 2 else e.torch(t))
    k = draw(st.integers(1, rank))
    idx = tuple(draw(st.integers(-n, n - 1)) for n in e.shape[:k])
    return Expr(f"({e.text})[{', '.join(map(str, idx))}]", e.shape[k:], lambda t: e.torch(t)[idx])


@st.composite
def tensor_formulas(draw, max_steps: int = 6, summed: bool = True) -> Expr:
    """A random formula over SHAPES' inputs, summed to a scalar at the end if it is not one
    (unless `summed` is False: then its output may be a tensor)."""
    import torch

    pool = [_leaf(n) for n in SHAPES]
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["unary", "binary", "matmul", "tensor"]))
        a = draw(st.sampled_from(pool))
        if kind == "unary":
            new = _unary(draw, a)
        elif kind == "tensor":
            new = _tensor_op(draw, a)
        else:
            b = draw(st.sampled_from(pool))
            new = _binary(draw, a, b) if kind == "binary" else _matmul(a, b)
        if new is not None:
            pool.append(new)
    out = pool[-1]
    if out.shape and summed:
        out = Expr(f"sum({out.text})", (), lambda t, e=out: torch.sum(e.torch(t)))
    return out
