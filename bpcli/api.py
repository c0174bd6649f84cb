"""bp as a library, in the CLI's words: each function here is a command of `bp` (grad, diff,
hessian, jacobian, forward mode, train, view, export, quiz), returning Python objects instead
of printing. Errors are bp's own (`bpcli.BPError` subclasses carrying their data), as the CLI
raises them before it turns them into a message and an exit code.

    >>> from bpcli import grad
    >>> grad("(x*w-y)^2", {"x": 2, "w": 3, "y": 4}).gradient
    {'x': 12.0, 'w': 8.0, 'y': -4.0}

Importing this module registers how results show themselves (bpcli.views.notebook): the page
of `bp view` in Jupyter, the tables of `bp grad` as text.
"""

from __future__ import annotations

import functools
import io
import json
import math
from dataclasses import dataclass, field

from bpcli.check.symbolic import checked_hessian, derivatives, printed
from bpcli.check.verify import checked_grad, disagreements
from bpcli.data.files import MAX_DATA, Limit, open_csv
from bpcli.data.files import read_text as read_file
from bpcli.engine import entries
from bpcli.engine.entries import MAX_ENTRIES
from bpcli.engine.ops import shape_text
from bpcli.engine.tensor import Jacobian
from bpcli.engine.values import NO_INPUTS, normalise, require_scalars, tensor
from bpcli.errors import CheckError, InputValueError, ShapeError, UsageError
from bpcli.language.parser import located
from bpcli.language.parser import parse as _parse
from bpcli.teach import predict as predicting
from bpcli.teach import quiz as quizzes
from bpcli.teach.console import quiz_tables
from bpcli.training.inference import parse_predict, prediction
from bpcli.training.inference import predict as predict_one
from bpcli.training.loop import NetOptions, Run, Settings, Trainer, check_model_name
from bpcli.training.nets import ACTIVATIONS, parse_hidden, parse_params
from bpcli.training.tables import from_columns, from_csv
from bpcli.views import notebook
from bpcli.views.documents import dumps, grad_document
from bpcli.views.export import jax_script, loop_script, torch_script
from bpcli.views.notes import grad_notes
from bpcli.views.training import train_document
from bpcli.views.web import page, view_data

__all__ = ["grad", "parse", "diff", "hessian", "jacobian", "jvp", "train", "view", "export", "quiz",
           "Training", "Quiz", "Grade"]

MAX_SIZE = 2_000_000  # characters of a .bp file read as a formula: a few seconds of parsing


# Results show themselves through the notebook view (text at a prompt, the page in Jupyter).
notebook.register()


def _within_entries(function):
    """The call works within its `max_entries=` bound (bp's --max-entries): an array past it
    (a value, a node's result, a parameter, a file's member) is refused with an EntriesError
    naming it and its shape, before it is made (0: no bound)."""

    @functools.wraps(function)
    def bounded(*args, **kwargs):
        with entries.bounded(kwargs.get("max_entries", MAX_ENTRIES)):
            return function(*args, **kwargs)

    return bounded


# -- formulas -------------------------------------------------------------------------------
def parse(text: str, lean: bool = True):
    """A formula's text compiled once into a tape: call `.grad(values)` at many points.

    >>> f = parse("y_hat = x*w; loss = (y_hat - y)^2")
    >>> [f.grad({"x": 1, "w": w, "y": 2}).gradient["w"] for w in (0.5, 1.0, 2.0)]
    [-3.0, -2.0, 0.0]

    (`lean=False` parses with Lark alone, the reference the tests hold bp's own driver to.)
    """
    return _parse(text, lean)


def _formula(formula):
    """A formula given as text (parsed here) or already parsed."""
    return _parse(formula) if isinstance(formula, str) else formula


def _point(values: dict | None, named: dict) -> dict:
    """The values of a call (a dict, keyword arguments, or both: keywords win) as the CLI reads
    them: numbers as floats, nested lists as float64 arrays; anything else as given."""
    point = {**(values or {}), **named}
    for name, v in point.items():
        if isinstance(v, int) and not isinstance(v, bool):
            point[name] = float(v)
        elif isinstance(v, list):
            point[name] = tensor(v, name, InputValueError)
    return point


def _run(f, work):
    """work(), a shape error pointed at its operator in the formula's text."""
    try:
        return work()
    except ShapeError as e:
        if e.node is None:
            raise
        raise located(f.text, e) from None


@_within_entries
def grad(formula, values: dict | None = None, *, check: bool = False, check_timeout: float = 5.0,
         max_entries: int = MAX_ENTRIES, **named):
    """Forward and backward pass at a point (`bp grad`): a Result with .value, .gradient, .values, .adjoints.

    >>> r = grad("(x*w-y)^2", {"x": 2, "w": 3, "y": 4})
    >>> r.value, r.gradient
    (4.0, {'x': 12.0, 'w': 8.0, 'y': -4.0})
    >>> grad("sum(W @ x)", W=[[1, 2], [3, 4]], x=[1, -1]).gradient["x"]
    array([4., 6.])

    `check=True` cross-checks with SymPy and finite differences, as `bp grad` does, and
    raises CheckError where they truly disagree.
    """
    f = _formula(formula)
    point = _point(values, named)
    result, checked = _run(f, lambda: checked_grad(f, point, check, check_timeout))
    _fail_on_mismatch(checked)
    return result


def _fail_on_mismatch(checked) -> None:
    """CheckError where the cross-check found a real disagreement, as `bp grad` exits 3."""
    if checked is not None and not checked.ok:
        raise CheckError(disagreements(checked))


def diff(formula, wrt: str | list[str] | None = None, *, simplify: bool = True, latex: bool = False):
    """The derivative as a formula in bp's syntax (`bp diff`): text for one name, else a dict name → text.

    >>> diff("(x*w-y)^2", "w")
    '2*x*(w*x - y)'
    >>> diff("x*y")
    {'x': 'y', 'y': 'x'}
    >>> diff("x^3", "x", latex=True)
    '3 x^{2}'

    A name that is not an input has the derivative 0. Powers are written as a textbook does
    (`x^n*log(x)`); `simplify=False` keeps bp's raw form, the one it computes with (exact at 0).
    """
    f = _formula(formula)
    if not f.elementwise:
        require_scalars(f, {}, "bp diff")
    one = isinstance(wrt, str)
    names = [normalise(n) for n in ([wrt] if one else wrt or [])] or list(f.inputs)
    found = derivatives(f, names, textbook=simplify)
    texts = {}
    for n, d in found.items():
        p = printed(d, simplify, latex=latex)
        texts[n] = p.latex if latex else p.text
    return texts[names[0]] if one else texts


@_within_entries
def hessian(formula, values: dict | None = None, *, check: bool = False, check_timeout: float = 5.0,
            max_entries: int = MAX_ENTRIES, **named) -> dict:
    """Second derivatives at a point (`bp grad --hessian`): a dict row → column → number.

    >>> hessian("x^2*y", {"x": 3, "y": 2})
    {'x': {'x': 4.0, 'y': 6.0}, 'y': {'x': 6.0, 'y': 0.0}}

    `check=True` compares with SymPy's and raises CheckError where they disagree.
    """
    f = _formula(formula)
    point = _point(values, named)
    require_scalars(f, point, "hessian")
    f.check_values(point)
    h = checked_hessian(f, point, check_timeout if check else None)
    if h.status == "mismatch":
        raise CheckError("the Hessian disagrees with SymPy's second derivatives")
    return h.matrix


@_within_entries
def jacobian(formula, values: dict | None = None, *, limit: int = 100, max_entries: int = MAX_ENTRIES,
             **named) -> Jacobian:
    """∂output/∂input of a tensor or scalar output (`bp grad --jacobian`): .value, .matrices (input → array).

    >>> J = jacobian("softmax(W @ x)", W=[[1, 2], [3, 4]], x=[1, -1])
    >>> J.value, J.output_shape
    (array([0.5, 0.5]), (2,))
    >>> J.matrices["x"]
    array([[-0.5, -0.5],
           [ 0.5,  0.5]])

    One backward pass per output entry; refused (JacobianLimitError) past `limit` entries (0: no limit).
    """
    f = _formula(formula)
    point = _point(values, named)
    return _run(f, lambda: f.jacobian(point, limit=limit))


@_within_entries
def jvp(formula, values: dict, tangents: dict, *, max_entries: int = MAX_ENTRIES):
    """Forward mode (`bp grad --forward`): the output's value and its tangent along `tangents` (input → number).

    >>> jvp("(x*w-y)^2", {"x": 2, "w": 3, "y": 4}, {"w": 1})
    (4.0, 8.0)

    An input left out of `tangents` has tangent 0; with one input at 1 the tangent is that
    input's entry of the gradient.
    """
    f = _formula(formula)
    point, direction = _point(values, {}), _point(tangents, {})
    vals, tans = _run(f, lambda: f.jvp(point, direction))
    return vals[f.output], tans[f.output]


# -- the page and the scripts -----------------------------------------------------------------
@_within_entries
def view(formula, values: dict | None = None, *, check: bool = True, check_timeout: float = 5.0,
         layout: str = "auto", large: bool = False, reveal: str = "step", predict: bool = False,
         max_entries: int = MAX_ENTRIES, **named) -> str:
    """The page of `bp view` as an HTML string: the graph stepping through the forward and backward passes.

    >>> html = view("(x*w-y)^2", {"x": 2, "w": 3, "y": 4}, check=False)
    >>> html.startswith("<!DOCTYPE html>"), "(x*w-y)^2" in html
    (True, True)

    The page shows the cross-check's verdicts (`check=False`: none); `layout` is auto,
    graphviz or bp, as `bp view --layout`; `reveal` step or all and `predict`, as `bp view
    --reveal` and `--predict`.
    """
    if layout not in ("auto", "graphviz", "bp"):
        raise UsageError(f"layout must be auto, graphviz or bp, not {layout!r}")
    if reveal not in ("step", "all"):
        raise UsageError(f"reveal must be step or all, not {reveal!r}")
    f = _formula(formula)
    point = _point(values, named)
    f.check_values(point)
    result, checked = _run(f, lambda: checked_grad(f, point, check, check_timeout, values_checked=True))
    notes = list(f.source_notes) + ([NO_INPUTS] if not f.inputs else [])
    doc = grad_document(result, point, checked, grad_notes(result, notes, checked))
    data = predicting.embed(view_data(f, doc, layout), result, doc)
    if predict and "questions" not in data:
        raise UsageError(f"predict: {data['no_questions']}")
    return page(data, large=large, reveal=reveal, predict=predict)


@_within_entries
def export(formula, values: dict | None = None, *, to: str = "torch", max_numbers: int = 1_000_000,
           max_entries: int = MAX_ENTRIES, **named) -> str:
    """The script `bp export` writes (to="torch" or "jax"): it rebuilds the formula and checks bp's numbers.

    >>> script = export("(x*w-y)^2", {"x": 2, "w": 3, "y": 4}, to="torch")
    >>> script.splitlines()[0].strip('"')
    'bp export --torch: the formula below, checked against PyTorch at one point.'
    >>> script.splitlines()[8:11]  # the formula and its point, as comments: text, never code
    ['# (x*w-y)^2', '#', '# at x = 2.0, w = 3.0, y = 4.0']
    >>> "import torch" in script
    True
    """
    writers = {"torch": torch_script, "jax": jax_script}
    if to not in writers:
        raise UsageError(f"to must be torch or jax, not {to!r}")
    f = _formula(formula)
    point = _point(values, named)
    result = _run(f, lambda: f.grad(point))
    return writers[to](result, point, max_numbers)


# -- training -----------------------------------------------------------------------------------
@dataclass
class Training:
    """What `train` found: .params, .loss (the mean loss of each epoch), .accuracy (a classifier's, each epoch),
    .predictions (at the `predict` points); .predict(point) for more, .json() as `bp train --json` prints it."""

    params: dict
    loss: list[float]
    accuracy: list[float] | None
    predictions: list[dict]
    run: Run = field(repr=False)
    table: object = field(repr=False)
    start: dict = field(repr=False)  # the parameters as training began
    columns: dict = field(repr=False)  # the data as the trainer read it

    def __repr__(self) -> str:
        shown = ", ".join(f"{p} = {v!r}" if isinstance(v, float) else f"{p}: {shape_text(self.run.model.shapes[p])}"
                          for p, v in self.params.items())
        last = f", loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"<Training of {self.run.model.text!r}: {shown}{last} after {len(self.loss)} epochs>"

    @property
    def final_accuracy(self) -> float | None:
        return self.accuracy[-1] if self.accuracy else None

    def predict(self, point):
        """ŷ at a point: a number (one feature), numbers in the features' order, a dict, or `--predict`'s text."""
        return predict_one(self.run.model, self.params, _predict_point(point, self.run.model.point_names),
                           self.run.settings.dtype)

    def json(self) -> str:
        """The document `bp train --json` prints."""
        return dumps(train_document(self.run, self.table, self.predictions))

    def script(self) -> str:
        """The lecture's PyTorch loop for this training, as `bp export --loop` writes it."""
        model = self.run.model
        if model.tensor and self.predictions:
            raise UsageError("predictions are exported for models of number parameters; this one has tensors")
        points = [{k: v for k, v in p.items() if k in model.point_names} for p in self.predictions]
        shown = [{**p, "yhat": predict_one(model, self.params, p, self.run.settings.dtype)} for p in points]
        return loop_script(self.run, self.table, shown, self.start, self.columns)


def _predict_point(point, features: list[str]) -> dict:
    """A point to predict at, its numbers as floats (as `--predict` reads them)."""
    if isinstance(point, str):
        return parse_predict(point, features)
    if isinstance(point, dict):
        return {normalise(str(k)): float(v) for k, v in point.items()}
    if isinstance(point, (int, float)):
        point = [point]
    cells = list(point)
    if len(cells) != len(features):
        raise UsageError(f"predict: {len(cells)} numbers for {len(features)} features ({', '.join(features)})")
    return {f: float(v) for f, v in zip(features, cells)}


@_within_entries
def train(model: str, data, *, target: str | None = None, loss: str | None = None, lr: float = 0.01,
          epochs: int | None = None, batch_size: int | str | None = "default", shuffle: bool = False, seed: int = 0,
          dtype: str = "float64", init: dict | None = None, predict: list = (), optimizer: str | None = None,
          init_scheme: str = "uniform", params: dict | None = None, hidden=None, activation: str = "tanh",
          features: list[str] | None = None, drop_missing: bool = False, delimiter: str | None = None,
          max_data: int = MAX_DATA, max_entries: int = MAX_ENTRIES) -> Training:
    """Fit a model (linear, affine, logistic, softmax, mlp, a formula, a .bp file) by gradient descent (`bp train`).

    >>> t = train("linear", {"x": [1, 2, 3], "y": [2, 4, 6]}, lr=0.05, epochs=30, predict=[4])
    >>> round(t.params["w"], 6), len(t.loss), round(t.predictions[0]["yhat"], 4)
    (2.0, 30, 8.0)

    `data` is a CSV file's path, a pandas DataFrame, a dict of columns, or numpy arrays (X, y)
    (X's columns are named x, or x1, x2, … for several; y is the target). The options are
    `bp train`'s: batch_size (a number, or "all"/None for the whole data), init (name → value),
    params (name → shape, or "W1=16x2" texts), hidden ([16, 16] or "16,16"), features (the
    vector's columns). Training that diverges raises DomainError, as `bp train` does. Left out,
    epochs, batch_size and optimizer are `bp train`'s defaults: 100, 1 and sgd (the lecture's),
    or for mlp and softmax 500, the whole data and adam.
    """
    settings = _settings(lr, epochs, batch_size, shuffle, seed, dtype, init, optimizer, init_scheme)
    net = _net(params, hidden, activation, features)
    if model.endswith(".bp"):
        model = read_file(model, "formula file", "a bp formula", Limit(4 * MAX_SIZE))[0]
    check_model_name(model)
    if isinstance(data, str):
        spec, table = from_csv(model, open_csv(data, Limit(max_data), delimiter), target, loss, net, drop_missing)
    else:
        columns, source = _columns_of(data)
        spec, table = from_columns(model, columns, source, target, loss, net, drop_missing)
    points = [_predict_point(p, spec.point_names) for p in predict]
    trainer = Trainer(spec, table, settings)
    start = dict(trainer.params)  # each step makes new arrays: these stay as training began
    run = trainer.run()
    if run.interrupted:
        raise KeyboardInterrupt
    if run.diverged:
        raise run.diverged
    predictions = [{**p, **prediction(spec, run.params, p, settings.dtype)} for p in points]
    accuracy = [e.accuracy for e in run.epochs] if spec.head is not None else None
    return Training(run.params, [e.loss for e in run.epochs], accuracy, predictions, run, table, start,
                    trainer.columns)


def _start_value(v, name: str):
    """init's value: a number, or an array (a nested list or numpy array) for a tensor parameter."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    listed = v.tolist() if hasattr(v, "tolist") else v
    return float(listed) if isinstance(listed, (int, float)) else tensor(listed, f"init {name}", UsageError)


def _settings(lr, epochs, batch_size, shuffle, seed, dtype, init, optimizer, init_scheme) -> Settings:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise UsageError(f"lr must be a positive number, got {lr!r}")
    # Not given: the lecture's, or a network's own (bp train's NETWORK_DEFAULTS) once the model is known.
    unset = tuple(k for k, missing in (("epochs", epochs is None), ("batch_size", batch_size == "default"),
                                       ("optimizer", optimizer is None)) if missing)
    epochs = 100 if epochs is None else epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"epochs must be a whole number >= 1, not {epochs!r}")
    batch_size = 1 if batch_size == "default" else batch_size
    optimizer = "sgd" if optimizer is None else optimizer
    if batch_size == "all":
        batch_size = None
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise UsageError(f"batch_size must be a whole number >= 1 or 'all', not {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise UsageError(f"seed must be a whole number >= 0, not {seed!r}")
    start = {normalise(str(k)): _start_value(v, str(k)) for k, v in (init or {}).items()}
    return Settings(lr=float(lr), epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed, dtype=dtype,
                    init=start, optimizer=optimizer, init_scheme=init_scheme, unset=unset)


def _net(params, hidden, activation: str, features):
    if activation not in ACTIVATIONS:
        raise UsageError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
    if isinstance(params, dict):
        shapes = {normalise(str(k)): tuple(v) if isinstance(v, (list, tuple)) else (v,) for k, v in params.items()}
    else:
        shapes = parse_params(list(params or []))
    if hidden is not None and not isinstance(hidden, str):
        hidden = ",".join(str(n) for n in hidden)
    columns = [c.strip() for c in features.split(",")] if isinstance(features, str) else features
    return NetOptions(None if hidden is None else parse_hidden(hidden), activation, shapes,
                      None if columns is None else list(columns))


def _columns_of(data) -> tuple[dict, str]:
    """Named columns and what to call them in messages: a DataFrame's, a dict's, or (X, y)'s."""
    if type(data).__module__.split(".")[0] == "pandas":  # a DataFrame, pandas never imported here
        return {str(c): data[c].to_numpy() for c in data.columns}, "the DataFrame"
    if isinstance(data, dict):
        return dict(data), "the columns"
    if isinstance(data, (tuple, list)) and len(data) == 2:
        import numpy as np  # deferred: loads numpy

        X, y = np.asarray(data[0]), np.asarray(data[1])
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise UsageError(f"X must be 1-d or 2-d (a row per example), not of shape {X.shape}")
        names = ["x"] if X.shape[1] == 1 else [f"x{j}" for j in range(1, X.shape[1] + 1)]
        return {**{n: X[:, j] for j, n in enumerate(names)}, "y": y}, "the arrays (X, y)"
    raise UsageError("data must be a CSV file's path, a pandas DataFrame, a dict of columns, or arrays (X, y)")


# -- exercises ----------------------------------------------------------------------------------
@dataclass
class Grade:
    """The marks of a quiz's answers: .correct of .total, and per blank its .marks (each with a hint when wrong)."""

    correct: int
    total: int
    marks: list = field(repr=False)
    document: dict = field(repr=False)  # as `bp quiz --answers --json` prints it


class Quiz:
    """An exercise like the lecture's (`bp quiz`): fill in its blanks (values, local gradients, adjoints) to .grade."""

    def __init__(self, exercise):
        self.exercise = exercise

    @property
    def title(self) -> str:
        return self.exercise.title

    @property
    def formula(self) -> str:
        return self.exercise.formula.text

    @property
    def blanks(self) -> dict:
        """Each blank's id → what it asks for."""
        return {b.id: b.prompt for b in self.exercise.blanks}

    def key(self) -> dict:
        """Each blank's id → its answer."""
        return dict(quizzes.key_document(self.exercise)["answers"])

    def grade(self, answers: dict) -> Grade:
        """Mark answers (blank id → number), as `bp quiz --answers` does."""
        doc = json.dumps({"fingerprint": self.exercise.fingerprint, "answers": answers})
        marks = quizzes.grade(self.exercise, quizzes.read_answers(self.exercise, doc, "answers"))
        return Grade(sum(m.correct for m in marks), len(marks), marks,
                     quizzes.grade_document(self.exercise, marks))

    def document(self) -> dict:
        """The exercise as `bp quiz --json` prints it."""
        return quizzes.exercise_document(self.exercise)

    def __repr__(self) -> str:
        """The exercise's tables, as `bp quiz` prints them."""
        from rich.console import Console  # deferred: loads rich

        out = io.StringIO()
        console = Console(file=out, width=100, no_color=True, color_system=None, force_jupyter=False)
        for table in quiz_tables(self.exercise):
            console.print(table)
        return out.getvalue().rstrip("\n")


@_within_entries
def quiz(level: int = 1, seed: int = 1, *, formula=None, values: dict | None = None,
         lecture: int | None = None, max_entries: int = MAX_ENTRIES) -> Quiz:
    """An exercise to fill in and grade (`bp quiz`): generated (level 1–3, seed), the lecture's (1, 2), or a formula's.

    >>> q = quiz(lecture=1)
    >>> q.formula, list(q.blanks)
    ('y_hat = x*w; r = y_hat - y; loss = r^2', ['value:y_hat', 'value:r', 'value:loss', 'adjoint:w'])
    >>> g = q.grade({"value:y_hat": 2, "value:r": -2, "value:loss": 4, "adjoint:w": 8})
    >>> g.correct, g.total, g.marks[-1].hint.startswith("check the sign")
    (3, 4, True)
    """
    if lecture is not None:
        if formula is not None:
            raise UsageError("lecture and formula each choose the exercise: give one")
        return Quiz(quizzes.lecture(lecture))
    if level not in (1, 2, 3):
        raise UsageError(f"level must be 1, 2 or 3, not {level!r}")
    if formula is None:
        if values:
            raise UsageError("values go with formula")
        return Quiz(quizzes.generate(level, seed))
    f = _formula(formula)
    point = _point(values, {})
    f.check_values(point)
    return Quiz(quizzes.custom(f, point, level, seed))

