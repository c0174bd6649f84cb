"""bp: formulas as computational graphs, differentiated by reverse-mode backpropagation.

    >>> from bpcli import grad
    >>> grad("(x*w-y)^2", {"x": 2, "w": 3, "y": 4}).gradient
    {'x': 12.0, 'w': 8.0, 'y': -4.0}
"""

from __future__ import annotations

from bpcli.errors import (
    BPError,
    CheckError,
    DataError,
    DomainError,
    InputValueError,
    ParseError,
    ShapeError,
)
from bpcli.language.parser import parse
from bpcli.views import notebook

notebook.register()  # until bpcli.api does it: results show their tables and page

__all__ = ["grad", "parse", "BPError", "ParseError", "InputValueError", "DataError", "ShapeError",
           "DomainError", "CheckError"]
__version__ = "0.1.0"


def grad(text: str, values: dict):
    """Parse `text` and run forward and backward at `values` (a name → number dict)."""
    return parse(text).grad(values)
