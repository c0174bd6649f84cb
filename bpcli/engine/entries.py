"""One bound on tensor entries and one on tensor rank, checked before anything is allocated.

Every array bp makes (an input's value, a node's value or adjoint, a .npy or .npz member, a
--param or --hidden weight, the Jacobian's matrices) is counted here first, from its shape:
past the bound the work is refused with an `EntriesError` that names what would have held the
entries and its shape, and carries the count and the bound, so that the command line can word
its flag and a server its field. The bound is set for a stretch of work with `bounded(n)`
(the library's `max_entries=`, the CLI's --max-entries), else it is MAX_ENTRIES."""

from __future__ import annotations

import contextlib
import contextvars
import math

from bpcli.errors import EntriesError, SizeError

__all__ = ["EntriesError", "SizeError", "MAX_ENTRIES", "MAX_RANK", "bound", "bounded", "check", "count", "rank"]

MAX_ENTRIES = 10_000_000  # float64 entries of one array: 80 MB, which a laptop holds many times over
# Axes of one tensor: some of numpy's functions take at most 32 (its broadcasting iterator, einsum),
# its arrays at most 64; a JSON value nested deeper is refused before numpy sees it.
MAX_RANK = 32

_BOUND: contextvars.ContextVar[int] = contextvars.ContextVar("max_entries", default=MAX_ENTRIES)


def bound() -> int:
    """The bound in force (0: none)."""
    return _BOUND.get()


@contextlib.contextmanager
def bounded(limit: int | None):
    """Work within `limit` entries per array (None: the bound already in force; 0: none)."""
    if limit is None:
        yield
        return
    if limit < 0:
        raise ValueError(f"max_entries must be 0 (no bound) or positive, not {limit}")
    token = _BOUND.set(int(limit))
    try:
        yield
    finally:
        _BOUND.reset(token)


def _text(shape: tuple) -> str:
    return "×".join(map(str, shape)) if shape else "scalar"


def count(shape) -> int:
    """The entries of an array of `shape` (exact, however large)."""
    return math.prod(int(n) for n in shape)


def check(shape, what: str, times: int = 1, node: int | None = None) -> None:
    """Refuse an array of `shape` (`times` of them, e.g. a batch's rows) that `what` would hold
    (the graph's `node`, if it is one), when it passes the bound on entries or on axes."""
    shape = tuple(int(n) for n in shape)
    if len(shape) > MAX_RANK:
        raise EntriesError(f"{what} would have {len(shape)} axes: bp's tensors have at most {MAX_RANK}",
                           what, shape, count(shape), MAX_RANK, rank=True, node=node)
    limit = _BOUND.get()
    n = count(shape) * times
    if limit and n > limit:
        rows = f" ({times:,} rows of {_text(shape)})" if times != 1 else f" (shape {_text(shape)})"
        raise EntriesError(f"{what} would hold {n:,} entries{rows}, past the bound of {limit:,}",
                           what, shape, n, limit, node=node)


def rank(depth: int, what: str) -> None:
    """Refuse a nested list `depth` levels deep before numpy builds it."""
    if depth > MAX_RANK:
        raise EntriesError(f"{what} is nested more than {MAX_RANK} levels deep: bp's tensors have at most "
                           f"{MAX_RANK} axes",
                           what, (), 0, MAX_RANK, rank=True)

