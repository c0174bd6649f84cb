"""Gradient descent through bp's own graph: the lecture's PyTorch loop, for any CSV.

The loss of one row is a bp formula (model, then loss on top); its gradient with respect
to the parameters comes from the same reverse-mode engine as `bp grad`.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace

from bpcli.engine import entries, tensor
from bpcli.engine.graph import GraphBuilder
from bpcli.engine.numeric import FLOAT
from bpcli.engine.numtext import number_text
from bpcli.engine.ops import INPUT, OPS
from bpcli.errors import BPError, DataError, DomainError, IndexValueError, UsageError, setting
from bpcli.language.parser import parse
from bpcli.training import health, nets, optim
from bpcli.training.inference import arithmetic
from bpcli.training.nets import (
    FEATURES,
    INIT_SCHEMES,
    class_indices,
    class_labels,
    correct,
    is_binary,
    mlp_program,
    mlp_shapes,
)
from bpcli.training.optim import OPTIMIZERS

MODELS = {
    "linear": "w·x (the lecture's model)",
    "affine": "w·x + b",
    "logistic": "sigmoid(w·x + b), binary cross-entropy loss",
    "mlp": "an MLP over the features (its hidden layers and activation); sigmoid + BCE for a 0/1 target",
    "softmax": "multinomial logistic regression (with hidden layers: an MLP classifier), cross-entropy",
}
ROWS_AS_FLOATS = 65_536  # rows turned into Python floats at a time by the per-sample loop
LOSSES = {
    "mse": "(yhat - y)^2",
    # As torch.nn.BCELoss: each log is clamped at -100, so a saturated sigmoid stays finite.
    # The clamp is on log's argument (log(max(p, e^-100)) = max(log p, -100) exactly), so a
    # yhat of exactly 1 sends no 0·inf = nan back through log(1 - yhat).
    "bce": "-(y*log(max(yhat, exp(-100))) + (1 - y)*log(max(1 - yhat, exp(-100))))",
    # As torch.nn.CrossEntropyLoss on logits, y the class index.
    "ce": "-log_softmax(yhat)[y]",
}
# bce where the model ends in sigmoid(z): the loss on the logit z, as torch.nn.BCEWithLogitsLoss
# computes it: (1 - y)·z - log σ(z), and -log σ(z) = softplus(-z) = max(-z, 0) + log(1 + e^-|z|)
# as bp's softplus computes it. No clamp: right where the sigmoid saturates (a loss of 1e-18
# stays 1e-18), and its gradient (1 - y) - σ(-z) is σ(z) - y.
LOGIT_BCE = "(1 - y)*z + softplus(-z)"
LOGIT_NOTE = ("bce on the logit z of the model's last sigmoid: (1 - y)*z + softplus(-z), as "
              "torch.nn.BCEWithLogitsLoss (stable for any z)")
LOGIT = "logit (z)"  # the label of the logit node in the loss graph (not a name a formula can bind)
# A network trained as the lecture trains w (per-sample SGD at 0.01, 100 epochs) stays at chance
# on XOR; Adam on the whole batch for 500 epochs learns the README's XOR and moons for every seed
# tried (tests/test_train_tensor.py). Used for what is not given.
NETWORK_DEFAULTS = {"optimizer": "adam", "batch_size": None, "epochs": 500}
CHUNK = 2048  # rows a tensor step evaluates at once: a full batch is summed chunk by chunk, so the
# activations of a chunk (a few hundred floats a row for an MLP) stay below the data's own size


@dataclass
class NetOptions:
    """How a network model is shaped (bp train mlp/softmax, or a formula over `features`)."""

    hidden: list[int] | None = None  # None: the preset's default
    activation: str = "tanh"
    shapes: dict = field(default_factory=dict)  # --param NAME=SHAPE
    features: list[str] | None = None  # --features a,b: the vector's columns, in this order


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
    shapes: dict = field(default_factory=dict)  # tensor parameters: name -> shape
    head: str | None = None  # a classifier's output: "sigmoid" (0/1) or "logits" (classes)
    classes: list | None = None  # class labels, by index (softmax)
    vector: list = field(default_factory=list)  # columns of the row's vector `features`, if read
    init: dict = field(default_factory=dict)  # the model's own starting values (a preset's bias)
    binary: bool = False  # binary cross-entropy: the target must be 0 or 1
    logit: object = None  # bce on a sigmoid: the Formula of its argument z, which the loss reads
    network: bool = False  # mlp or softmax: the settings not given are NETWORK_DEFAULTS

    @property
    def point_names(self) -> list[str]:
        """What a prediction needs: the features, and the target where the model reads it (a
        model that is the error, as Mazur's network, trained with --loss yhat)."""
        return self.features + [self.target] if self.target in self.yhat.inputs else self.features

    @property
    def tensor(self) -> bool:
        """Whether training goes through the tensor pass (shaped parameters or the vector)."""
        return bool(self.shapes) or self.vector or not self.loss.elementwise

    @property
    def data(self) -> list[str]:
        """The loss graph's inputs that come from the data, one value per row."""
        params = set(self.params)
        return [n for n in self.loss.inputs if n not in params]


@dataclass
class Settings:
    lr: float = 0.01
    epochs: int = 100
    batch_size: int | None = 1  # None: the whole data set
    shuffle: bool = False
    seed: int = 0
    dtype: str = "float64"
    init: dict = field(default_factory=dict)  # numbers, and float64 arrays for tensor parameters
    optimizer: str = "sgd"
    init_scheme: str = "uniform"
    start_epoch: int = 0  # a resumed run's first epoch (the epochs before it were run already)
    unset: tuple = ()  # epochs, batch_size, optimizer left to the model's default (NETWORK_DEFAULTS)
    optimizer_state: dict | None = None  # a resumed run's optimizer state (optim's state())
    # A classic mistake run on purpose: "no-zero-grad" never zeroes the gradients between steps,
    # so each step uses the sum of every gradient so far (as a PyTorch loop without zero_grad()).
    mistake: str | None = None
    health: bool = False  # record training health (training/health.py) each epoch

    def __post_init__(self):
        if self.dtype not in ("float64", "float32"):
            raise UsageError(f"{setting('dtype')} must be float64 or float32, not {self.dtype!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"{setting('optimizer')} must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.mistake not in (None, "no-zero-grad"):
            raise UsageError(f"the training mistake is no-zero-grad, not {self.mistake!r}")
        if self.init_scheme not in INIT_SCHEMES:
            raise UsageError(f"{setting('init_scheme')} must be one of {', '.join(INIT_SCHEMES)}, "
                             f"not {self.init_scheme!r}")


@dataclass
class Epoch:
    epoch: int
    loss: float  # mean loss over the epoch's samples, each before its update
    last_loss: float  # loss of the epoch's last sample (what the lecture prints)
    params: dict  # floats, and numpy arrays for tensor parameters
    accuracy: float | None = None  # a classifier's share of rows right, each before its update
    # With the no-zero-grad mistake: the epoch's last step's own gradient, and the one it used
    # (the sum of every gradient since the start)
    fresh: dict | None = None
    used: dict | None = None
    health: dict | None = None  # with Settings.health: health.Recorder.epoch's figures
    val_loss: float | None = None  # mean loss over the held-out rows, after the epoch's updates
    val_accuracy: float | None = None


@dataclass
class Run:
    model: Model
    settings: Settings
    params: dict
    epochs: list[Epoch]
    interrupted: bool = False
    diverged: DomainError | None = None  # why training stopped early; params are the last finite ones
    optimizer_state: dict = field(default_factory=dict)  # at the end, for a run resumed from this one
    health: health.Recorder | None = None  # with Settings.health: the run's warnings


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


# How lectures and libraries name the prediction and the target: yhat and y in bp's losses.
LOSS_NAMES = {"y_hat": "yhat", "ŷ": "yhat", "y_pred": "yhat", "ypred": "yhat", "pred": "yhat", "prediction": "yhat",
              "output": "yhat", "out": "yhat", "y_true": "y", "ytrue": "y", "target": "y", "label": "y", "t": "y"}


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
                loss: str | None = None, net: NetOptions | None = None, target_values=None) -> Model:
    """Parse the model and its loss and join them into one graph: yhat, then the loss.

    `target_values` (the target column) lets the mlp and softmax presets choose their head."""
    check_model_name(model)
    net = net or NetOptions()
    head, classes, shapes, init = None, None, dict(net.shapes), {}
    if model in ("mlp", "softmax"):
        text, loss, head, classes, shapes, init = _network(model, columns, target, source, loss, net,
                                                           target_values)
    elif model in MODELS:
        text = model_formula(model, feature_columns(columns, target, source, net))
        loss = loss or ("bce" if model == "logistic" else "mse")
        head = "sigmoid" if loss == "bce" else None
    else:
        text = model
        loss = loss or "mse"
        head = "sigmoid" if loss == "bce" else None  # a model of 0/1 targets: it classifies (ŷ ≥ 1/2 is 1)
        if loss == "ce":  # scores of classes: the largest is the class (the target's labels, sorted)
            head = "logits"
            classes = class_labels(target_values) if target_values is not None else None
    yhat = parse(text)
    logit = _logit(yhat) if loss == "bce" else None
    loss_text = LOGIT_BCE if logit is not None else LOSSES.get(loss, loss)
    loss_formula = parse(loss_text)
    stray = [n for n in loss_formula.inputs if n not in ("yhat", "y", *(("z",) if logit is not None else ()))]
    if stray:
        named = []
        for n in stray:
            close = LOSS_NAMES.get(n.lower()) or next(iter(difflib.get_close_matches(n, ["yhat", "y"], n=1)), None)
            named.append(f"{n} (did you mean {close}?)" if close else n)
        raise UsageError(f"the loss may use only yhat and y, not {', '.join(named)}")
    known = set(columns)  # membership only (a file may have thousands of columns)
    reads_vector = FEATURES in yhat.inputs and FEATURES not in known
    vector = feature_columns(columns, target, source, net) if reads_vector else []
    data = [n for n in yhat.inputs if (n in known and n != target)]
    params = [n for n in yhat.inputs if n not in known and not (reads_vector and n == FEATURES)]
    in_vector = set(vector)
    used = vector + [c for c in data if c not in in_vector]
    if not used:
        raise DataError(f"the model {text} uses no column of {source} ({', '.join(columns)})")
    if not params:
        raise DataError(f"the model {text} has no parameter to train: every name is a column of {source}")
    unknown = [n for n in shapes if n not in params]
    if unknown:
        raise UsageError(f"{setting('params')} names no parameter of the model: {', '.join(unknown)}; "
                         f"its parameters: {', '.join(params)}")
    return Model(text, loss_text, _join(yhat, loss_formula, target, text, loss_text), yhat,
                 params, used, target, shapes, head, classes, vector, init, binary=loss == "bce", logit=logit,
                 network=model in ("mlp", "softmax"))


def _logit(yhat):
    """The Formula of z where the model is sigmoid(z) (its last operation), else None."""
    if yhat.kinds[yhat.output] != "sigmoid":
        return None
    g = GraphBuilder()
    ids = g.insert(yhat, {})
    return g.freeze(g.args[ids[yhat.output]][0], "")


def _vector(columns: list[str], target: str, net) -> list[str]:
    """--features in its order, else every column but the target."""
    return (net.features if net is not None and net.features else None) or [c for c in columns if c != target]


def feature_columns(columns: list[str], target: str, source: str, net=None) -> list[str]:
    """The feature columns (_vector), each a bp name."""
    features = _vector(columns, target, net)
    if not features:
        raise DataError(f"{source}: no feature column besides the target {target}")
    for c in features:
        if not c.isidentifier():
            raise DataError(f"{source}: the column name {c!r} is not a bp name; rename it "
                            "or write the model as a formula")
    return features


def _network(model: str, columns, target, source, loss, net: NetOptions, target_values):
    """The program, loss, head, classes, parameter shapes and starting values of a preset."""
    width = len(feature_columns(columns, target, source, net))
    labels = class_labels(target_values) if target_values is not None else None
    if model == "softmax":
        hidden = net.hidden or []
        classes, head = labels or [], "logits"
        loss = loss or "ce"
    else:
        hidden = [16, 16] if net.hidden is None else net.hidden
        text = labels is not None and any(isinstance(c, str) for c in labels)
        if text and len(labels) != 2:
            raise DataError(f"{source}: the target {target} holds {len(labels)} class labels "
                            f"({_some(labels)}); mlp's sigmoid output tells two apart",
                            hint=f"softmax {setting('hidden', '16,16')} is an MLP classifier for any number of classes")
        binary = text or (target_values is not None and is_binary(target_values))
        classes, head = (labels if binary else None), ("sigmoid" if binary else None)
        loss = loss or ("bce" if binary else "mse")
    program = mlp_program(hidden, net.activation, head or "linear")
    shapes = {**mlp_shapes(width, hidden, head or "linear", len(classes or [])), **net.shapes}
    init = {name: 0.0 for name, shape in shapes.items() if shape == ()}  # the output's bias
    return program, loss, head, classes, shapes, init


def _some(items: list, most: int = 6) -> str:
    """The first `most` items, and how many more (a model may have thousands of parameters)."""
    return ", ".join(map(str, items[:most])) + (f" and {len(items) - most:,} more" if len(items) > most else "")


def columns_used(model: str, columns: list[str], target: str, net=None) -> list[str]:
    """The columns a model reads, target last: a preset's features, or the columns a formula names."""
    vector = _vector(columns, target, net)
    names = None if model in MODELS else list(parse(model).inputs)
    known = set(columns)
    features = vector if names is None else [n for n in names if n in known and n != target] + (
        vector if FEATURES in names else [])
    return [c for c in dict.fromkeys(features) if c in known] + [target]


def check_binary(column, target: str, source: str) -> None:
    """Binary cross-entropy needs a target of 0s and 1s: anything else is named."""
    if is_binary(column):
        return
    import numpy as np

    found = np.unique(column)
    shown = ", ".join(number_text(v, 10) for v in found[:8].tolist()) + (", …" if len(found) > 8 else "")
    raise DataError(f"{source}: the target {target} must be 0 or 1 for binary cross-entropy "
                    f"(logistic); it has {len(found):,} distinct values: {shown}",
                    hint=f"pick a 0/1 target column with {setting('target')}, or use {setting('loss', 'mse')}")


def encode_classes(model: Model, table) -> None:
    """A classifier's target column (numbers or text) as class indices 0..C-1 in the table,
    once: the table keeps the labels it was encoded with."""
    if model.classes is None or table.classes is not None:
        return
    column = table.data[model.target]
    indices = class_indices(column, model.classes)
    if column.dtype == indices.dtype:
        column[...] = indices  # in place: the column may be a view of the table's matrix
    else:
        table.data[model.target] = indices
    table.classes = model.classes


def _join(yhat, loss, target: str, text: str, loss_text: str):
    g = GraphBuilder()
    out = g.insert(yhat, {})[yhat.output]
    g.bind("yhat", out)
    env = {"yhat": out, "y": g.input(target)}
    if "z" in loss.inputs:  # the logits form of bce: the loss reads the sigmoid's argument
        env["z"] = g.args[out][0]
        g.bind(LOGIT, env["z"])
    whole = g.insert(loss, env)[-1]
    g.bind("loss", whole)
    return g.freeze(whole, f"yhat = {text}\nloss = {loss_text}")


def for_model(settings: Settings, model: Model) -> Settings:
    """The settings with what was not given set for the model: a network's NETWORK_DEFAULTS
    (anything else keeps the lecture's)."""
    if not settings.unset:
        return settings
    network = {k: NETWORK_DEFAULTS[k] for k in settings.unset} if model.network else {}
    return replace(settings, **network, unset=())


# -- the loop ------------------------------------------------------------------------
def split_rows(table, fraction: float, seed: int):
    """A seeded hold-out (--val 0.2): the rows permuted by numpy's default_rng(seed), the last
    round(fraction · rows) of them held out; (training table, validation table), rows in file order."""
    import numpy as np  # deferred: loads numpy

    if not 0 < fraction < 1:
        raise UsageError(f"{setting('val')} takes a share of the rows between 0 and 1 (e.g. 0.2) or a CSV file, "
                         f"not {fraction:g}")
    held = round(fraction * table.rows)
    if held < 1 or held >= table.rows:
        raise DataError(f"{table.source}: {setting('val', fraction)} of {table.rows:,} rows leaves "
                        f"{'no row to validate on' if held < 1 else 'no row to train on'}")
    order = np.random.default_rng(seed).permutation(table.rows)
    return _rows_of(table, np.sort(order[:-held])), _rows_of(table, np.sort(order[-held:]), "held-out")


def _rows_of(table, rows, part: str | None = None):
    """A table of some of the rows (a copy of each column)."""
    source = f"{table.source} ({len(rows):,} {part} rows)" if part else table.source
    return replace(table, source=source, data={n: c[rows] for n, c in table.data.items()}, rows=len(rows),
                   matrix=None, used=[])


class Trainer:
    """Runs the epochs; `on_step` and `on_epoch` let a face show progress; `val` a table of
    held-out rows, evaluated after every epoch."""

    def __init__(self, model: Model, table, settings: Settings, val=None):
        settings = for_model(settings, model)
        self.model, self.settings = model, settings
        unknown = [n for n in settings.init if n not in model.params]
        if unknown:
            raise UsageError(f"{setting('init')} names no parameter: {', '.join(unknown)}; "
                             f"the parameters are {', '.join(model.params)}")
        _given_shapes(model, settings.init)
        self.f = model.loss
        self.rows, self.source = table.rows, table.source
        self.m, self.cast = arithmetic(settings.dtype)
        self.np = self.m.np
        self.columns = self._columns(table)
        if model.binary:
            check_binary(self.columns[model.target], model.target, table.source)
        self.val = self._held_out(val) if val is not None else None
        # The lecture's loop runs on plain floats: the fastest way through a small graph.
        self.per_sample = settings.batch_size == 1 and settings.dtype == "float64" and not model.tensor
        small = self.per_sample and self.rows <= ROWS_AS_FLOATS  # then floats once, not every epoch
        self.floats = list(self._rows_as_floats(range(self.rows), slice(None))) if small else None
        self.params = self._initial()
        self.lr = self.cast(settings.lr)
        self.optimizer = optim.make(settings.optimizer, self.lr)
        if settings.optimizer_state:
            self.optimizer.load(settings.optimizer_state, self._as_value)
        self.wrt = tuple(model.params)  # gradients for the parameters only, never the data
        self.data = tuple(model.data)
        # what a classifier is judged by: ŷ, or the logit z where the loss reads z (ŷ ≥ 1/2 is z ≥ 0)
        looked_for = LOGIT if model.logit is not None else "yhat"
        self.yhat = next(i for i, names in self.f.labels.items() if looked_for in names)
        self.head = "logit" if model.logit is not None else model.head
        self.held: dict | None = None  # no-zero-grad: the gradients summed since the first step
        self.own: dict | None = None  # no-zero-grad: the last step's own gradients
        self.first_steps: list[tuple[dict, dict]] = []  # no-zero-grad: (own, used) of the first two steps
        logit = self.yhat if model.logit is not None else None
        self.health = health.Recorder(self.f, self.data, self.np, logit) if settings.health else None

    def _columns(self, table) -> dict:
        """The data as arrays of the training dtype: columns, class indices, the feature matrix."""
        np, model = self.np, self.model
        names = list(dict.fromkeys(model.features + [model.target]))
        encode_classes(model, table)
        columns = {n: np.asarray(table.data[n], dtype=self.m.dtype) for n in names}  # float64: no copy
        if model.vector:
            columns[FEATURES] = np.asarray(table.stack(model.vector), dtype=self.m.dtype)
        return {n: c for n, c in columns.items() if n in self.f.inputs}

    def _held_out(self, val) -> dict:
        """The validation rows' columns, its class labels those training saw."""
        if self.model.classes is not None and val.classes is None:
            labels = set(self.model.classes)
            unknown = [v for v in class_labels(val.data[self.model.target]) if v not in labels]
            if unknown:
                raise DataError(f"{val.source}: the target {self.model.target} holds "
                                f"{_some(unknown)}, which the training rows never do")
        columns = self._columns(val)
        if self.model.binary:
            check_binary(columns[self.model.target], self.model.target, val.source)
        self.val_source = val.source
        return columns

    def validate(self) -> tuple[float, float | None]:
        """Mean loss and (a classifier's) accuracy over the held-out rows, with the parameters now."""
        np, f = self.np, self.f
        rows = len(next(iter(self.val.values())))
        total, right = 0.0, 0
        with np.errstate(all="ignore"):
            for start in range(0, rows, CHUNK):
                point = {n: col[start:start + CHUNK] for n, col in self.val.items()} | self.params
                if self.model.tensor:
                    try:
                        vals = tensor.evaluate(f, point, self.m, batched=self.data).values
                    except IndexValueError as e:
                        raise self._bad_index(e, self.val_source) from None
                else:
                    vals = f.forward(point, self.m)
                size = len(range(rows)[start:start + CHUNK])
                total += float(np.broadcast_to(vals[f.output], (size,)).sum(dtype="float64"))
                if self.model.head:
                    right += correct(vals[self.yhat], self.val[self.model.target][start:start + CHUNK],
                                     self.head)  # the logit z (≥ 0) where the loss reads z, else ŷ
        return total / rows, (right / rows if self.model.head else None)

    def _initial(self) -> dict:
        """Starting values: --init, else the scheme for tensors, else the model's own, else 1.0."""
        s, rng = self.settings, None
        params = {}
        for p in self.model.params:
            shape = self.model.shapes.get(p, ())
            entries.check(shape, f"the parameter {p}")  # before it is made
            if p in s.init:
                value = s.init[p]
                params[p] = self._as_value(value) if self.np.ndim(value) else (
                    self.np.full(shape, value, dtype=self.m.dtype) if shape else self.cast(value))
            elif shape:
                rng = rng or self.np.random.default_rng(s.seed)  # made once, and only for tensors
                params[p] = nets.initial(shape, s.init_scheme, rng, self.m.dtype)
            else:
                params[p] = self.cast(self.model.init.get(p, 1.0))
        return params

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
        run = Run(self.model, self.settings, self._export(), history, health=self.health)
        try:
            first = self.settings.start_epoch
            for epoch in range(first, first + self.settings.epochs):
                history.append(self._epoch(epoch, on_step))
                if self.val is not None:
                    history[-1].val_loss, history[-1].val_accuracy = self.validate()
                if on_epoch:
                    on_epoch(history[-1])
            run.params = self._export()
        except KeyboardInterrupt:
            run.interrupted = True
            run.params = self._export()
        except DomainError as e:
            run.diverged = e
            run.params = self._export()
        except IndexValueError as e:
            raise self._bad_index(e, self.source) from None
        run.optimizer_state = self.optimizer.state()
        return run

    def _bad_index(self, e: IndexValueError, source: str) -> BPError:
        """An index out of range said of the data column it came from, when it came from one."""
        f = self.f
        read = [f.args[e.node][slot] for slot in OPS[e.op].labels]
        column = next((f.names[j] for j in read if f.kinds[j] == INPUT and f.names[j] in self.columns), None)
        if column is None:
            return e
        return DataError(f"{source}: column {column} holds {number_text(e.value)}, which {e.op} reads as "
                         f"an index: whole numbers from 0 to {e.limit - 1}")

    def _as_value(self, v):
        """A number or an array (a list, from a document) in the training dtype."""
        return self.cast(v) if self.np.ndim(v) == 0 else self.np.asarray(v, dtype=self.m.dtype)

    def _epoch(self, epoch: int, on_step) -> Epoch:
        if self.per_sample:
            return self._sample_epoch(epoch, on_step)
        losses, right = [], 0
        step = self._tensor_step if self.model.tensor else self._batch_step
        last = None
        for batch in self.batches(epoch):
            loss, grads, point, hits = step(batch)
            grads = self._kept(grads)
            right += hits
            if on_step:
                on_step(point, grads)
            last = self._update(grads, loss, epoch)
            losses.append(loss)
        accuracy = right / self.rows if self.model.head else None
        return self._noted(Epoch(epoch, _mean_loss(losses), last, self._snapshot(), accuracy,
                                 health=self._health(epoch)))

    def _sample_epoch(self, epoch: int, on_step) -> Epoch:
        """The lecture's loop: one row a step, on plain floats, with nothing per step but the
        two passes and the update (it is the loop most learners run)."""
        f, wrt, output, yhat, head = self.f, self.wrt, self.f.output, self.yhat, self.head
        # .get: a loss without y (--loss yhat) may leave the target unread; only a classifier reads it
        target, step, isfinite = self.columns.get(self.model.target), self.optimizer.step, math.isfinite
        watch = self.health
        losses, right, mistake = [], 0, self.settings.mistake
        for row, values in self._rows(epoch):
            point = {**values, **self.params}
            vals = f.forward(point, FLOAT)
            grads = dict(zip(wrt, f.float_gradient(vals, wrt)))
            if mistake:
                grads = self._kept(grads)
            if head:
                right += correct(vals[yhat], target[row], head)
            if on_step:
                on_step(point, grads)
            new, loss = step(self.params, grads), vals[output]
            if not (isfinite(loss) and all(map(isfinite, new.values()))):
                raise self._diverged(new, loss, epoch)
            if watch:
                watch.activations(vals, batched=False)
                watch.update(self.params, grads, new)
            self.params = new
            losses.append(loss)
        accuracy = right / self.rows if head else None
        # Every loss and parameter here is a Python float: no conversions to make.
        return self._noted(Epoch(epoch, math.fsum(losses) / len(losses), losses[-1], dict(self.params), accuracy,
                                 health=self._health(epoch)))

    def _kept(self, grads: dict) -> dict:
        """The gradients a step uses: its own, or with the no-zero-grad mistake the sum of every
        step's so far (nothing zeroes them, so each backward pass adds to the last)."""
        if not self.settings.mistake:
            return grads
        own = grads
        self.held = grads if self.held is None else {p: self.held[p] + g for p, g in grads.items()}
        self.own = own
        if len(self.first_steps) < 2:
            self.first_steps.append((own, self.held))
        return self.held

    def _noted(self, e: Epoch) -> Epoch:
        """An epoch with, under the no-zero-grad mistake, its last step's own and used gradients."""
        if self.settings.mistake:
            e.fresh, e.used = self.own, self.held
        return e

    def _health(self, epoch: int) -> dict | None:
        return self.health.epoch(epoch) if self.health else None

    def _right(self, yhat, index) -> int:
        """How many rows of a step the classifier got right (0 for a model that does not classify)."""
        if not self.model.head:
            return 0
        return correct(yhat, self.columns[self.model.target][index], self.head)

    def _rows(self, epoch: int):
        """Each row of the epoch as (row, {column: float}), in its order; a block of rows becomes
        floats at a time, so memory stays that of the float64 columns."""
        order = self.order(epoch)
        if self.floats is not None:  # a small table: its rows were made floats once
            yield from self.floats if order is None else (self.floats[row] for row in order.tolist())
            return
        for start in range(0, self.rows, ROWS_AS_FLOATS):
            index = slice(start, start + ROWS_AS_FLOATS) if order is None else order[start:start + ROWS_AS_FLOATS]
            rows = range(start, start + ROWS_AS_FLOATS) if order is None else index.tolist()
            yield from self._rows_as_floats(rows, index)

    def _rows_as_floats(self, rows, index):
        """The rows `index` selects as (row, {column: float}), numbered by `rows`."""
        names, columns = zip(*((n, c[index].tolist()) for n, c in self.columns.items()))
        for row, values in zip(rows, zip(*columns)):
            yield row, dict(zip(names, values))

    def _batch_step(self, batch):
        """A batch as numpy arrays (or one row, in float32): mean loss, mean gradient, the
        point, how many rows a classifier got right."""
        np = self.np
        point = {n: col[batch] for n, col in self.columns.items()}
        point.update(self.params)
        with np.errstate(all="ignore"):
            vals = self.f.forward(point, self.m)
            adj = self.f.backward(vals, self.m, self.wrt)
            grads = {p: self.cast(np.mean(adj[self.f.inputs[p]])) for p in self.params}
        if self.health:
            self.health.activations(vals, batched=True)
        rows = len(range(self.rows)[batch]) if isinstance(batch, slice) else len(batch)
        loss = np.broadcast_to(vals[self.f.output], (rows,))  # a loss per row, the target read or not
        if len(loss) == 1:  # one row: report it as the lecture does, a number per value
            point = {n: v[0] for n, v in point.items() if n in self.columns} | self.params
            return self.cast(loss[0]), grads, point, self._right(vals[self.yhat], batch)
        return loss, grads, point, self._right(vals[self.yhat], batch)

    def _tensor_step(self, batch):
        """A batch through the tensor pass (vmap over its rows), a chunk of rows at a time so
        memory stays bounded: mean loss and mean gradient, as the whole batch gives them, the
        point, and how many rows a classifier got right."""
        np = self.np
        rows = range(self.rows)[batch] if isinstance(batch, slice) else batch
        loss = np.empty(len(rows), dtype=self.m.dtype)
        right, totals = 0, {}
        for start in range(0, len(rows), CHUNK):
            chunk = _part(rows, start, CHUNK)
            point = {n: col[chunk] for n, col in self.columns.items()}  # views for a slice
            point.update(self.params)
            watched = self.health.watch if self.health else []
            kept, grads = tensor.step(self.f, point, self.m, self.data, self.wrt, [self.f.output, self.yhat, *watched])
            if self.health:
                self.health.activations(kept, batched=True)
            loss[start:start + CHUNK] = kept[self.f.output]
            right += self._right(kept[self.yhat], chunk)
            for p, g in grads.items():
                totals[p] = g if p not in totals else totals[p] + g
        n = self.cast(len(rows))
        grads = {p: self._as_param(g / n) for p, g in totals.items()}
        index = slice(rows.start, rows.stop) if isinstance(rows, range) else rows
        point = {n: col[index] for n, col in self.columns.items()} | self.params  # views for a slice
        return loss, grads, point, right

    def _as_param(self, g):
        return self.cast(g) if self.np.ndim(g) == 0 else g.astype(self.m.dtype, copy=False)

    def _update(self, grads: dict, loss, epoch: int):
        """One optimizer step (the lecture's: params -= lr · grad); stop at the first number
        that is not finite."""
        new = self.optimizer.step(self.params, grads)
        last = float(loss[-1]) if hasattr(loss, "__len__") else float(loss)
        if not math.isfinite(last) or self._not_finite(new):
            raise self._diverged(new, last, epoch)
        if self.health:
            self.health.update(self.params, grads, new)
        self.params = new
        return last

    def _not_finite(self, params: dict) -> list:
        """The parameters holding a number that is not finite."""
        np = self.np
        return [p for p, v in params.items()
                if not (math.isfinite(v) if isinstance(v, float) else np.isfinite(v).all())]

    def _diverged(self, new: dict, last: float, epoch: int) -> DomainError:
        """The error that stops a run whose parameters or loss stopped being finite."""
        bad = self._not_finite(new)
        what = f"parameter {_some(bad)}" if bad else "loss"
        finite = _some([f"{p} = {_shown(v)}" for p, v in self.params.items()])
        return DomainError(
            f"training diverged in epoch {epoch}: the {what} became {'nan or inf'}; "
            f"last finite parameters: {finite}",
            hint=f"try a smaller learning rate, e.g. {setting('lr', self.settings.lr / 10)}")

    def _snapshot(self) -> dict:
        """The parameters now, for an epoch's record: floats, and the arrays themselves (no
        copy: each step makes new ones), so a long history costs little."""
        return {p: v if self.np.ndim(v) else float(v) for p, v in self.params.items()}

    def _export(self) -> dict:
        return {p: v if isinstance(v, float) else float(v) if self.np.ndim(v) == 0 else v.tolist()
                for p, v in self.params.items()}


def _given_shapes(model: Model, init: dict) -> None:
    """A parameter given an array by --init (or --resume) takes its shape from it where the
    model does not say one (a formula without --param); where it does, the shapes must agree."""
    import numpy as np  # deferred: loads numpy

    for p, value in init.items():
        given = np.shape(value)
        if p not in model.shapes:
            if given:
                model.shapes[p] = given
            continue
        wanted = tuple(model.shapes[p])
        if given and given != wanted:
            raise UsageError(f"the starting value of {p} ({setting('init')} or {setting('resume')}) has shape "
                             f"{_shape_words(given)}, "
                             f"but the parameter {p} has shape {_shape_words(wanted)}")


def _shape_words(shape: tuple) -> str:
    return "×".join(map(str, shape)) if shape else "() (a number)"


def _part(rows, start: int, size: int):
    """Rows start..start+size of a batch: a slice where the batch is a range (its arrays are
    then views, not copies), else those row numbers."""
    part = rows[start:start + size]
    return slice(part.start, part.stop) if isinstance(part, range) else part


def _shown(v) -> str:
    """A parameter in a message: a number in full, a tensor by its shape."""
    import numpy as np

    return repr(float(v)) if np.ndim(v) == 0 else f"a {'×'.join(map(str, np.shape(v)))} tensor"


def _mean_loss(losses: list) -> float:
    """Mean over every sample of the epoch; `losses` holds numbers or arrays of a batch."""
    if all(not hasattr(x, "__len__") for x in losses):
        return math.fsum(map(float, losses)) / len(losses)
    total = sum(float(x.sum(dtype="float64")) if hasattr(x, "__len__") else float(x) for x in losses)
    return total / sum(len(x) if hasattr(x, "__len__") else 1 for x in losses)
