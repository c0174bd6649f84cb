"""A trained model's predictions: at a point (--predict 4), for arrays of feature columns, and
for every row of a CSV (--predict FILE)."""

from __future__ import annotations

from bpcli.engine import tensor
from bpcli.engine.numeric import ArrayMath
from bpcli.engine.values import number, read_pairs
from bpcli.errors import UsageError, setting
from bpcli.training import nets
from bpcli.training.nets import FEATURES


def arithmetic(dtype: str):
    """The numeric namespace and the cast for a dtype (float32 only through numpy)."""
    m = ArrayMath(dtype)
    scalar = m.np.dtype(dtype).type
    return m, (float if dtype == "float64" else scalar)


def predict(model, params: dict, point: dict, dtype: str = "float64"):
    """ŷ at one point of the features, computed in the training dtype: a number, or for a
    softmax model the class with the largest logit."""
    missing = [n for n in model.point_names if n not in point]
    if missing:
        raise UsageError(f"{setting('predict')} needs a value for {', '.join(missing)}")
    values = {**{n: point[n] for n in model.point_names}, **params}
    if not model.tensor and dtype == "float64":
        values = {n: values[n] for n in model.yhat.inputs}
        return model.yhat.evaluate({n: float(v) for n, v in values.items()})
    yhat = _output(model, values, point, dtype)
    if model.head == "logits":
        return model.classes[int(yhat.argmax())]
    return float(yhat)


def _output(model, values: dict, point: dict, dtype: str):
    """The model's output at a point, as an array (a softmax model's: its logits)."""
    m, _ = arithmetic(dtype)
    if model.vector:
        values[FEATURES] = [point[c] for c in model.vector]
    values = {n: m.np.asarray(values[n], dtype=m.dtype) for n in model.yhat.inputs}
    with m.np.errstate(all="ignore"):
        return tensor.evaluate(model.yhat, values, m).values[model.yhat.output]


def prediction(model, params: dict, point: dict, dtype: str = "float64") -> dict:
    """ŷ at a point and, for a classifier with class labels, the class it names (a sigmoid's
    ŷ ≥ 1/2 is the second label, as with 0 and 1)."""
    yhat = predict(model, params, point, dtype)
    if model.head == "logits":  # softmax's ŷ is already the class; with each class's probability
        import numpy as np

        logits = _output(model, {**{n: point[n] for n in model.features}, **params}, point, dtype)
        shifted = np.exp(np.asarray(logits, dtype=np.float64) - np.max(logits))
        chances = shifted / shifted.sum()
        return {"yhat": yhat, "probabilities": {str(c): float(q) for c, q in zip(model.classes, chances)}}
    if model.classes is None:
        return {"yhat": yhat}
    return {"yhat": yhat, "class": model.classes[int(yhat >= 0.5)]}


def predict_rows(model, params: dict, columns: dict, dtype: str = "float64"):
    """ŷ for arrays of feature columns (an entry per row), with these parameters: a number per
    row, or a row of logits per row for a softmax model."""
    m, _ = arithmetic(dtype)
    np = m.np
    values = {n: np.asarray(c, dtype=m.dtype) for n, c in columns.items()}
    rows = len(next(iter(values.values())))
    if model.vector:
        values[FEATURES] = np.column_stack([values[c] for c in model.vector])
    values.update({p: np.asarray(v, dtype=m.dtype) for p, v in params.items()})
    values = {n: values[n] for n in model.yhat.inputs}
    with np.errstate(all="ignore"):
        if not model.tensor:
            return np.broadcast_to(model.yhat.evaluate(values, m), (rows,))
        data = [n for n in model.yhat.inputs if n not in model.params]
        return tensor.evaluate(model.yhat, values, m, batched=data).values[model.yhat.output]


def sheet_predictions(model, params: dict, table, target: str | None, dtype: str = "float64") -> dict:
    """A prediction for every row of a table: {"source", "rows", "yhat": [...]} and a classifier's
    "class" (sigmoid) or label (softmax, in "yhat"); with the target's column, "target" and "accuracy"."""
    import numpy as np  # deferred: loads numpy

    columns = {n: table.data[n] for n in model.features}
    out = predict_rows(model, params, columns, dtype)
    found: dict = {"source": table.source, "rows": table.rows}
    if model.head == "logits":
        guesses = np.argmax(out, axis=-1).tolist()
        found["yhat"] = [model.classes[k] if model.classes else k for k in guesses]
    else:
        found["yhat"] = [float(v) for v in np.asarray(out, dtype=np.float64).tolist()]
        if model.head == "sigmoid":
            found["class"] = [(model.classes or [0, 1])[int(v >= 0.5)] for v in found["yhat"]]
    if target is not None:
        truth = [nets.label_of(v) for v in table.data[target].tolist()]
        found["target"] = truth
        if model.head:
            said = found["yhat"] if model.head == "logits" else found["class"]
            found["accuracy"] = sum(str(a) == str(b) for a, b in zip(said, truth)) / max(len(truth), 1)
    return found


def parse_predict(text: str, features: list[str]) -> dict:
    """`4` for one feature, `0.5,0.1` for a row of several in order, `area=0.5,age=0.1` by name."""
    if "=" not in text:
        cells = text.split(",")
        if len(cells) != len(features):
            raise UsageError(f"{setting('predict', text)}: {len(cells)} number{'s' if len(cells) != 1 else ''} for "
                             f"{len(features)} feature{'s' if len(features) != 1 else ''} "
                             f"({', '.join(features)}); give them in that order or by name, e.g. "
                             + ",".join(f"{f}=VALUE" for f in features))
        return {f: number(c.strip(), f"{setting('predict')} {f}") for f, c in zip(features, cells)}
    point = read_pairs(text.split(","), setting("predict"), ",".join(f"{f}=VALUE" for f in features))
    unknown = [n for n in point if n not in features]
    if unknown:
        raise UsageError(f"{setting('predict')}: {', '.join(unknown)} is not a feature; "
                         f"the features are {', '.join(features)}")
    return point
