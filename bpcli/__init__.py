"""bp: formulas as computational graphs, differentiated by reverse-mode backpropagation.

    >>> from bpcli import grad
    >>> grad("(x*w-y)^2", {"x": 2, "w": 3, "y": 4}).gradient
    {'x': 12.0, 'w': 8.0, 'y': -4.0}

The library's functions (grad, parse, diff, hessian, jacobian, jvp, train, view, export, quiz)
live in bpcli.api and are loaded on first use (PEP 562), so that `bp` itself starts without
them; the errors are here at once.
"""

from __future__ import annotations

import importlib

from bpcli.errors import (
    BPError,
    CheckError,
    DataError,
    DomainError,
    EntriesError,
    InputValueError,
    ParseError,
    ShapeError,
)

__all__ = ["grad", "parse", "diff", "hessian", "jacobian", "jvp", "train", "view", "export", "quiz",
           "Training", "Quiz", "Grade",
           "BPError", "ParseError", "InputValueError", "DataError", "ShapeError", "DomainError", "CheckError",
           "EntriesError"]
API = frozenset(n for n in __all__ if not n.endswith("Error"))  # in bpcli.api, loaded on first use
__version__ = "0.1.0"


def __getattr__(name: str):
    """`bpcli.grad` and `from bpcli import grad`: the API, imported the first time it is asked for."""
    if name in API:
        return getattr(importlib.import_module("bpcli.api"), name)
    raise AttributeError(f"module 'bpcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
