"""The reductions of the op table (sum, mean, logsumexp, amax, amin, prod, var, std) and the
cumulative ones (cumsum, cumprod, logcumsumexp): shape, forward, VJP and JVP rules.

Loaded by the tensor pass the first time one of them runs (bp grad on numbers never loads
it). Every rule is written for one example with any leading batch axes: axes are negative
and counted from the example's own rank (`site.ranks`), so a batch rides along. The static
parameters come by name in `site.kw` (dim, keepdim, correction), defaults filled in.
"""

from __future__ import annotations

import numpy as np

from bpcli.engine.numtext import shape_text
from bpcli.errors import ShapeError


# -- axes ----------------------------------------------------------------------------------
def axes(site) -> tuple:
    """The example's axes a reduction runs over, as negative axes (dim None: every axis).
    A scalar's dim 0 or -1 is PyTorch's 0-d reduction, over no axis."""
    rank = site.ranks[0]
    if not rank:
        return ()
    dim = site.kw.get("dim")
    if dim is None:
        return tuple(range(-rank, 0))
    return (dim - rank if dim >= 0 else dim,)


def widened(m, g, site):
    """A reduced value (or its gradient) with the reduced axes back, of length 1."""
    return g if site.kw.get("keepdim") else m.np.expand_dims(g, axes(site))


def spread(m, g, a, site):
    """The upstream gradient of a reduction, broadcast back over the reduced axes."""
    return m.np.broadcast_to(widened(m, g, site), a.shape)


def count(a, site) -> int:
    n = 1
    for axis in axes(site):
        n *= a.shape[axis]
    return n


def _axis_checked(name: str, a: tuple, dim: int) -> int | None:
    """dim as an axis of the shape a (None: a scalar's 0 or -1), or a ShapeError."""
    if not a and dim in (0, -1):
        return None
    if not -len(a) <= dim < len(a):
        have = f"its axes are 0 to {len(a) - 1}" if a else "a scalar has no axes"
        raise ShapeError(f"{name} over axis {dim} of a {shape_text(a)} tensor: {have}")
    return dim % len(a)


def reduce_shape(name: str, empty: bool = True):
    """The shape rule of a reduction: the axis dropped (kept with length 1 under keepdim);
    `empty` False: a reduction PyTorch refuses over no entries (amax, amin)."""
    def shape(shapes, kw):
        (a,) = shapes
        keep = kw.get("keepdim")
        dim = kw.get("dim")
        if dim is None:
            if not empty and 0 in a:
                raise ShapeError(f"{name} of a {shape_text(a)} tensor: it has no entries")
            return tuple(1 for _ in a) if keep else ()
        axis = _axis_checked(name, a, dim)
        if axis is None:
            return ()
        if not empty and a[axis] == 0:
            raise ShapeError(f"{name} over axis {dim} of a {shape_text(a)} tensor: the axis has no entries")
        return a[:axis] + ((1,) if keep else ()) + a[axis + 1:]

    return shape


def along_shape(name: str):
    """The shape rule of a cumulative op: the operand's shape, the axis checked."""
    def shape(shapes, kw):
        (a,) = shapes
        _axis_checked(name, a, kw["dim"])
        return a

    return shape


# -- sum, mean, logsumexp --------------------------------------------------------------------
def total(m, a, site):
    return m.np.sum(a, axis=axes(site), keepdims=bool(site.kw.get("keepdim")))


def total_vjp(m, g, out, a, site):
    return spread(m, g, a, site)


def total_jvp(m, t, out, a, site):
    return total(m, t, site)


def mean(m, a, site):
    return total(m, a, site) / count(a, site)


def mean_vjp(m, g, out, a, site):
    return spread(m, g, a, site) / count(a, site)


def mean_jvp(m, t, out, a, site):
    return total(m, t, site) / count(a, site)


def _squeezed(m, x, site):
    return x if site.kw.get("keepdim") else m.np.squeeze(x, axis=axes(site))


def logsumexp(m, a, site):
    np = m.np
    ax = axes(site)
    top = np.max(a, axis=ax, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(top), top, 0.0)
    out = np.log(np.sum(np.exp(a - shift), axis=ax, keepdims=True)) + shift
    return _squeezed(m, out, site)


def logsumexp_vjp(m, g, out, a, site):
    return widened(m, g, site) * m.np.exp(a - widened(m, out, site))


def logsumexp_jvp(m, t, out, a, site):
    return total(m, m.np.exp(a - widened(m, out, site)) * t, site)


# -- amax, amin: ties share the gradient evenly, as PyTorch --------------------------------
def amax(m, a, site):
    return m.np.max(a, axis=axes(site), keepdims=bool(site.kw.get("keepdim")))


def amin(m, a, site):
    return m.np.min(a, axis=axes(site), keepdims=bool(site.kw.get("keepdim")))


def _share(m, out, a, site):
    """1/k at each of the k entries equal to the extreme along the reduced axes, 0 elsewhere."""
    np = m.np
    hit = (a == widened(m, out, site)).astype(a.dtype)
    return hit / np.sum(hit, axis=axes(site), keepdims=True)


def extreme_vjp(m, g, out, a, site):
    return spread(m, g, a, site) * _share(m, out, a, site)


def extreme_jvp(m, t, out, a, site):
    return total(m, t * _share(m, out, a, site), site)


amax_vjp = amin_vjp = extreme_vjp
amax_jvp = amin_jvp = extreme_jvp


def tied_max(m, out, a, site):
    """Per output entry: whether two or more entries share the extreme (the gradient is split)."""
    hit = a == widened(m, out, site)
    return m.np.sum(hit, axis=axes(site), keepdims=bool(site.kw.get("keepdim"))) > 1


tied_min = tied_max


# -- prod -----------------------------------------------------------------------------------
def prod(m, a, site):
    return m.np.prod(a, axis=axes(site), keepdims=bool(site.kw.get("keepdim")))


def _last(m, a, site):
    """The reduced axes of a as one last axis (and the function that puts it back)."""
    np = m.np
    ax = axes(site)
    if len(ax) == 1:
        return np.moveaxis(a, ax[0], -1), lambda x: np.moveaxis(x, -1, ax[0])
    shape = a.shape
    lead = shape[:a.ndim - len(ax)]
    return a.reshape(lead + (-1,)), lambda x: x.reshape(shape)


def _exclusive(np, a, reverse: bool = False):
    """The product of the entries before each along the last axis (after it: `reverse`)."""
    if reverse:
        return _exclusive(np, a[..., ::-1])[..., ::-1]
    ones = np.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    shifted = np.concatenate([ones, a[..., :-1]], axis=-1)[..., :a.shape[-1]]  # an empty axis stays empty
    return np.cumprod(shifted, axis=-1)


def _others(m, a, site):
    """Each entry's product of the other entries along the reduced axes: ∂prod/∂entry, exact
    at zeros (no division)."""
    np = m.np
    if not axes(site):
        return np.ones_like(a)
    flat, back = _last(m, a, site)
    return back(_exclusive(np, flat) * _exclusive(np, flat, reverse=True))


def prod_vjp(m, g, out, a, site):
    return spread(m, g, a, site) * _others(m, a, site)


def prod_jvp(m, t, out, a, site):
    return total(m, t * _others(m, a, site), site)


# -- var, std (correction=1: PyTorch's unbiased default) ----------------------------------
def _centered(m, a, site):
    """a minus its mean, corrected by the mean of what is left (the corrected two-pass
    algorithm): deviations stay accurate when the mean is far from zero."""
    np, over, n = m.np, axes(site), count(a, site)
    d = a - np.sum(a, axis=over, keepdims=True) / n
    return d - np.sum(d, axis=over, keepdims=True) / n


def _dof(a, site):
    """n - correction, at least 0 (PyTorch's clamp): no more entries than the correction gives nan."""
    return max(count(a, site) - site.kw.get("correction", 1), 0)


def var(m, a, site):
    d = _centered(m, a, site)
    return total(m, d * d, site) / _dof(a, site)


def var_vjp(m, g, out, a, site):
    return spread(m, g, a, site) * (2.0 * _centered(m, a, site) / _dof(a, site))


def var_jvp(m, t, out, a, site):
    return total(m, 2.0 * _centered(m, a, site) * t, site) / _dof(a, site)


def std(m, a, site):
    return m.np.sqrt(var(m, a, site))


def std_vjp(m, g, out, a, site):
    return m.np.where(widened(m, out, site) == 0, 0.0, std_vjp_unmasked(m, g, out, a, site))


def std_vjp_unmasked(m, g, out, a, site):
    """The rule as written, nan where std = 0 (JAX's convention there)."""
    return spread(m, g, a, site) * _centered(m, a, site) / (_dof(a, site) * widened(m, out, site))


def std_jvp(m, t, out, a, site):
    return m.np.where(out == 0, 0.0, var_jvp(m, t, out, a, site) / (2.0 * out))


def std_zero(m, out, a, site):
    """Per output entry: whether its entries are all equal (std 0, a kink: the gradient is taken as 0)."""
    return out == 0


# -- cumulative ops ------------------------------------------------------------------------
def _axis(site):
    """The one axis a cumulative op runs along, negative; None for a scalar (the identity)."""
    ax = axes(site)
    return ax[0] if ax else None


def cumsum(m, a, site):
    axis = _axis(site)
    return a if axis is None else m.np.cumsum(a, axis=axis)


def cumsum_vjp(m, g, out, a, site):
    np = m.np
    axis = _axis(site)
    if axis is None:
        return g
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


def cumsum_jvp(m, t, out, a, site):
    return cumsum(m, t, site)


def cumprod(m, a, site):
    axis = _axis(site)
    return a if axis is None else m.np.cumprod(a, axis=axis)


def _pairs(m, a, site):
    """P[..., i, j] = ∂out_j/∂a_i = prod of a_k for k <= j, k != i (0 for j < i): exact at
    zeros, as PyTorch's rule; a along the last axis."""
    np = m.np
    n = a.shape[-1]
    left = _exclusive(np, a)  # prod_{k<i}
    out = np.zeros(a.shape + (n,), dtype=a.dtype)
    for i in range(n):
        tail = np.cumprod(a[..., i + 1:], axis=-1)
        out[..., i, i] = left[..., i]
        out[..., i, i + 1:] = left[..., i:i + 1] * tail
    return out


def cumprod_vjp(m, g, out, a, site):
    np = m.np
    axis = _axis(site)
    if axis is None:
        return g
    last, gl = np.moveaxis(a, axis, -1), np.moveaxis(g, axis, -1)
    return np.moveaxis(np.einsum("...ij,...j->...i", _pairs(m, last, site), gl), -1, axis)


def cumprod_jvp(m, t, out, a, site):
    np = m.np
    axis = _axis(site)
    if axis is None:
        return t
    last, tl = np.moveaxis(a, axis, -1), np.moveaxis(np.broadcast_to(t, a.shape), axis, -1)
    return np.moveaxis(np.einsum("...ij,...i->...j", _pairs(m, last, site), tl), -1, axis)


def logcumsumexp(m, a, site):
    axis = _axis(site)
    return a if axis is None else m.np.logaddexp.accumulate(a, axis=axis)


def _weights(m, a, out):
    """W[..., i, j] = ∂out_j/∂a_i = exp(a_i - out_j) for i <= j, else 0 (never overflows:
    out_j >= a_i); along the last axis."""
    np = m.np
    n = a.shape[-1]
    w = np.exp(a[..., :, None] - out[..., None, :])
    return np.where(np.arange(n)[:, None] <= np.arange(n)[None, :], w, 0.0)


def _through_weights(m, v, out, a, site, spec: str):
    """v (a gradient or a tangent) taken through the weights along the op's axis: `spec` is the
    einsum that contracts it with W[..., i, j] (over j for a VJP, over i for a JVP)."""
    np = m.np
    axis = _axis(site)
    if axis is None:
        return v
    w = _weights(m, np.moveaxis(a, axis, -1), np.moveaxis(out, axis, -1))
    return np.moveaxis(np.einsum(spec, w, np.moveaxis(np.broadcast_to(v, a.shape), axis, -1)), -1, axis)


def logcumsumexp_vjp(m, g, out, a, site):
    return _through_weights(m, g, out, a, site, "...ij,...j->...i")


def logcumsumexp_jvp(m, t, out, a, site):
    return _through_weights(m, t, out, a, site, "...ij,...i->...j")


# -- SymPy counterparts, over numpy arrays of SymPy expressions (the check's) ---------------
def _each(sp, f, a):
    return np.vectorize(f, otypes=[object])(a)


def total_sympy(sp, a, site):
    return np.asarray(np.sum(a, axis=axes(site), keepdims=bool(site.kw.get("keepdim"))), dtype=object)


def mean_sympy(sp, a, site):
    return total_sympy(sp, a, site) / count(a, site)


def logsumexp_sympy(sp, a, site):
    return _each(sp, sp.log, total_sympy(sp, _each(sp, sp.exp, a), site))


def prod_sympy(sp, a, site):
    return np.asarray(np.prod(a, axis=axes(site), keepdims=bool(site.kw.get("keepdim"))), dtype=object)


def var_sympy(sp, a, site):
    d = a - np.sum(a, axis=axes(site), keepdims=True) / count(a, site)
    return total_sympy(sp, d * d, site) / _dof(a, site)


def std_sympy(sp, a, site):
    return _each(sp, sp.sqrt, var_sympy(sp, a, site))


def cumsum_sympy(sp, a, site):
    axis = _axis(site)
    return a if axis is None else np.cumsum(a, axis=axis)


def cumprod_sympy(sp, a, site):
    axis = _axis(site)
    return a if axis is None else np.cumprod(a, axis=axis)


def logcumsumexp_sympy(sp, a, site):
    return _each(sp, sp.log, cumsum_sympy(sp, _each(sp, sp.exp, a), site))
