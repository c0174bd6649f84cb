"""The tensor operations of issue 24 against a 50-digit reference: bp's and PyTorch float64's
value and gradients of each op, both measured against mpmath on the same inputs.

Each case is an op applied to seeded inputs, wrapped as `sum(op(...) * W)` with a random W of
the op's shape, so the gradient is exactly the op's vector-Jacobian product with W (the outer
product and sum add no rounding to it) and the op's own node holds its value. The reference
evaluates the op on numpy object arrays of mpmath numbers at 100 digits (the float64 inputs
are exact there) and differentiates it by central differences with h = 1e-30, whose error
(h² from truncation, 1e-100/h from rounding) is near 1e-60: beyond the 50 digits asked.
Errors are normwise, |got - ref|∞ / |ref|∞, so an entry that cancels to near zero is judged
against the tensor's scale, as both libraries' summations are. Shared by
tests/test_op_precision.py and benchmarks/precision.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath as mp
import numpy as np

DPS = 100  # working digits of the reference (50 are asked): rounding over 2h stays below 1e-60
H = mp.mpf(10) ** -30
SEEDS = range(12)  # the seeded inputs of each case: the worst error over them is compared


@dataclass(frozen=True)
class Case:
    """One op on one kind of input: `formula` over the inputs, `ref` the same over object arrays of
    mpf, `torch` over float64 tensors; `no_grad` inputs take no gradient (whole numbers an op
    reads as indices, or the operands of a comparison)."""

    label: str
    formula: str
    inputs: Callable[[np.random.Generator], dict]
    ref: Callable[..., np.ndarray]
    torch: Callable[..., object]
    no_grad: tuple = ()


# -- the reference's arithmetic over object arrays of mpf --------------------------------------
def _each(f):
    v = np.vectorize(f, otypes=[object])
    return lambda x: v(x) if np.ndim(x) else np.array(f(np.asarray(x).item()), dtype=object)


mexp, mlog, msqrt = _each(mp.exp), _each(mp.log), _each(mp.sqrt)


def mpf_array(x) -> np.ndarray:
    """A float64 array as mpf, exactly."""
    return _each(mp.mpf)(np.asarray(x, dtype=np.float64))


def _mean(x, axis=None, keepdims=False):
    n = x.size if axis is None else x.shape[axis]
    return np.sum(x, axis=axis, keepdims=keepdims) / n


def _var(x, axis=None, keepdims=False, correction=1):
    n = x.size if axis is None else x.shape[axis]
    d = x - _mean(x, axis, keepdims=True)
    return np.sum(d * d, axis=axis, keepdims=keepdims) / (n - correction)


def _logsumexp(x, axis, keepdims=False):
    return mlog(np.sum(mexp(x), axis=axis, keepdims=keepdims))


def _windows(x, kh, kw, stride, padding):
    """(out_h, out_w, the patch at each output place) of an (N, C, H, W) array; padding is
    (rows, columns) of zeros on each side."""
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=mp.mpf(0))
    oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    return oh, ow, lambda i, j: x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]


def _conv2d(x, w, stride=1, padding=(0, 0)):
    oh, ow, patch = _windows(x, w.shape[2], w.shape[3], stride, padding)
    out = np.empty((x.shape[0], w.shape[0], oh, ow), dtype=object)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = np.tensordot(patch(i, j), w, axes=([1, 2, 3], [1, 2, 3]))
    return out


def _conv1d(x, w, stride=1, padding=0):
    return _conv2d(x[:, :, None, :], w[:, :, None, :], stride, (0, padding))[:, :, 0, :]


def _pool(x, k, reduce):
    oh, ow, patch = _windows(x, k, k, k, (0, 0))
    out = np.empty(x.shape[:2] + (oh, ow), dtype=object)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(patch(i, j).reshape(x.shape[:2] + (-1,)), axis=-1)
    return out


def _picked(x, y):
    return x[np.arange(x.shape[0]), y.astype(int)]


def _cross_entropy(z, y):
    return _mean(_logsumexp(z, 1) - _picked(z, y))


def _bce_logits(z, y):
    return _mean((1 - y) * z + mlog(1 + mexp(-z)))


def _gather(x, dim, idx):
    return np.take_along_axis(x, idx.astype(int), axis=dim)


# -- seeded inputs ----------------------------------------------------------------------------
def uniform(*shape, low=-1.5, high=1.5):
    return lambda rng: rng.uniform(low, high, shape)


def inputs(**makers):
    return lambda rng: {n: make(rng) for n, make in makers.items()}


def whole(n, *shape):
    return lambda rng: rng.integers(0, n, shape).astype(np.float64)


def offset(base, *shape):
    """Entries base + U(-1, 1): a variance or a difference that cancels."""
    return lambda rng: base + rng.uniform(-1.0, 1.0, shape)


def signed(low, high, *shape):
    """Entries of magnitude U(low, high), either sign: the exponent's edges."""
    return lambda rng: rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def with_zero(*shape):
    """Uniform entries with one exact zero: a product's gradient there."""
    def make(rng):
        x = rng.uniform(-1.5, 1.5, shape)
        x.reshape(-1)[rng.integers(x.size)] = 0.0
        return x
    return make


def _t():
    import torch
    return torch


CASES = [
    # reductions with an axis
    Case("amax(A, 1)", "amax(A, 1)", inputs(A=uniform(3, 5)), lambda A: np.max(A, axis=1),
         lambda t, A: t.amax(A, 1)),
    Case("amin(A, keepdim)", "amin(A, 0, keepdim=True)", inputs(A=uniform(4, 3)),
         lambda A: np.min(A, axis=0, keepdims=True), lambda t, A: t.amin(A, 0, keepdim=True)),
    Case("prod(A, 1)", "prod(A, 1)", inputs(A=uniform(3, 6)), lambda A: np.prod(A, axis=1),
         lambda t, A: t.prod(A, 1)),
    Case("prod(A, 1), a zero", "prod(A, 1)", inputs(A=with_zero(3, 6)), lambda A: np.prod(A, axis=1),
         lambda t, A: t.prod(A, 1)),
    Case("prod(A), wide range", "prod(A)", inputs(A=signed(1e-3, 1e3, 12)), lambda A: np.prod(A),
         lambda t, A: t.prod(A)),
    Case("cumsum(A, 1)", "cumsum(A, 1)", inputs(A=uniform(3, 8)), lambda A: np.cumsum(A, axis=1),
         lambda t, A: t.cumsum(A, 1)),
    Case("cumprod(A, 1)", "cumprod(A, 1)", inputs(A=uniform(3, 6)), lambda A: np.cumprod(A, axis=1),
         lambda t, A: t.cumprod(A, 1)),
    Case("cumprod(A, 1), a zero", "cumprod(A, 1)", inputs(A=with_zero(3, 6)), lambda A: np.cumprod(A, axis=1),
         lambda t, A: t.cumprod(A, 1)),
    Case("logcumsumexp(A, 1)", "logcumsumexp(A, 1)", inputs(A=uniform(3, 6)),
         lambda A: mlog(np.cumsum(mexp(A), axis=1)), lambda t, A: t.logcumsumexp(A, 1)),
    Case("logcumsumexp(A, 0), |A| to 800", "logcumsumexp(A, 0)", inputs(A=signed(600, 800, 6, 2)),
         lambda A: mlog(np.cumsum(mexp(A), axis=0)), lambda t, A: t.logcumsumexp(A, 0)),
    Case("var(A, 1)", "var(A, 1)", inputs(A=uniform(3, 6)), lambda A: _var(A, 1), lambda t, A: t.var(A, 1)),
    Case("var(A), mean 1e6", "var(A)", inputs(A=offset(1e6, 4, 5)), lambda A: _var(A), lambda t, A: t.var(A)),
    Case("std(A, 0, keepdim)", "std(A, 0, keepdim=True)", inputs(A=uniform(5, 3)),
         lambda A: msqrt(_var(A, 0, keepdims=True)), lambda t, A: t.std(A, 0, keepdim=True)),
    Case("std(A, 1, correction=0), mean 1e6", "std(A, 1, correction=0)", inputs(A=offset(1e6, 3, 6)),
         lambda A: msqrt(_var(A, 1, correction=0)), lambda t, A: t.std(A, 1, correction=0)),
    Case("mean(A, -1, keepdim)", "mean(A, -1, keepdim=True)", inputs(A=uniform(2, 3, 5)),
         lambda A: _mean(A, -1, keepdims=True), lambda t, A: t.mean(A, -1, keepdim=True)),
    Case("sum(A, 0, keepdim)", "sum(A, 0, keepdim=True)", inputs(A=uniform(6, 3)),
         lambda A: np.sum(A, axis=0, keepdims=True), lambda t, A: t.sum(A, 0, keepdim=True)),
    Case("logsumexp(A, 1, keepdim), |A| to 800", "logsumexp(A, 1, keepdim=True)",
         inputs(A=signed(600, 800, 3, 5)), lambda A: _logsumexp(A, 1, keepdims=True),
         lambda t, A: t.logsumexp(A, 1, keepdim=True)),
    # comparisons and where
    Case("where(A > B, A, B)", "where(A > B, A, B)", inputs(A=uniform(3, 4), B=uniform(3, 4)),
         lambda A, B: np.where(A > B, A, B), lambda t, A, B: t.where(A > B, A, B)),
    Case("where(A <= 0.5, A^2, 2 * B)", "where(A <= 0.5, A^2, 2 * B)", inputs(A=uniform(3, 4), B=uniform(3, 4)),
         lambda A, B: np.where(A <= 0.5, A * A, 2 * B), lambda t, A, B: t.where(A <= 0.5, A ** 2, 2 * B)),
    Case("A >= B", "A >= B", inputs(A=uniform(3, 4), B=uniform(3, 4)), lambda A, B: (A >= B).astype(int),
         lambda t, A, B: (A >= B).double(), no_grad=("A", "B")),
    Case("A < B, A == B, A != B", "(A < B) + 2 * (A == B) + 4 * (A != B)",
         inputs(A=whole(3, 3, 4), B=whole(3, 3, 4)),
         lambda A, B: (A < B).astype(int) + 2 * (A == B).astype(int) + 4 * (A != B).astype(int),
         lambda t, A, B: (A < B).double() + 2 * (A == B).double() + 4 * (A != B).double(), no_grad=("A", "B")),
    # shapes: data moves, nothing rounds
    Case("reshape(A, 4, -1)", "reshape(A, 4, -1)", inputs(A=uniform(2, 3, 4)), lambda A: A.reshape(4, -1),
         lambda t, A: A.reshape(4, -1)),
    Case("flatten(A, 1)", "flatten(A, 1)", inputs(A=uniform(2, 3, 4)), lambda A: A.reshape(2, -1),
         lambda t, A: t.flatten(A, 1)),
    Case("transpose(A, 0, 2)", "transpose(A, 0, 2)", inputs(A=uniform(2, 3, 4)), lambda A: np.swapaxes(A, 0, 2),
         lambda t, A: A.transpose(0, 2)),
    Case("permute(A, 2, 0, 1)", "permute(A, 2, 0, 1)", inputs(A=uniform(2, 3, 4)),
         lambda A: np.transpose(A, (2, 0, 1)), lambda t, A: A.permute(2, 0, 1)),
    Case("squeeze(A, 0)", "squeeze(A, 0)", inputs(A=uniform(1, 3, 2)), lambda A: A[0], lambda t, A: A.squeeze(0)),
    Case("unsqueeze(A, -1)", "unsqueeze(A, -1)", inputs(A=uniform(3, 2)), lambda A: A[..., None],
         lambda t, A: A.unsqueeze(-1)),
    Case("cat(A, B, 1)", "cat(A, B, 1)", inputs(A=uniform(2, 3), B=uniform(2, 2)),
         lambda A, B: np.concatenate([A, B], axis=1), lambda t, A, B: t.cat((A, B), 1)),
    Case("stack(A, B, 1)", "stack(A, B, 1)", inputs(A=uniform(2, 3), B=uniform(2, 3)),
         lambda A, B: np.stack([A, B], axis=1), lambda t, A, B: t.stack((A, B), 1)),
    Case("pad(A, 0, 1, 2, 0)", "pad(A, 0, 1, 2, 0)", inputs(A=uniform(2, 3)),
         lambda A: np.pad(A, ((2, 0), (0, 1)), constant_values=mp.mpf(0)),
         lambda t, A: t.nn.functional.pad(A, (0, 1, 2, 0))),
    Case("flip(A, 0, -1)", "flip(A, 0, -1)", inputs(A=uniform(3, 4)), lambda A: np.flip(A, (0, -1)),
         lambda t, A: t.flip(A, (0, -1))),
    Case("tril(A, -1)", "tril(A, -1)", inputs(A=uniform(2, 3, 3)), lambda A: np.tril(A, -1),
         lambda t, A: t.tril(A, -1)),
    Case("triu(A, 1)", "triu(A, 1)", inputs(A=uniform(3, 4)), lambda A: np.triu(A, 1),
         lambda t, A: t.triu(A, 1)),
    # slicing and gathering
    Case("A[-2:, 1::2]", "A[-2:, 1::2]", inputs(A=uniform(3, 5)), lambda A: A[-2:, 1::2],
         lambda t, A: A[-2:, 1::2]),
    Case("x[i], repeated i", "x[i]", inputs(x=uniform(5), i=whole(5, 8)), lambda x, i: x[i.astype(int)],
         lambda t, x, i: x[i.long()], no_grad=("i",)),
    Case("gather(A, 1, P)", "gather(A, 1, P)", inputs(A=uniform(3, 4), P=whole(4, 3, 6)), lambda A, P: _gather(A, 1, P),
         lambda t, A, P: t.gather(A, 1, P.long()), no_grad=("P",)),
    # batched @
    Case("A @ B, batched", "A @ B", inputs(A=uniform(2, 3, 7), B=uniform(2, 7, 4)), lambda A, B: np.matmul(A, B),
         lambda t, A, B: A @ B),
    Case("A @ M, broadcast", "A @ M", inputs(A=uniform(2, 3, 5), M=uniform(5, 2)), lambda A, M: np.matmul(A, M),
         lambda t, A, M: A @ M),
    # convolution and pooling
    Case("conv2d(x, w)", "conv2d(x, w)", inputs(x=uniform(2, 2, 5, 5), w=uniform(3, 2, 3, 3)),
         lambda x, w: _conv2d(x, w), lambda t, x, w: t.nn.functional.conv2d(x, w)),
    Case("conv2d(x, w, stride=2, padding=1)", "conv2d(x, w, stride=2, padding=1)",
         inputs(x=uniform(1, 2, 5, 5), w=uniform(2, 2, 3, 3)), lambda x, w: _conv2d(x, w, 2, (1, 1)),
         lambda t, x, w: t.nn.functional.conv2d(x, w, stride=2, padding=1)),
    Case("conv1d(x, w, padding=1)", "conv1d(x, w, padding=1)", inputs(x=uniform(2, 2, 7), w=uniform(3, 2, 3)),
         lambda x, w: _conv1d(x, w, 1, 1), lambda t, x, w: t.nn.functional.conv1d(x, w, padding=1)),
    Case("max_pool2d(x, 2)", "max_pool2d(x, 2)", inputs(x=uniform(2, 2, 4, 4)), lambda x: _pool(x, 2, np.max),
         lambda t, x: t.nn.functional.max_pool2d(x, 2)),
    Case("avg_pool2d(x, 2)", "avg_pool2d(x, 2)", inputs(x=uniform(2, 2, 4, 6)), lambda x: _pool(x, 2, _mean),
         lambda t, x: t.nn.functional.avg_pool2d(x, 2)),
    # losses
    Case("cross_entropy(z, y)", "cross_entropy(z, y)", inputs(z=uniform(4, 5, low=-3, high=3), y=whole(5, 4)),
         _cross_entropy, lambda t, z, y: t.nn.functional.cross_entropy(z, y.long()), no_grad=("y",)),
    Case("cross_entropy(z, y), |z| to 1000", "cross_entropy(z, y)", inputs(z=signed(300, 1000, 4, 5), y=whole(5, 4)),
         _cross_entropy, lambda t, z, y: t.nn.functional.cross_entropy(z, y.long()), no_grad=("y",)),
    Case("nll_loss(z, y)", "nll_loss(z, y)", inputs(z=uniform(4, 5), y=whole(5, 4)),
         lambda z, y: -_mean(_picked(z, y)), lambda t, z, y: t.nn.functional.nll_loss(z, y.long()), no_grad=("y",)),
    Case("mse_loss(a, b)", "mse_loss(a, b)", inputs(a=uniform(3, 4), b=uniform(3, 4)),
         lambda a, b: _mean((a - b) * (a - b)), lambda t, a, b: t.nn.functional.mse_loss(a, b)),
    Case("mse_loss(a, b), a near b", "mse_loss(a, b)", inputs(a=offset(1e3, 3, 4), b=offset(1e3, 3, 4)),
         lambda a, b: _mean((a - b) * (a - b)), lambda t, a, b: t.nn.functional.mse_loss(a, b)),
    Case("bce_with_logits(z, y)", "binary_cross_entropy_with_logits(z, y)",
         inputs(z=uniform(3, 4, low=-4, high=4), y=uniform(3, 4, low=0, high=1)), _bce_logits,
         lambda t, z, y: t.nn.functional.binary_cross_entropy_with_logits(z, y)),
    Case("bce_with_logits(z, y), |z| to 1000", "binary_cross_entropy_with_logits(z, y)",
         inputs(z=signed(30, 1000, 3, 4), y=whole(2, 3, 4)), _bce_logits,
         lambda t, z, y: t.nn.functional.binary_cross_entropy_with_logits(z, y)),
]
LABELS = [c.label for c in CASES]
BY_LABEL = {c.label: c for c in CASES}


def point(case: Case, seed: int) -> dict:
    """The case's inputs at a seed, and W: a random weight of the op's shape."""
    rng = np.random.default_rng(seed)
    values = case.inputs(rng)
    shape = np.shape(case.ref(**{n: mpf_array(v) for n, v in values.items()}))
    values["W"] = rng.uniform(-1.5, 1.5, shape)
    return values


def reference(case: Case, values: dict) -> tuple[np.ndarray, dict]:
    """(the op's value, {input: ∂ sum(op * W)/∂input}) at DPS digits, as object arrays of mpf."""
    with mp.workdps(DPS):
        exact = {n: mpf_array(v) for n, v in values.items()}
        weight = exact.pop("W")

        def loss(args):
            return np.sum(np.asarray(case.ref(**args), dtype=object) * weight)

        grads = {}
        for name in exact:
            if name in case.no_grad:
                continue
            g = np.empty(np.shape(exact[name]), dtype=object)
            for k in np.ndindex(g.shape):
                up, down = dict(exact), dict(exact)
                up[name], down[name] = exact[name].copy(), exact[name].copy()
                up[name][k] += H
                down[name][k] -= H
                g[k] = (loss(up) - loss(down)) / (2 * H)
            grads[name] = g
        return np.asarray(case.ref(**exact), dtype=object), grads


def bp_result(case: Case, values: dict) -> tuple[np.ndarray, dict]:
    """bp's value of the op's own node and its gradients."""
    from bpcli import parse

    f = parse(f"sum(({case.formula}) * W)")
    r = f.grad(values)
    node = f.args[f.args[f.output][0]][0]
    grads = {n: np.asarray(r.gradient[n]) for n in values if n != "W" and n not in case.no_grad}
    return np.asarray(r.values[node]), grads


def torch_result(case: Case, values: dict) -> tuple[np.ndarray, dict]:
    torch = _t()
    leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=n not in case.no_grad) for n, v in values.items()}
    weight = leaves.pop("W")
    out = case.torch(torch, **leaves)
    (out * weight).sum().backward()
    return out.detach().numpy(), {n: x.grad.numpy() for n, x in leaves.items() if n not in case.no_grad}


def error(got, ref) -> float:
    """|got - ref|∞ / |ref|∞ (0 when both are zero)."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=object)
    if got.shape != ref.shape:
        return float("inf")
    scale = max((abs(r) for r in ref.reshape(-1)), default=mp.mpf(0))
    worst = max((abs(mp.mpf(float(g)) - r) for g, r in zip(got.reshape(-1), ref.reshape(-1))), default=mp.mpf(0))
    return 0.0 if worst == 0 else float(worst / scale) if scale else float("inf")


def errors(case: Case, seeds=None) -> dict:
    """The worst error over the seeds of the value and of every gradient, for bp and PyTorch:
    {"bp": (value, gradient), "torch": (value, gradient)}."""
    worst = {"bp": [0.0, 0.0], "torch": [0.0, 0.0]}
    for seed in SEEDS if seeds is None else seeds:
        values = point(case, seed)
        ref_value, ref_grads = reference(case, values)
        for who, run in (("bp", bp_result), ("torch", torch_result)):
            value, grads = run(case, values)
            worst[who][0] = max(worst[who][0], error(value, ref_value))
            worst[who][1] = max([worst[who][1]] + [error(grads[n], ref_grads[n]) for n in ref_grads])
    return {who: tuple(w) for who, w in worst.items()}

# One rounding of the tensor's largest entry (2^-52 relative): numpy's and OpenBLAS's summation
# orders differ from ATen's, and neither is the more accurate in general (summation_order()),
# so on a sum the two libraries' worst errors differ by about this much, either way.
ORDER = 2.0 ** -52


def verdict(bp: float, torch: float) -> str:
    if bp == torch:
        return "equal"
    if bp < torch:
        return "bp better"
    return "within one rounding" if bp <= torch + ORDER else "PyTorch better"


def summation_order(sums: int = 300, seed: int = 0) -> dict:
    """How often numpy's and PyTorch's float64 sums of 5 to 200 random terms of either sign miss
    the correctly rounded sum (math.fsum), and their worst error in ulps of the sum."""
    import math

    torch = _t()
    rng = np.random.default_rng(seed)
    missed, worst = {"numpy": 0, "PyTorch": 0}, {"numpy": 0.0, "PyTorch": 0.0}
    for _ in range(sums):
        n = int(rng.integers(5, 200))
        x = rng.uniform(0.0, 1.0, n) * rng.choice([-1.0, 1.0], n)
        exact = math.fsum(x)
        for who, got in (("numpy", float(np.sum(x))), ("PyTorch", torch.tensor(x).sum().item())):
            missed[who] += got != exact
            worst[who] = max(worst[who], abs(got - exact) / math.ulp(exact))
    return {who: (missed[who], worst[who]) for who in missed}
