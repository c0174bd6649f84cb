"""Formulas over the operations of issue 24, each beside the same computation in PyTorch
(float64): the tests compare values and gradients, and run the exported scripts.

CASES: (formula, input shapes, the PyTorch function of the inputs giving the scalar output); an
Index shape holds whole numbers (an index tensor: no gradient in either).
"""

from __future__ import annotations

import numpy as np


class Index(tuple):
    """An input's shape whose entries are whole numbers from 0 to n - 1 (an index tensor)."""

    def __new__(cls, shape: tuple, n: int):
        made = super().__new__(cls, shape)
        made.n = n
        return made


ATTENTION = """
q = permute(reshape(X @ Wq, 4, 2, 3), 1, 0, 2)
k = permute(reshape(X @ Wk, 4, 2, 3), 1, 0, 2)
v = permute(reshape(X @ Wv, 4, 2, 3), 1, 0, 2)
scores = q @ transpose(k, -2, -1) / sqrt(3)
attn = softmax(where(tril(M) != 0, scores, -1000000000))
heads = reshape(permute(attn @ v, 1, 0, 2), 4, 6)
sum((heads @ Wo) * T)
"""


def _attention(t, X, Wq, Wk, Wv, Wo, M, T):
    q, k, v = ((X @ W).reshape(4, 2, 3).permute(1, 0, 2) for W in (Wq, Wk, Wv))
    scores = q @ k.transpose(-2, -1) / 3 ** 0.5
    attn = t.softmax(t.where(t.tril(M) != 0, scores, -1e9), -1)
    return (((attn @ v).permute(1, 0, 2).reshape(4, 6) @ Wo) * T).sum()


CASES = [
    # keyword arguments and keepdim on the reductions there were before
    ("sum(A * sum(A, 1, keepdim=True))", {"A": (3, 4)},
     lambda t, A: (A * A.sum(1, keepdim=True)).sum()),
    ("sum(A * sum(A, keepdim=True))", {"A": (3, 4)},
     lambda t, A: (A * A.sum(dim=None, keepdim=True)).sum()),
    ("sum((A - mean(A, -1, keepdim=True))^2)", {"A": (2, 3, 4)},
     lambda t, A: ((A - A.mean(-1, keepdim=True)) ** 2).sum()),
    ("sum(A * mean(A, dim=0, keepdim=True))", {"A": (3, 4)},
     lambda t, A: (A * A.mean(0, keepdim=True)).sum()),
    ("sum(A * logsumexp(A, 0, keepdim=True))", {"A": (3, 4)},
     lambda t, A: (A * t.logsumexp(A, 0, keepdim=True)).sum()),
    ("sum(logsumexp(A, 1) * v)", {"A": (3, 4), "v": (3,)},
     lambda t, A, v: (t.logsumexp(A, 1) * v).sum()),
    ("sum(logsumexp(A, keepdim=True) * A)", {"A": (3, 4)},
     lambda t, A: (t.logsumexp(A, -1, keepdim=True) * A).sum()),
    # reductions with an axis, keepdim on each
    ("amax(A) * amin(A)", {"A": (3, 4)}, lambda t, A: t.amax(A) * t.amin(A)),
    ("sum(amax(A, 1) * v) + sum(amin(A, 0))", {"A": (3, 4), "v": (3,)},
     lambda t, A, v: (t.amax(A, 1) * v).sum() + t.amin(A, 0).sum()),
    ("sum(A * amax(A, -1, keepdim=True)) + sum(A * amin(A, keepdim=True))", {"A": (2, 3, 4)},
     lambda t, A: (A * t.amax(A, -1, keepdim=True)).sum() + (A * t.amin(A, dim=(), keepdim=True)).sum()),
    ("prod(A) + sum(prod(A, 1) * v)", {"A": (3, 4), "v": (3,)},
     lambda t, A, v: t.prod(A) + (t.prod(A, 1) * v).sum()),
    ("sum(A * prod(A, 0, keepdim=True))", {"A": (3, 4)},
     lambda t, A: (A * t.prod(A, 0, keepdim=True)).sum()),
    ("sum(cumsum(A, 1) * B) + sum(cumsum(A, 0) * B)", {"A": (3, 4), "B": (3, 4)},
     lambda t, A, B: (t.cumsum(A, 1) * B).sum() + (t.cumsum(A, 0) * B).sum()),
    ("sum(cumprod(A, 1) * B) + sum(cumprod(A, -2) * B)", {"A": (3, 4), "B": (3, 4)},
     lambda t, A, B: (t.cumprod(A, 1) * B).sum() + (t.cumprod(A, -2) * B).sum()),
    ("sum(logcumsumexp(A, 1) * B)", {"A": (3, 4), "B": (3, 4)},
     lambda t, A, B: (t.logcumsumexp(A, 1) * B).sum()),
    ("var(A) + sum(var(A, 1) * v) + sum(A * var(A, 0, keepdim=True))", {"A": (3, 4), "v": (3,)},
     lambda t, A, v: t.var(A) + (t.var(A, 1) * v).sum() + (A * t.var(A, 0, keepdim=True)).sum()),
    ("std(A) + sum(std(A, 1) * v) + sum(A * std(A, 0, keepdim=True, correction=0))", {"A": (3, 4), "v": (3,)},
     lambda t, A, v: t.std(A) + (t.std(A, 1) * v).sum() + (A * t.std(A, 0, keepdim=True, correction=0)).sum()),
    ("sum(var(A, -1, correction=0) * v)", {"A": (3, 4), "v": (3,)},
     lambda t, A, v: (t.var(A, -1, correction=0) * v).sum()),
    ("sum(A * sum(A, 1, keepdim=True) * prod(A, 1, keepdim=True) * amax(A, 1, keepdim=True)"
     " * var(A, 1, keepdim=True) * logsumexp(A, 1, keepdim=True))", {"A": (3, 4)},
     lambda t, A: (A * A.sum(1, keepdim=True) * A.prod(1, keepdim=True) * A.amax(1, keepdim=True)
                   * A.var(1, keepdim=True) * A.logsumexp(1, keepdim=True)).sum()),
    # comparisons (1/0, no gradient) and where
    ("sum(where(A > 0, A, 0.1 * A))", {"A": (3, 4)}, lambda t, A: t.where(A > 0, A, 0.1 * A).sum()),
    ("sum((A >= B) * A + (A < B) * B^2 + (A <= 0.5) * A + (A != B) * B)", {"A": (3, 4), "B": (3, 4)},
     lambda t, A, B: ((A >= B) * A + (A < B) * B ** 2 + (A <= 0.5) * A + (A != B) * B).sum()),
    ("sum(where(A == amax(A, 1, keepdim=True), A, B))", {"A": (3, 4), "B": (3, 4)},
     lambda t, A, B: t.where(A == A.amax(1, keepdim=True), A, B).sum()),
    # shapes
    ("sum(reshape(A, 4, -1) * B)", {"A": (2, 3, 4), "B": (4, 6)}, lambda t, A, B: (A.reshape(4, -1) * B).sum()),
    ("sum(reshape(A, 24) * v) + sum(reshape(s, 1, 1) * A)", {"A": (2, 3, 4), "v": (24,), "s": ()},
     lambda t, A, v, s: (A.reshape(24) * v).sum() + (s.reshape(1, 1) * A).sum()),
    ("sum(flatten(A) * v) + sum(flatten(A, 1) * B)", {"A": (2, 3, 4), "v": (24,), "B": (2, 12)},
     lambda t, A, v, B: (t.flatten(A) * v).sum() + (t.flatten(A, 1) * B).sum()),
    ("sum(transpose(A, 0, 2) * B) + sum(transpose(A) * C)", {"A": (2, 3, 4), "B": (4, 3, 2), "C": (2, 4, 3)},
     lambda t, A, B, C: (A.transpose(0, 2) * B).sum() + (A.transpose(-2, -1) * C).sum()),
    ("sum(permute(A, 2, 0, 1) * B)", {"A": (2, 3, 4), "B": (4, 2, 3)}, lambda t, A, B: (A.permute(2, 0, 1) * B).sum()),
    ("sum(squeeze(A) * B) + sum(squeeze(A, 0) * C) + sum(squeeze(A, 1) * A)",
     {"A": (1, 3, 1), "B": (3,), "C": (3, 1)},
     lambda t, A, B, C: (A.squeeze() * B).sum() + (A.squeeze(0) * C).sum() + (A.squeeze(1) * A).sum()),
    ("sum(unsqueeze(v, 0) * A) + sum(unsqueeze(v, -1) * B)", {"v": (3,), "A": (2, 3), "B": (3, 2)},
     lambda t, v, A, B: (v.unsqueeze(0) * A).sum() + (v.unsqueeze(-1) * B).sum()),
    ("sum(cat(A, B, 1) * C) + sum(cat(A, A) * D)", {"A": (2, 3), "B": (2, 2), "C": (2, 5), "D": (4, 3)},
     lambda t, A, B, C, D: (t.cat((A, B), 1) * C).sum() + (t.cat((A, A)) * D).sum()),
    ("sum(stack(A, B, 1) * C) + sum(stack(A, B) * D)", {"A": (2, 3), "B": (2, 3), "C": (2, 2, 3), "D": (2, 2, 3)},
     lambda t, A, B, C, D: (t.stack((A, B), 1) * C).sum() + (t.stack((A, B)) * D).sum()),
    ("sum(pad(A, 1) * B) + sum(pad(A, 2, 0) * C) + sum(pad(A, 0, 1, 1, 2) * D)",
     {"A": (2, 3), "B": (4, 5), "C": (2, 5), "D": (5, 4)},
     lambda t, A, B, C, D: ((t.nn.functional.pad(A, (1, 1, 1, 1)) * B).sum()
                            + (t.nn.functional.pad(A, (2, 0)) * C).sum()
                            + (t.nn.functional.pad(A, (0, 1, 1, 2)) * D).sum())),
    ("sum(flip(A, 0) * B) + sum(flip(A, 0, -1) * B)", {"A": (3, 4), "B": (3, 4)},
     lambda t, A, B: (t.flip(A, (0,)) * B).sum() + (t.flip(A, (0, -1)) * B).sum()),
    ("sum(tril(A) * B) + sum(triu(A, 1) * B) + sum(tril(C, -1) * D)",
     {"A": (3, 4), "B": (3, 4), "C": (2, 3, 3), "D": (2, 3, 3)},
     lambda t, A, B, C, D: (t.tril(A) * B).sum() + (t.triu(A, 1) * B).sum() + (t.tril(C, -1) * D).sum()),
    # batched @ over leading axes
    ("sum((A @ B) * W)", {"A": (2, 3, 4), "B": (2, 4, 5), "W": (2, 3, 5)}, lambda t, A, B, W: ((A @ B) * W).sum()),
    ("sum((A @ B) * W)", {"A": (2, 1, 3, 4), "B": (5, 4, 2), "W": (2, 5, 3, 2)},
     lambda t, A, B, W: ((A @ B) * W).sum()),
    ("sum((v @ B) * W) + sum((B @ u) * V)", {"v": (4,), "B": (2, 4, 5), "W": (2, 5), "u": (5,), "V": (2, 4)},
     lambda t, v, B, W, u, V: ((v @ B) * W).sum() + ((B @ u) * V).sum()),
    ("sum((A @ M) * W)", {"A": (2, 3, 4), "M": (4, 5), "W": (2, 3, 5)}, lambda t, A, M, W: ((A @ M) * W).sum()),
    ("sum(softmax(where(M > 0, A, -1000000000)) * B)", {"A": (3, 4), "M": (3, 4), "B": (3, 4)},
     lambda t, A, M, B: (t.softmax(t.where(M > 0, A, -1e9), -1) * B).sum()),
    # slicing: a slice keeps its axis, an integer drops it; bounds clamp; negative indices
    ("sum(x[1:3] * w)", {"x": (5,), "w": (2,)}, lambda t, x, w: (x[1:3] * w).sum()),
    ("sum(A[:, 0] * v)", {"A": (3, 4), "v": (3,)}, lambda t, A, v: (A[:, 0] * v).sum()),
    ("sum(x[::2][0:2] * x[1::2]) + x[4] * x[1::2][0]", {"x": (5,)},
     lambda t, x: (x[::2][0:2] * x[1::2]).sum() + x[4] * x[1::2][0]),
    ("sum(A[-1, 1:] * w) + sum(A[-2:, -3:-1])", {"A": (3, 4), "w": (3,)},
     lambda t, A, w: (A[-1, 1:] * w).sum() + A[-2:, -3:-1].sum()),
    ("sum(x[1:100]^2) + sum(x[-100:2]) + sum(x[7:]) + sum(x[3:1])", {"x": (5,)},
     lambda t, x: (x[1:100] ** 2).sum() + x[-100:2].sum() + x[7:].sum() + x[3:1].sum()),
    ("sum(A[0:2, ::2, 1] * B) + sum(A[1][:, 1:3]^2) + A[-1, -1, -1]", {"A": (3, 4, 5), "B": (2, 2)},
     lambda t, A, B: (A[0:2, ::2, 1] * B).sum() + (A[1][:, 1:3] ** 2).sum() + A[-1, -1, -1]),
    ("sum(A[:, 1:4:2] * B) + sum(A[1:, :] * C)", {"A": (3, 4), "B": (3, 2), "C": (2, 4)},
     lambda t, A, B, C: (A[:, 1:4:2] * B).sum() + (A[1:, :] * C).sum()),
    # gather by an index tensor (an input of whole numbers, Index below: no gradient)
    ("sum(x[i] * w)", {"x": (5,), "i": Index((4,), 5), "w": (4,)}, lambda t, x, i, w: (x[i.long()] * w).sum()),
    ("sum(A[J] * B)", {"A": (4, 3), "J": Index((2, 2), 4), "B": (2, 2, 3)},
     lambda t, A, J, B: (A[J.long()] * B).sum()),
    ("sum(gather(A, 1, P) * W) + sum(gather(A, 0, K)^2)",
     {"A": (3, 4), "P": Index((3, 5), 4), "W": (3, 5), "K": Index((2, 4), 3)},
     lambda t, A, P, W, K: (t.gather(A, 1, P.long()) * W).sum() + (t.gather(A, 0, K.long()) ** 2).sum()),
    ("sum(gather(A, P, dim=-1) * W)", {"A": (2, 3, 4), "P": Index((2, 2, 3), 4), "W": (2, 2, 3)},
     lambda t, A, P, W: (t.gather(A, -1, P.long()) * W).sum()),
    # a two-head causal self-attention block, as the lecture after this one writes it
    (ATTENTION, {"X": (4, 6), "Wq": (6, 6), "Wk": (6, 6), "Wv": (6, 6), "Wo": (6, 6), "M": (4, 4), "T": (4, 6)},
     lambda t, X, Wq, Wk, Wv, Wo, M, T: _attention(t, X, Wq, Wk, Wv, Wo, M, T)),
]


def point(shapes: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {n: rng.integers(0, s.n, s).astype(np.float64) if isinstance(s, Index) else rng.uniform(-1.5, 1.5, s)
            for n, s in shapes.items()}


def torch_reference(fn, values: dict):
    """(value, {name: gradient, or None where none flows}) of fn over float64 tensors that
    require a gradient."""
    import torch

    leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in values.items()}
    out = fn(torch, *leaves.values())
    out.backward()
    return out.item(), {n: (x.grad.numpy() if x.grad is not None else None) for n, x in leaves.items()}
