"""Numbers for people: a value cut to the digits the settings ask for, an array as numpy
prints it or summarised on one line, a count of paths however large."""

from __future__ import annotations

from bpcli.engine.numtext import count_text, number_text
from bpcli.engine.ops import shape_text
from bpcli.engine.values import is_number
from bpcli.views import settings

SMALL_ARRAY = 16  # entries an array may have to be shown in full


def show_number(v) -> str:
    """A number for people: Python's shortest round-trip text, cut to the settings' digits
    when it has more (12.00000000007759 shows as 12.0; --precision full keeps it)."""
    return number_text(v, settings.current().digits, whole=False)


def show_value(v, width: int = 36, shape: bool = True) -> str:
    """A number as show_number; a small array as numpy prints it; a larger one on one line,
    its first and last entries and (`shape`) its shape, within `width` characters where it can."""
    if is_number(v):
        return show_number(v)
    import numpy as np

    a = np.asarray(v)
    if a.size <= SMALL_ARRAY:
        text = np.array2string(a, max_line_width=width, threshold=SMALL_ARRAY, edgeitems=2,
                               precision=4, floatmode="maxprec", separator=" ")
        rows = a.size // a.shape[-1] if a.shape[-1] else 1
        if text.count("\n") <= rows:  # a line per row, and one more where a line wraps
            return text
    return summary(a, width, shape)


def show_sampled(v, taken, width: int = 36) -> str:
    """show_value of finite differences taken at some entries only: the others as — (not sampled)."""
    import numpy as np

    if taken is None or taken.all():
        return show_value(v, width)
    a = np.asarray(v, dtype=np.float64)
    if a.size > SMALL_ARRAY:
        return summary(np.ma.array(a, mask=~taken), width)
    cells = np.array([f"{x:.4g}" if t else "—" for x, t in zip(a.ravel().tolist(), taken.ravel().tolist())],
                     dtype=object).reshape(a.shape)
    return np.array2string(cells, max_line_width=width, separator=" ", formatter={"all": str})


def show_inline(v, width: int = 60, shape: bool = True) -> str:
    """show_value on one line (an array's rows side by side): for trees, pictures and paths."""
    return " ".join(show_value(v, width, shape).split())


def summary(a, width: int, shape: bool = True) -> str:
    """A large array on one line as numpy summarises it, `[[0 0.1 … 0.9] … [5 5.1 … 5.9]] (6×10)`:
    the first and last rows, as many edge entries of each as fit `width` (at least one)."""
    shape = f" ({shape_text(a.shape)})" if shape else ""
    rows = a.reshape(-1, a.shape[-1]) if a.ndim > 1 and a.shape[-1] else a.reshape(1, -1)
    depth = a.ndim - 1
    text = ""
    for edge in (3, 2, 1):
        shown = [_row(r, edge) for r in ((rows[0],) if len(rows) == 1 else (rows[0], rows[-1]))]
        text = "[" * depth + " … ".join(shown) + "]" * depth + shape
        if len(text) <= width:
            break
    return text


def _row(row, edge: int) -> str:
    """One row of an array: all of it when short, else `edge` entries at each end."""
    items = row.tolist()
    if len(items) > 2 * edge:
        items = items[:edge] + ["…"] + items[-edge:]
    return "[" + " ".join(x if x == "…" else "—" if x is None else f"{x:.4g}" for x in items) + "]"


def count_json(n: int):
    """A count for JSON: an exact integer up to 2^53 (what every JSON reader keeps), else text."""
    return n if n <= 2**53 else count_text(n)
