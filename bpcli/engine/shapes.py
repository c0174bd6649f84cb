"""The shape operations of the op table (reshape, flatten, transpose with two axes, permute,
squeeze, unsqueeze, cat, stack, pad, flip, tril, triu, gather): shape, forward, VJP and JVP rules.

Loaded by the tensor pass the first time one of them runs (bp grad on numbers never loads
it). Each rule is written for one example with any leading batch axes (`site.ranks` are the
operands' per-example ranks): axes are counted from the example's end, so a batch rides
along. They move entries without arithmetic, so each forward rule applied to arrays of SymPy
expressions is the op's SymPy counterpart too (`symbolic`).
"""

from __future__ import annotations

import math

import numpy as np

from bpcli.engine.numeric import whole_indices
from bpcli.engine.numtext import shape_text
from bpcli.errors import ShapeError


def _axis(name: str, dim: int, rank: int, what: str = "axis") -> int:
    """dim as an axis 0..rank-1 of the example, or a ShapeError."""
    if not -rank <= dim < rank:
        have = f"its axes are 0 to {rank - 1}" if rank else "a scalar has no axes"
        raise ShapeError(f"{name}: {what} {dim} is out of range for a tensor of {rank} "
                         f"ax{'is' if rank == 1 else 'es'} ({have})")
    return dim % rank


def _neg(dim: int, rank: int) -> int:
    """The example's axis dim (0..rank-1) counted from the end, so a batch axis rides along."""
    return dim - rank


def _lead(x, rank: int) -> tuple:
    """The batch axes in front of an example of this rank."""
    return x.shape[:x.ndim - rank]


# -- reshape, flatten ---------------------------------------------------------------------
def reshape_shape(shapes, kw):
    (a,) = shapes
    sizes = tuple(kw["shape"])
    free = [k for k, n in enumerate(sizes) if n == -1]
    if len(free) > 1 or any(n < -1 for n in sizes):
        raise ShapeError(f"reshape to {', '.join(map(str, sizes))}: sizes are whole numbers, one of them may be -1")
    total = math.prod(a)
    known = math.prod(n for n in sizes if n != -1)
    if free:
        if known == 0 or total % known:
            raise ShapeError(f"cannot reshape a {shape_text(a)} tensor ({_entries(total)}) to "
                             f"{', '.join(map(str, sizes))}: {known} does not divide {total}")
        sizes = sizes[:free[0]] + (total // known,) + sizes[free[0] + 1:]
    elif known != total:
        raise ShapeError(f"cannot reshape a {shape_text(a)} tensor ({_entries(total)}) to "
                         f"{shape_text(sizes)} ({_entries(known)})")
    return sizes


def _entries(n: int) -> str:
    return f"{n:,} entr{'y' if n == 1 else 'ies'}"


def reshape(m, a, site):
    rank = site.ranks[0]
    return a.reshape(_lead(a, rank) + tuple(site.kw["shape"]))


def reshape_vjp(m, g, out, a, site):
    return g.reshape(a.shape)


def reshape_jvp(m, t, out, a, site):
    return m.np.broadcast_to(t, a.shape).reshape(out.shape)


def _flat_axes(kw, rank: int) -> tuple[int, int]:
    if not rank:
        return 0, -1
    return _axis("flatten", kw["start_dim"], rank, "start_dim"), _axis("flatten", kw["end_dim"], rank, "end_dim")


def flatten_shape(shapes, kw):
    (a,) = shapes
    if not a:  # PyTorch: a 0-d tensor flattens to one entry, its dims taken as 0 or -1
        wrong = [f"{k} {kw[k]}" for k in ("start_dim", "end_dim") if kw[k] not in (0, -1)]
        if wrong:
            raise ShapeError(f"flatten of a number: {' and '.join(wrong)} is out of range (0 or -1, as PyTorch)")
        return (1,)
    start, end = _flat_axes(kw, len(a))
    if start > end:
        raise ShapeError(f"flatten: start_dim {kw['start_dim']} comes after end_dim {kw['end_dim']}")
    return a[:start] + (math.prod(a[start:end + 1]),) + a[end + 1:]


def _reshaped(shape_of):
    """The forward rule of an op that only reshapes: its own shape rule applied past the batch's axes."""
    def run(m, a, site):
        lead = _lead(a, site.ranks[0])
        return a.reshape(lead + shape_of((a.shape[len(lead):],), site.kw))

    return run


flatten = _reshaped(flatten_shape)
flatten_vjp = reshape_vjp
flatten_jvp = reshape_jvp


def _self_inverse(apply):
    """The rules of a linear op that is its own inverse (a swap of two axes, a flip): the same
    map forward, back on the gradient, and on a tangent."""
    def forward(m, a, site):
        return apply(m, a, site)

    def vjp(m, g, out, a, site):
        return apply(m, g, site)

    def jvp(m, t, out, a, site):
        return apply(m, m.np.broadcast_to(t, a.shape), site)

    return forward, vjp, jvp


# -- transpose, permute ---------------------------------------------------------------------
def transpose_shape(shapes, kw):
    (a,) = shapes
    if kw["dim0"] is None:  # transpose(A): the last two axes (a vector as it is)
        return a[:-2] + a[:-3:-1]
    if kw["dim1"] is None:
        raise ShapeError("transpose(A, dim0, dim1) takes two axes, or none (the last two)")
    i, j = (_axis("transpose", kw[d], len(a), d) for d in ("dim0", "dim1"))
    out = list(a)
    out[i], out[j] = out[j], out[i]
    return tuple(out)


def _swapped(m, x, site):
    rank = site.ranks[0]
    if site.kw["dim0"] is None:
        return m.np.swapaxes(x, -1, -2) if rank >= 2 else x
    i, j = (_neg(site.kw[d] % rank, rank) for d in ("dim0", "dim1"))
    return m.np.swapaxes(x, i, j)


transpose, transpose_vjp, transpose_jvp = _self_inverse(_swapped)


def permute_shape(shapes, kw):
    (a,) = shapes
    dims = [_axis("permute", d, len(a), "dim") for d in kw["dims"]]
    if sorted(dims) != list(range(len(a))):
        raise ShapeError(f"permute({', '.join(map(str, kw['dims']))}) of a {shape_text(a)} tensor: "
                         f"the dims must name each of its {len(a)} axes once")
    return tuple(a[d] for d in dims)


def _order(x, site, inverse: bool = False) -> tuple:
    rank = site.ranks[0]
    lead = x.ndim - rank
    dims = [d % rank for d in site.kw["dims"]]
    if inverse:
        dims = [dims.index(k) for k in range(rank)]
    return tuple(range(lead)) + tuple(lead + d for d in dims)


def permute(m, a, site):
    return m.np.transpose(a, _order(a, site))


def permute_vjp(m, g, out, a, site):
    return m.np.transpose(g, _order(g, site, inverse=True))


def permute_jvp(m, t, out, a, site):
    t = m.np.broadcast_to(t, a.shape)
    return m.np.transpose(t, _order(t, site))


# -- squeeze, unsqueeze -----------------------------------------------------------------------
def _squeezed_axes(a: tuple, dim) -> tuple:
    if dim is None:
        return tuple(k for k, n in enumerate(a) if n == 1)
    if not a and dim in (0, -1):
        return ()
    k = _axis("squeeze", dim, len(a), "dim")
    return (k,) if a[k] == 1 else ()  # PyTorch: an axis longer than 1 stays


def squeeze_shape(shapes, kw):
    (a,) = shapes
    gone = _squeezed_axes(a, kw["dim"])
    return tuple(n for k, n in enumerate(a) if k not in gone)


squeeze = _reshaped(squeeze_shape)
squeeze_vjp = reshape_vjp
squeeze_jvp = reshape_jvp


def unsqueeze_shape(shapes, kw):
    (a,) = shapes
    k = _axis("unsqueeze", kw["dim"], len(a) + 1, "dim")
    return a[:k] + (1,) + a[k:]


unsqueeze = _reshaped(unsqueeze_shape)
unsqueeze_vjp = reshape_vjp
unsqueeze_jvp = reshape_jvp


# -- cat, stack -------------------------------------------------------------------------------
def cat_shape(shapes, kw):
    a, b = shapes
    if len(a) != len(b) or not a:
        raise ShapeError(f"cat joins tensors of the same number of axes (at least one), not "
                         f"{shape_text(a)} and {shape_text(b)}")
    k = _axis("cat", kw["dim"], len(a), "dim")
    if a[:k] + a[k + 1:] != b[:k] + b[k + 1:]:
        raise ShapeError(f"cat along axis {kw['dim']}: {shape_text(a)} and {shape_text(b)} differ "
                         "on another axis")
    return a[:k] + (a[k] + b[k],) + a[k + 1:]


def _together(m, a, b, site):
    """The two operands with the same batch axes in front (one may have none)."""
    np = m.np
    ra, rb = site.ranks
    la, lb = _lead(a, ra), _lead(b, rb)
    lead = la or lb
    return np.broadcast_to(a, lead + a.shape[len(la):]), np.broadcast_to(b, lead + b.shape[len(lb):])


def cat(m, a, b, site):
    a, b = _together(m, a, b, site)
    rank = site.ranks[0]
    return m.np.concatenate([a, b], axis=_neg(site.kw["dim"] % rank, rank))


def _cat_part(g, a, site, first: bool):
    rank = site.ranks[0]
    axis = _neg(site.kw["dim"] % rank, rank)
    n = a.shape[axis]
    key = [slice(None)] * g.ndim
    key[axis] = slice(None, n) if first else slice(g.shape[axis] - n, None)
    return g[tuple(key)]


def cat_vjp_a(m, g, out, a, b, site):
    return _cat_part(g, a, site, True)


def cat_vjp_b(m, g, out, a, b, site):
    return _cat_part(g, b, site, False)


def cat_jvp_a(m, t, out, a, b, site):
    return cat(m, m.np.broadcast_to(t, a.shape), m.np.zeros_like(b), site)


def cat_jvp_b(m, t, out, a, b, site):
    return cat(m, m.np.zeros_like(a), m.np.broadcast_to(t, b.shape), site)


def stack_shape(shapes, kw):
    a, b = shapes
    if a != b:
        raise ShapeError(f"stack joins tensors of one shape, not {shape_text(a)} and {shape_text(b)}")
    k = _axis("stack", kw["dim"], len(a) + 1, "dim")
    return a[:k] + (2,) + a[k:]


def _stack_axis(site) -> int:
    rank = site.ranks[0] + 1
    return _neg(site.kw["dim"] % rank, rank)


def stack(m, a, b, site):
    a, b = _together(m, a, b, site)
    return m.np.stack([a, b], axis=_stack_axis(site))


def stack_vjp_a(m, g, out, a, b, site):
    return m.np.take(g, 0, axis=_stack_axis(site))


def stack_vjp_b(m, g, out, a, b, site):
    return m.np.take(g, 1, axis=_stack_axis(site))


def stack_jvp_a(m, t, out, a, b, site):
    return stack(m, m.np.broadcast_to(t, a.shape), m.np.zeros_like(b), site)


def stack_jvp_b(m, t, out, a, b, site):
    return stack(m, m.np.zeros_like(a), m.np.broadcast_to(t, b.shape), site)


# -- pad ------------------------------------------------------------------------------------
def widths(pad: tuple, rank: int) -> list[tuple[int, int]]:
    """(before, after) per axis of the example: pad(x, p) pads every axis by p on both sides;
    pad(x, l, r, …) takes PyTorch's F.pad pairs, the last axis first."""
    if len(pad) == 1:
        return [(pad[0], pad[0])] * rank
    pairs = [(pad[k], pad[k + 1]) for k in range(0, len(pad), 2)]
    return [(0, 0)] * (rank - len(pairs)) + pairs[::-1]


def pad_shape(shapes, kw):
    (a,) = shapes
    pad = tuple(kw["pad"])
    if not a:
        raise ShapeError("pad of a number: it has no axis to pad (PyTorch refuses it too)")
    if any(p < 0 for p in pad):
        raise ShapeError("pad takes widths of 0 or more (zeros added; PyTorch's negative widths crop)")
    if len(pad) > 1 and (len(pad) % 2 or len(pad) // 2 > len(a)):
        raise ShapeError(f"pad(x, {', '.join(map(str, pad))}): widths come in pairs (before, after), "
                         f"the last axis first, one pair per axis at most ({len(a)} here)")
    return tuple(n + lo + hi for n, (lo, hi) in zip(a, widths(pad, len(a))))


def _pad_key(x, site) -> tuple:
    rank = site.ranks[0]
    lead = x.ndim - rank
    return (slice(None),) * lead + tuple(slice(lo, lo + n) for n, (lo, _) in
                                         zip(x.shape[lead:], widths(tuple(site.kw["pad"]), rank)))


def pad(m, a, site):
    rank = site.ranks[0]
    lead = a.ndim - rank
    return m.np.pad(a, [(0, 0)] * lead + widths(tuple(site.kw["pad"]), rank))


def pad_vjp(m, g, out, a, site):
    return g[_pad_key(a, site)]


def pad_jvp(m, t, out, a, site):
    return pad(m, m.np.broadcast_to(t, a.shape), site)


# -- flip, tril, triu -----------------------------------------------------------------------
def flip_shape(shapes, kw):
    (a,) = shapes
    dims = [_axis("flip", d, len(a), "dim") for d in kw["dims"]]
    if len(set(dims)) < len(dims):
        raise ShapeError(f"flip({', '.join(map(str, kw['dims']))}): an axis is named twice")
    return a


def _flipped(m, x, site):
    rank = site.ranks[0]
    return m.np.flip(x, tuple(_neg(d % rank, rank) for d in site.kw["dims"])) if rank else x


flip, flip_vjp, flip_jvp = _self_inverse(_flipped)


def triangle_shape(name: str):
    def shape(shapes, kw):
        (a,) = shapes
        if len(a) < 2:
            raise ShapeError(f"{name} keeps a triangle of a matrix: a {shape_text(a)} tensor has "
                             "fewer than 2 axes")
        return a

    return shape


def tril(m, a, site):
    return m.np.tril(a, site.kw["diagonal"])


def triu(m, a, site):
    return m.np.triu(a, site.kw["diagonal"])


def tril_vjp(m, g, out, a, site):
    return tril(m, g, site)


def triu_vjp(m, g, out, a, site):
    return triu(m, g, site)


def tril_jvp(m, t, out, a, site):
    return tril(m, m.np.broadcast_to(t, a.shape), site)


def triu_jvp(m, t, out, a, site):
    return triu(m, m.np.broadcast_to(t, a.shape), site)


# -- gather(x, dim, idx): torch.gather ----------------------------------------------------------
def gather_shape(shapes, kw):
    a, i = shapes
    d = _axis("gather", kw["dim"], len(a), "dim")
    if len(i) != len(a):
        raise ShapeError(f"gather: the index is a {shape_text(i)} tensor and x a {shape_text(a)} one: "
                         "they must have as many axes (as torch.gather)")
    for k, (n, m) in enumerate(zip(i, a)):
        if k != d and n > m:
            raise ShapeError(f"gather: the index's axis {k} has length {n}, x's only {m} "
                             "(off the gathered axis it may not be longer)")
    return i


def _gather_key(m, x, idx, site) -> tuple:
    """x (broadcast over the batch of either) and where gather reads it: the index's entries,
    checked to be whole numbers in range, along the axis; each entry's own place on the others."""
    np = m.np
    rank = site.ranks[0]
    axis = _neg(site.kw["dim"] % rank, rank)
    idx = np.asarray(idx, dtype=np.float64)
    batch = x.shape[:x.ndim - rank] or idx.shape[:idx.ndim - site.ranks[1]]  # rows of either
    x = np.broadcast_to(x, batch + x.shape[x.ndim - rank:])
    idx = np.broadcast_to(idx, batch + idx.shape[idx.ndim - site.ranks[1]:])
    whole = whole_indices(np, idx, x.shape[axis], f"gather's index along axis {site.kw['dim']}")
    key = list(np.indices(whole.shape, sparse=True))
    key[axis] = whole
    return x, tuple(key)


def gather(m, x, idx, site):
    x, key = _gather_key(m, x, idx, site)
    return x[key]


def gather_vjp_a(m, g, out, x, idx, site):
    full, key = _gather_key(m, x, idx, site)
    z = m.np.zeros(full.shape, dtype=m.dtype)
    m.np.add.at(z, key, g)  # add.at: an entry read twice gets both contributions
    return z.reshape((-1,) + x.shape).sum(axis=0) if z.ndim > x.ndim else z


def gather_jvp_a(m, t, out, x, idx, site):
    return gather(m, m.np.broadcast_to(t, x.shape), idx, site)


# -- SymPy: the forward rules over arrays of expressions -------------------------------------
class _Objects:
    """The numeric namespace the forward rules read (m.np), for arrays of SymPy expressions."""

    np = np


def symbolic(name: str):
    """The SymPy counterpart of a shape op: its forward rule over arrays of expressions."""
    forward = globals()[name]

    def run(sp, *args):
        return forward(_Objects, *args)

    return run
