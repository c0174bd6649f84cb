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
import sys
import types

from bpcli.errors import (
    BPError,
    CheckError,
    DataError,
    DomainError,
    InputValueError,
    ParseError,
    ShapeError,
)

__all__ = ["grad", "parse", "diff", "hessian", "jacobian", "jvp", "train", "view", "export", "quiz",
           "Training", "Quiz", "Grade",
           "BPError", "ParseError", "InputValueError", "DataError", "ShapeError", "DomainError", "CheckError"]
API = frozenset(n for n in __all__ if not n.endswith("Error"))  # in bpcli.api, loaded on first use
__version__ = "0.1.0"


def __getattr__(name: str):
    """`bpcli.grad` and `from bpcli import grad`: the API, imported the first time it is asked for."""
    if name in API:
        return getattr(importlib.import_module("bpcli.api"), name)
    raise AttributeError(f"module 'bpcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})


# `train` names two things: the library's function (bpcli.api.train) and the subpackage
# bpcli/train/ (the loop, the models, the optimisers), whose first import binds its name on this
# package. So that both work whatever is imported first (`from bpcli import train;
# train("linear", "data.csv")` as well as `import bpcli.train.loop as loop`), the name is the
# subpackage, made callable as the function. Renaming the subpackage would end this.
class _Train(types.ModuleType):
    """The subpackage bpcli.train; calling it calls bpcli.api.train."""

    def __call__(self, *args, **kwargs):
        return __getattr__("train")(*args, **kwargs)

    @property
    def __signature__(self):  # help(), inspect and Jupyter show the function's signature
        import inspect

        return inspect.signature(__getattr__("train"))


class _Package(types.ModuleType):
    @property
    def train(self):
        importlib.import_module("bpcli.api")  # which imports the subpackage: the setter below runs
        return self.__dict__["train"]

    @train.setter
    def train(self, subpackage) -> None:
        subpackage.__class__ = _Train
        self.__dict__["train"] = subpackage


sys.modules[__name__].__class__ = _Package
