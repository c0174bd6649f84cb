"""The model and the table it trains on: from a CSV (its header first, so that only the columns
the model uses are read), or from columns already in memory (a pandas DataFrame's, numpy
arrays). `bp train` and the library's `train` both start here."""

from __future__ import annotations

from bpcli.data.files import CSV, NotANumber, Table
from bpcli.errors import DataError, setting
from bpcli.language.parser import parse
from bpcli.training.loop import MODELS, NetOptions, build_model, choose_target, columns_used

CLASSIFIERS = ("softmax", "mlp")  # presets whose target may hold class labels as text


def from_csv(model: str, csv: CSV, target: str | None = None, loss: str | None = None,
             net: NetOptions | None = None, drop_missing: bool = False):
    """(the Model, the Table of the columns it uses), the CSV's rows read once."""
    goal = choose_target(csv.columns, target, csv.source)
    used = columns_used(model, csv.columns, goal, net)
    try:
        table = csv.table(used, drop_missing, labels=goal if model in CLASSIFIERS else None)
    except NotANumber as e:
        raise text_column(e, model, used, goal) from None
    return build_model(model, csv.columns, goal, csv.source, loss, net, table.data[goal]), table


def from_columns(model: str, columns: dict, source: str, target: str | None = None, loss: str | None = None,
                 net: NetOptions | None = None, drop_missing: bool = False):
    """(the Model, the Table) from named columns of equal length (anything numpy takes as
    a 1-d array); a classifier's target may hold labels as text. The arrays are copied:
    training never changes the caller's data."""
    import numpy as np  # deferred: loads numpy

    names = [str(n) for n in columns]
    goal = choose_target(names, target, source)
    used = columns_used(model, names, goal, net)
    data, rows = {}, None
    for name in used:
        raw = np.asarray(columns[name])
        if raw.ndim != 1:
            raise DataError(f"{source}: the column {name} has shape {raw.shape}; a column is 1-d")
        if rows is not None and len(raw) != rows:
            raise DataError(f"{source}: the column {name} has {len(raw):,} rows, the others {rows:,}")
        rows = len(raw)
        data[name] = _column(raw, name, source, labels=name == goal and model in CLASSIFIERS, model=model,
                             used=used, goal=goal)
    dropped = []
    if drop_missing:
        missing = np.zeros(rows, dtype=bool)
        for column in data.values():
            if column.dtype.kind == "f":
                missing |= np.isnan(column)
        dropped = (np.flatnonzero(missing) + 1).tolist()
        data = {n: c[~missing] for n, c in data.items()}
        rows -= len(dropped)
    if not rows:
        raise DataError(f"{source}: no rows" + (f" without a missing cell in {', '.join(used)}" if dropped else ""))
    table = Table(source, names, data, rows, dropped)
    return build_model(model, names, goal, source, loss, net, table.data[goal]), table


def _column(raw, name: str, source: str, labels: bool, model: str, used: list[str], goal: str):
    """A column as float64 (a copy), or as text for a classifier's labels."""
    import numpy as np  # deferred: loads numpy

    if raw.dtype.kind in "biuf":
        return np.array(raw, dtype=np.float64)
    try:
        return np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        if labels:
            return np.array([str(v) for v in raw.tolist()])
        text = next(str(v) for v in raw.tolist() if not _is_number(v))
        e = NotANumber(f"{source}: the column {name} holds {text!r}, not a number", name, text)
        raise text_column(e, model, used, goal) from None


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def text_column(e: NotANumber, model: str, used: list[str], goal: str) -> NotANumber:
    """A column of text where bp needs numbers: the error says which, and what to do instead."""
    column = e.column
    if column == goal:
        e.hint = (f"class labels such as {e.text!r} need a classifier: bp train softmax, "
                  "or mlp for two classes")
        return e
    rest = [c for c in used[:-1] if c != column]
    named = model not in MODELS and column in parse(model).inputs  # the formula reads it by name
    drop = (f"leave it out with {setting('features', ','.join(rest))}" if rest and not named
            else "write the model without it")
    e.hint = (f"the column {column} holds text, not numbers: {drop}, or make it the target with "
              f"{setting('target', column)}")
    return e
