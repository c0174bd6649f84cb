"""bp's errors: one small hierarchy, each kind with its documented exit code."""

from __future__ import annotations


class BPError(Exception):
    """Something the user can fix; the CLI prints the message, never a traceback."""

    exit_code = 2
    kind = "error"

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

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
                 op: str | None = None, shapes: tuple = ()):
        super().__init__(message, hint)
        self.node = node
        self.op = op
        self.shapes = shapes
