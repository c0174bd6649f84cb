"""bp's errors: one small hierarchy, each kind with its documented exit code; and how any
text bp says (an error's reason or hint, a note) names a setting.

A setting (the batch size, the optimizer, a bound) is named through `setting("batch_size")`,
an input given a value through `input_value("x", "VALUE")`, never by a CLI flag's text: the
face in force words them. A face puts its `Wording` in force for a stretch of work with
`worded(wording)`, as it puts its bound on entries in force with `engine.entries.bounded(n)`:
the library's, the default, says keywords (`batch_size=`, `x=VALUE`), the command line's its
flags (`--batch-size`, `--x VALUE`: bpcli/cli/exits.py), bp serve's its request's fields
(`"check"`: views/web/server.py). `setting("optimizer", "adam")` names a value too
(`optimizer='adam'`, `--optimizer adam`), `setting("latex", True)` a switch set (`latex=True`,
`--latex`). The words are chosen when the text is made: a text that names a setting is made
in a function, never at import. What a refusal's setting would let through is data as well:
`lifted_by` names it, and a face that has that setting words the hint (bp's --max-entries)."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

CONTEXT = 40  # characters of the line shown on either side of an error's position


@dataclass(frozen=True)
class Position:
    """Where in a formula's text an error is, for programs (line, column, offset) and for people
    (the line around it, cut to CONTEXT characters either side, and the caret's place in it)."""

    offset: int  # characters of the text before it
    line: int  # from 1
    column: int  # from 1, in characters
    excerpt: str  # the line around it, "…" where cut, anything unprintable as "?"
    caret: int  # the position's index in `excerpt`
    one_line: bool  # the text is one line (so people need not be told which)

    @classmethod
    def in_text(cls, text: str, offset: int) -> Position:
        start = text.rfind("\n", 0, offset) + 1
        end = text.find("\n", offset)
        end = len(text) if end < 0 else end
        lo, hi = max(start, offset - CONTEXT), min(end, offset + CONTEXT)
        prefix, suffix = "…" * (lo > start), "…" * (hi < end)
        excerpt = "".join(c if c.isprintable() else "?" for c in prefix + text[lo:hi] + suffix)
        return cls(offset, text.count("\n", 0, offset) + 1, offset - start + 1, excerpt,
                   len(prefix) + offset - lo, "\n" not in text.strip())

    def where(self) -> str:
        return f"column {self.column}" if self.one_line else f"line {self.line}, column {self.column}"

    def pointer(self) -> str:
        """The excerpt and a caret under the position, indented, as bp prints them."""
        return f"  {self.excerpt}\n  {' ' * self.caret}^"


# -- settings, worded by the face in force -------------------------------------------------------
NO_VALUE = object()  # setting(name) names the setting alone


class Wording:
    """How a face names a setting and an input's value: this one, the library's (the default),
    as keyword arguments (`batch_size=`, `lr=0.05`, `optimizer='adam'`; an input: `x=VALUE`).
    A value in capitals (N, SIZE, VALUE) stands for one, and is said as it is."""

    def setting(self, name: str, value=NO_VALUE) -> str:
        return self.phrase(self.key(name), value if value is NO_VALUE else self.value(value), value is True)

    def input(self, name: str, value=NO_VALUE) -> str:
        """An input of the formula given a value (`x=2`)."""
        return self.phrase(self.input_key(name), value, False)

    def key(self, name: str) -> str:
        """A setting's name as this face spells it."""
        return name

    def input_key(self, name: str) -> str:
        """An input's name as this face spells it."""
        return name

    def phrase(self, key: str, shown, switch: bool) -> str:
        """The key, and the value as shown (`switch`: a switch set to True)."""
        return f"{key}=" if shown is NO_VALUE else f"{key}={shown}"

    @staticmethod
    def value(value) -> str:
        if isinstance(value, float):
            return format(value, "g")
        if isinstance(value, str) and value.isupper() and value.isalpha():
            return value
        return repr(value)


LIBRARY = Wording()  # the words in force where no face put its own
_WORDING: contextvars.ContextVar[Wording] = contextvars.ContextVar("wording")


def setting(name: str, value=NO_VALUE) -> str:
    """The words for the setting `name` (spelt as the library's keyword: `batch_size`), and
    its `value` if given, as the face in force says them."""
    return _WORDING.get(LIBRARY).setting(name, value)


def input_value(name: str, value=NO_VALUE) -> str:
    """The words for giving the formula's input `name` a value, as the face in force says them."""
    return _WORDING.get(LIBRARY).input(name, value)


@contextlib.contextmanager
def worded(wording: Wording):
    """Say every setting named during this stretch of work in `wording`'s words."""
    token = _WORDING.set(wording)
    try:
        yield
    finally:
        _WORDING.reset(token)


class BPError(Exception):
    """Something the user can fix; the CLI prints the message, never a traceback.

    `reason` says what is wrong; `position`, when the error is at a place in the formula's
    text, says where; `message` is both, as people read them (the line and a caret)."""

    exit_code = 2
    kind = "error"
    lifted_by: str | None = None  # the setting that would let through what was refused (a face words it)

    def __init__(self, reason: str, hint: str | None = None, position: Position | None = None):
        self.reason = reason
        self.hint = hint
        self.position = position
        self.message = self.headline if position is None else f"{self.headline}\n{position.pointer()}"
        super().__init__(self.message)

    @property
    def headline(self) -> str:
        """The reason and where it is, on one line (the message's first)."""
        return self.reason if self.position is None else f"{self.reason} at {self.position.where()}"

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class ParseError(BPError):
    """The formula is not valid bp syntax."""

    kind = "parse error"


class InputValueError(BPError):
    """A value given for an input is missing, unknown, repeated or not a finite number."""

    kind = "value error"


class DataError(BPError):
    """A data file (CSV, JSON Lines, JSON values) cannot be read; says file, row and column."""

    kind = "data error"


class UsageError(BPError):
    """Options that do not fit together or make no sense."""

    kind = "usage error"


class LimitError(BPError):
    """The input is larger than a documented bound (the message names the flag that raises it)."""

    kind = "too large"


class EntriesError(LimitError):
    """An array would hold more entries (or axes) than the bound: carries what it is, its
    shape, its entry count and the bound (rank=True: too many axes; limit is then the most), and
    the graph's node when it is one (so that a face can point at where it is written)."""

    def __init__(self, reason: str, what: str, shape: tuple, entries: int, limit: int, rank: bool = False,
                 node: int | None = None):
        super().__init__(reason)
        self.node = node
        self.what = what
        self.shape = tuple(shape)
        self.entries = entries
        self.limit = limit
        self.rank = rank
        self.lifted_by = None if rank else "max_entries"


class SizeError(LimitError):
    """A file's members would decompress to more bytes than the bound on a values file;
    carries what, the size and the bound."""

    lifted_by = "max_values"

    def __init__(self, reason: str, what: str, size: int, limit: int):
        super().__init__(reason)
        self.what = what
        self.size = size
        self.limit = limit


class OutputError(BPError):
    """A file or stream cannot take what bp writes (full disk, a directory, a closed stream)."""

    kind = "output error"


class DomainError(BPError):
    """The numbers left the domain where the result means anything (training diverged)."""

    exit_code = 4
    kind = "domain error"


class CheckError(BPError):
    """bp's gradient disagrees with SymPy's derivative or with finite differences."""

    exit_code = 3
    kind = "check failed"


class MissingDependency(BPError):
    """An optional package or program that this feature needs is not installed."""

    exit_code = 5
    kind = "missing dependency"


class ShapeError(BPError):
    """Operands whose shapes do not fit their operation; carries the node and the shapes."""

    kind = "shape error"

    def __init__(self, message: str, hint: str | None = None, node: int | None = None,
                 op: str | None = None, shapes: tuple = (), position: Position | None = None):
        super().__init__(message, hint, position)
        self.node = node
        self.op = op
        self.shapes = shapes


class IndexValueError(ShapeError, InputValueError):
    """An index tensor's entry that is not a whole number in range of the axis it picks along
    (PyTorch's IndexError): a value error, pointed at its node as a shape error is; carries the
    entry's `value` and `limit`, the axis's length."""

    kind = "value error"
    value: float = 0.0
    limit: int = 0


class TensorOutputError(ShapeError):
    """A gradient was asked of a tensor-valued output (as PyTorch's backward needs a scalar)."""
