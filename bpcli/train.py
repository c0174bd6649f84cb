"""Gradient descent through bp's own graph: the lecture's PyTorch loop, for any CSV.

The loss of one row is a bp formula (model, then loss on top); its gradient with respect
to the parameters comes from the same reverse-mode engine as `bp grad`.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from .errors import DataError, DomainError, UsageError
from .graph import GraphBuilder
from .numeric import FLOAT
from .parser import parse

MODELS = {
    "linear": "w·x (the lecture's model)",
    "affine": "w·x + b",
    "logistic": "sigmoid(w·x + b), binary cross-entropy loss",
}
LOSSES = {
    "mse": "(yhat - y)^2",
    # As torch.nn.BCELoss: each log is clamped at -100, so a saturated sigmoid stays finite.
    "bce": "-(y*max(log(yhat), -100) + (1 - y)*max(log(1 - yhat), -100))",
}


@dataclass
class Model:
    """What is trained: the loss graph of one row and the names it reads."""

    text: str  # the model formula, yhat = …
    loss_text: str
    loss: object  # Formula of one row's loss
    yhat: object  # Formula of the prediction
    params: list[str]
    features: list[str]
    target: str


@dataclass
class Settings:
    lr: float = 0.01
    epochs: int = 100
    batch_size: int | None = 1  # None: the whole data set
    shuffle: bool = False
    seed: int = 0
    dtype: str = "float64"
    init: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.dtype not in ("float64", "float32"):
            raise UsageError(f"--dtype must be float64 or float32, not {self.dtype!r}")


@dataclass
class Epoch:
    epoch: int
    loss: float  # mean loss over the epoch's samples, each before its update
    last_loss: float  # loss of the epoch's last sample (what the lecture prints)
    params: dict


@dataclass
class Run:
    model: Model
    settings: Settings
    params: dict
    epochs: list[Epoch]
    interrupted: bool = False


# -- the model ---------------------------------------------------------------------
def model_formula(model: str, features: list[str]) -> str:
    """The bp formula of a named model over the feature columns."""
    if len(features) == 1:
        linear = f"w*{features[0]}"
    else:
        linear = " + ".join(f"w_{c}*{c}" for c in features)
    if model == "linear":
        return linear
    if model == "affine":
        return f"{linear} + b"
    return f"sigmoid({linear} + b)"


def choose_target(columns: list[str], target: str | None, source: str) -> str:
    if target is None:
        return "y" if "y" in columns else columns[-1]
    if target not in columns:
        close = difflib.get_close_matches(target, columns, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise DataError(f"{source}: no target column {target}{hint}; columns: {', '.join(columns)}")
    return target


def check_model_name(model: str) -> None:
    """A bare word that is no model is a typo, not a formula with one parameter."""
    word = model.strip()
    if word.isidentifier() and word not in MODELS:
        close = difflib.get_close_matches(word, list(MODELS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown model {word}{hint}; models: {', '.join(MODELS)}, or a bp formula")


def build_model(model: str, columns: list[str], target: str, source: str,
                loss: str | None = None) -> Model:
    """Parse the model and its loss and join them into one graph: yhat, then the loss."""
    check_model_name(model)
    if model in MODELS:
        features = [c for c in columns if c != target]
        if not features:
            raise DataError(f"{source}: no feature column besides the target {target}")
        for c in features:
            if not c.isidentifier():
                raise DataError(f"{source}: the column name {c!r} is not a bp name; rename it "
                                "or write the model as a formula")
        text = model_formula(model, features)
        loss = loss or ("bce" if model == "logistic" else "mse")
    else:
        text = model
        loss = loss or "mse"
    yhat = parse(text)
    loss_text = LOSSES.get(loss, loss)
    loss_formula = parse(loss_text)
    stray = [n for n in loss_formula.inputs if n not in ("yhat", "y")]
    if stray:
        raise UsageError(f"the loss may use only yhat and y, not {', '.join(stray)}")
    used = [n for n in yhat.inputs if n in columns and n != target]
    params = [n for n in yhat.inputs if n not in columns]
    if not used:
        raise DataError(f"the model {text} uses no column of {source} ({', '.join(columns)})")
    if not params:
        raise DataError(f"the model {text} has no parameter to train: every name is a column of {source}")
    return Model(text, loss_text, _join(yhat, loss_formula, target, text, loss_text), yhat,
                 params, used, target)


def _join(yhat, loss, target: str, text: str, loss_text: str):
    g = GraphBuilder()
    out = g.insert(yhat, {})[-1]
    g.bind("yhat", out)
    whole = g.insert(loss, {"yhat": out, "y": g.input(target)})[-1]
    g.bind("loss", whole)
    return g.freeze(whole, f"yhat = {text}\nloss = {loss_text}")


# -- the loop ------------------------------------------------------------------------
class Trainer:
    """Runs the epochs; `on_step` and `on_epoch` let a face show progress."""

    def __init__(self, model: Model, table, settings: Settings):
        self.model, self.settings = model, settings
        unknown = [n for n in settings.init if n not in model.params]
        if unknown:
            raise UsageError(f"--init names no parameter: {', '.join(unknown)}; "
                             f"the parameters are {', '.join(model.params)}")
        self.f = model.loss
        self.rows = table.rows
        self.m, self.cast = _arithmetic(settings.dtype)
        self.np = self.m.np
        names = model.features + [model.target]
        self.columns = {n: self.np.ascontiguousarray(table.data[n], dtype=self.m.dtype) for n in names}
        # The lecture's loop runs on plain floats: the fastest way through a small graph.
        self.per_sample = settings.batch_size == 1 and settings.dtype == "float64"
        self.lists = {n: c.tolist() for n, c in self.columns.items()} if self.per_sample else {}
        self.params = {p: self.cast(settings.init.get(p, 1.0)) for p in model.params}
        self.lr = self.cast(settings.lr)
        self.wrt = tuple(model.params)  # gradients for the parameters only, never the data

    def order(self, epoch: int):
        """Row order of an epoch: file order, or a permutation from numpy's default_rng(seed + epoch)."""
        if not self.settings.shuffle:
            return None
        return self.np.random.default_rng(self.settings.seed + epoch).permutation(self.rows)

    def batches(self, epoch: int) -> list:
        """Index of each step's rows: slices (views, no copies) unless shuffled."""
        size = self.settings.batch_size or self.rows
        order = self.order(epoch)
        if order is None:
            return [slice(s, s + size) for s in range(0, self.rows, size)]
        return [order[s:s + size] for s in range(0, self.rows, size)]

    def run(self, on_step=None, on_epoch=None) -> Run:
        history: list[Epoch] = []
        run = Run(self.model, self.settings, self._export(), history)
        try:
            for epoch in range(self.settings.epochs):
                history.append(self._epoch(epoch, on_step))
                run.params = history[-1].params
                if on_epoch:
                    on_epoch(history[-1])
        except KeyboardInterrupt:
            run.interrupted = True
            run.params = self._export()
        return run

    def _epoch(self, epoch: int, on_step) -> Epoch:
        losses = []
        if self.per_sample:
            order = self.order(epoch)
            steps = ((self._sample_step, row) for row in (range(self.rows) if order is None else order.tolist()))
        else:
            steps = ((self._batch_step, batch) for batch in self.batches(epoch))
        last = None
        for step, index in steps:
            loss, grads, point = step(index)
            if on_step:
                on_step(point, grads)
            last = self._update(grads, loss, epoch)
            losses.append(loss)
        return Epoch(epoch, _mean_loss(losses), last, self._export())

    def _sample_step(self, row: int):
        """One row with plain floats: the lecture's loop, fast."""
        point = {n: col[row] for n, col in self.lists.items()}
        point.update(self.params)
        vals = self.f.forward(point, FLOAT)
        adj = self.f.backward(vals, FLOAT, self.wrt)
        grads = {p: adj[self.f.inputs[p]] for p in self.params}
        return vals[self.f.output], grads, point

    def _batch_step(self, batch):
        """A batch as numpy arrays (or one row, in float32): mean loss and mean gradient."""
        np = self.np
        point = {n: col[batch] for n, col in self.columns.items()}
        point.update(self.params)
        with np.errstate(all="ignore"):
            vals = self.f.forward(point, self.m)
            adj = self.f.backward(vals, self.m, self.wrt)
            grads = {p: self.cast(np.mean(adj[self.f.inputs[p]])) for p in self.params}
        loss = np.broadcast_to(vals[self.f.output], point[self.model.target].shape)
        if len(loss) == 1:  # one row: report it as the lecture does, a number per value
            point = {n: v[0] for n, v in point.items() if n in self.columns} | self.params
            return self.cast(loss[0]), grads, point
        return loss, grads, point

    def _update(self, grads: dict, loss, epoch: int):
        """params -= lr · grad; stop at the first number that is not finite."""
        new = {p: v - self.lr * grads[p] for p, v in self.params.items()}
        last = float(loss[-1]) if hasattr(loss, "__len__") else float(loss)
        bad = [p for p, v in new.items() if not math.isfinite(float(v))]
        if bad or not math.isfinite(last):
            what = f"parameter {', '.join(bad)}" if bad else "loss"
            finite = ", ".join(f"{p} = {float(v)!r}" for p, v in self.params.items())
            raise DomainError(
                f"training diverged in epoch {epoch}: the {what} became {'nan or inf'}; "
                f"last finite parameters: {finite}",
                hint=f"try a smaller learning rate, e.g. --lr {self.settings.lr / 10:g}")
        self.params = new
        return last

    def _export(self) -> dict:
        return {p: float(v) for p, v in self.params.items()}


def _mean_loss(losses: list) -> float:
    """Mean over every sample of the epoch; `losses` holds numbers or arrays of a batch."""
    if all(not hasattr(x, "__len__") for x in losses):
        return math.fsum(map(float, losses)) / len(losses)
    total = sum(float(x.sum(dtype="float64")) if hasattr(x, "__len__") else float(x) for x in losses)
    return total / sum(len(x) if hasattr(x, "__len__") else 1 for x in losses)


def _arithmetic(dtype: str):
    """The numeric namespace and the cast for a dtype (float32 only through numpy)."""
    from .numeric import ArrayMath

    m = ArrayMath(dtype)
    scalar = m.np.dtype(dtype).type
    return m, (float if dtype == "float64" else scalar)


def predict(model: Model, params: dict, point: dict, dtype: str = "float64") -> float:
    """ŷ at one point of the features, computed in the training dtype."""
    missing = [n for n in model.features if n not in point]
    if missing:
        raise UsageError(f"--predict needs a value for {', '.join(missing)}")
    values = {**{n: point[n] for n in model.features}, **params}
    values = {n: values[n] for n in model.yhat.inputs}
    if dtype == "float64":
        return model.yhat.evaluate({n: float(v) for n, v in values.items()})
    m, cast = _arithmetic(dtype)
    with m.np.errstate(all="ignore"):
        return float(model.yhat.evaluate({n: cast(v) for n, v in values.items()}, m))


def parse_predict(text: str, features: list[str]) -> dict:
    """`4` for one feature, `area=0.5,age=0.1` for several."""
    from .values import number, read_pairs

    if "=" not in text:
        if len(features) != 1:
            raise UsageError(f"--predict {text}: name the features, e.g. --predict "
                             + ",".join(f"{f}=VALUE" for f in features))
        return {features[0]: number(text, f"--predict {features[0]}")}
    point = read_pairs(text.split(","), "--predict", ",".join(f"{f}=VALUE" for f in features))
    unknown = [n for n in point if n not in features]
    if unknown:
        raise UsageError(f"--predict: {', '.join(unknown)} is not a feature; the features are {', '.join(features)}")
    return point
