"""Networks for bp train: parameter shapes, their initialisation, and the mlp and softmax models.

A network is an ordinary bp program over the row's `features` vector, so it trains, prints
and checks through the same engine as any formula.
"""

from __future__ import annotations

import math
import re

from bpcli.engine.values import normalise
from bpcli.errors import UsageError, setting

INIT_SCHEMES = {
    "uniform": "U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch.nn.Linear starts",
    "normal": "N(0, 1/fan_in)",
    "xavier": "U(-a, a), a = sqrt(6/(fan_in + fan_out)) (Glorot)",
    "zeros": "every entry 0",
}
ACTIVATIONS = ("tanh", "relu", "sigmoid", "none")
FEATURES = "features"  # the name of the row's feature vector in a model


def parse_shape(text: str, option: str) -> tuple:
    """`16x2` → (16, 2); `16` → (16,)."""
    if not re.fullmatch(r"[1-9][0-9]{0,6}(x[1-9][0-9]{0,6}){0,3}", text):
        raise UsageError(f"{option}: a shape is sizes joined by x, such as 16x2 or 16, not {text!r}")
    return tuple(int(n) for n in text.split("x"))


def parse_params(pairs: list[str]) -> dict:
    """--param W1=16x2 --param b1=16 → {"W1": (16, 2), "b1": (16,)}."""
    shapes = {}
    for pair in pairs:
        name, eq, shape = pair.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"{setting('params')} takes NAME=SHAPE, e.g. {setting('params', 'W1=16x2')}, not {pair!r}")
        shapes[normalise(name.strip())] = parse_shape(shape.strip(), f"{setting('params')} {name.strip()}")
    return shapes


def parse_hidden(text: str | None) -> list[int]:
    """--hidden 16,16 → [16, 16]; none or '' → []."""
    if not text:
        return []
    sizes = text.split(",")
    if not all(re.fullmatch(r"[1-9][0-9]{0,5}", s.strip()) for s in sizes):
        raise UsageError(f"{setting('hidden')} takes layer sizes such as 16,16, not {text!r}")
    return [int(s) for s in sizes]


def initial(shape: tuple, scheme: str, rng, dtype):
    """A parameter of this shape drawn by `scheme`; fan_in is the last axis, fan_out the first."""
    import numpy as np

    fan_in, fan_out = shape[-1], shape[0]
    if scheme == "zeros":
        return np.zeros(shape, dtype=dtype)
    if scheme == "normal":
        return rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=shape).astype(dtype)
    bound = 1.0 / math.sqrt(fan_in) if scheme == "uniform" else math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def mlp_program(hidden: list[int], activation: str, head: str) -> str:
    """The bp program of an MLP over `features`; `head` is 'sigmoid', 'linear' or 'logits'."""
    lines, previous = [], FEATURES
    for k, _ in enumerate(hidden, start=1):
        affine = f"W{k} @ {previous} + b{k}"
        lines.append(f"h{k} = {affine if activation == 'none' else f'{activation}({affine})'}")
        previous = f"h{k}"
    k = len(hidden) + 1
    out = f"W{k} @ {previous} + b{k}"  # W for every layer's weights, a vector at a single output
    if head == "sigmoid":
        out = f"sigmoid({out})"
    return "\n".join(lines + [out])


def mlp_shapes(width: int, hidden: list[int], head: str, classes: int = 0) -> dict:
    """Parameter shapes of mlp_program for `width` features (and `classes` logits)."""
    shapes, previous = {}, width
    for k, size in enumerate(hidden, start=1):
        shapes[f"W{k}"], shapes[f"b{k}"] = (size, previous), (size,)
        previous = size
    k = len(hidden) + 1
    if head == "logits":
        shapes[f"W{k}"], shapes[f"b{k}"] = (classes, previous), (classes,)
    else:
        shapes[f"W{k}"], shapes[f"b{k}"] = (previous,), ()
    return shapes


def class_labels(values) -> list:
    """The distinct class labels of a target column, sorted (numbers as ints where whole)."""
    import numpy as np

    return [label_of(v) for v in np.unique(values).tolist()]


def class_indices(values, labels: list, dtype="float64"):
    """Each row's class as its index 0..C-1 in `labels` (class_labels of the same column)."""
    import numpy as np

    return np.searchsorted(np.asarray(labels), values).astype(dtype)


def label_of(v):
    """A class label as bp shows it: a whole number as an int, text as itself."""
    return int(v) if isinstance(v, float) and v.is_integer() else v



def is_binary(values) -> bool:
    """Whether a target column holds only 0 and 1."""
    import numpy as np

    return bool(np.all((values == 0) | (values == 1)))


def correct(yhat, y, head: str) -> int:
    """How many rows are classified right: ŷ ≥ 1/2 for a sigmoid, z ≥ 0 for its logit z
    (head "logit"), the largest logit for logits."""
    import numpy as np

    if head == "logit":
        guess = np.asarray(yhat) >= 0
    else:
        guess = (np.asarray(yhat) >= 0.5) if head == "sigmoid" else np.argmax(yhat, axis=-1)
    return int(np.count_nonzero(guess == np.asarray(y)))
