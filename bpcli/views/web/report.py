"""bp train --report: one self-contained page about a training run: the loss curve (and the
accuracy when classifying), the fit over the data (a line for one feature, the decision
boundary for a two-feature classifier), the final parameters, and the model's graph at one
data point (the page of bp view, in a frame)."""

from __future__ import annotations

import re

from bpcli.training.inference import predict_rows
from bpcli.training.nets import FEATURES
from bpcli.views.documents import grad_document, json_number, json_value
from bpcli.views.health import report_health
from bpcli.views.notes import grad_notes
from bpcli.views.training import validation_fields
from bpcli.views.web import build, page, script_json, view_data

MAX_POINTS = 2_000  # data points drawn; a larger file is sampled evenly
MAX_ACCURACY_EPOCHS = 200  # epochs whose accuracy is computed, sampled evenly
MAX_ACCURACY_ROWS = 20_000
GRID = 60  # cells a side of the decision boundary's grid
CURVE = 200  # points along the fitted line


_NAMED = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)\s*(.*)")
_WHOLE = re.compile(r"[\w.]+|[A-Za-z_]\w*\((?:[^()]|\([^()]*\))*\)")  # a name, a number or one call


def model_title(text: str) -> str:
    """The model as one formula: a program's named lines put into its last one, so that
    `h1 = tanh(W1 @ x + b1)` then `w2 @ h1 + b2` reads `ŷ = w2 @ tanh(W1 @ x + b1) + b2`."""
    named: dict[str, str] = {}
    last = ""
    for line in re.split(r"[\n;]", text):
        if not line.strip():
            continue
        found = _NAMED.fullmatch(line)
        name, body = (found.group(1), found.group(2)) if found else (None, line.strip())
        for n, b in named.items():
            body = re.sub(rf"\b{re.escape(n)}\b", lambda _, b=b: b if _WHOLE.fullmatch(b) else f"({b})", body)
        if name:
            named[name] = body
        last = body
    return "ŷ = " + last


def _evenly(n: int, most: int) -> list[int]:
    """Up to `most` indices from 0 … n-1, first and last included."""
    if n <= most:
        return list(range(n))
    return sorted({round(k * (n - 1) / (most - 1)) for k in range(most)})


def is_classifier(table, spec) -> bool:
    """A target of 0s and 1s only, and a model whose ŷ stays in [0, 1] at the end: the run classifies."""
    import numpy as np

    if spec.head is not None:
        return spec.head == "sigmoid"
    y = table.data[spec.target]
    return bool(np.isin(y, (0.0, 1.0)).all()) and "sigmoid" in spec.text


def _accuracy(spec, table, epochs) -> list:
    """[epoch, fraction of rows classified right (ŷ ≥ 0.5 means 1)], on sampled epochs and rows."""
    import numpy as np

    rows = np.array(_evenly(table.rows, MAX_ACCURACY_ROWS))
    columns = {f: table.data[f][rows] for f in spec.features}
    y = table.data[spec.target][rows]
    out = []
    for i in _evenly(len(epochs), MAX_ACCURACY_EPOCHS):
        yhat = predict_rows(spec, epochs[i].params, columns)
        out.append([epochs[i].epoch, float(np.mean((yhat >= 0.5) == (y >= 0.5)))])
    return out


def _span(values) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * 0.05 or 1.0
    return lo - pad, hi + pad


def _fit(spec, table, params: dict, classifier: bool):
    """The fitted line for one feature; the probability grid for a two-feature classifier."""
    import numpy as np

    feats = spec.features
    if len(feats) == 1:
        lo, hi = _span(table.data[feats[0]])
        x = np.linspace(lo, hi, CURVE)
        return {"kind": "line", "x": [json_number(v) for v in x],
                "yhat": [json_number(v) for v in predict_rows(spec, params, {feats[0]: x})]}
    if len(feats) == 2 and classifier:
        (alo, ahi), (blo, bhi) = _span(table.data[feats[0]]), _span(table.data[feats[1]])
        a, b = np.meshgrid(np.linspace(alo, ahi, GRID), np.linspace(blo, bhi, GRID))
        p = predict_rows(spec, params, {feats[0]: a.ravel(), feats[1]: b.ravel()})
        return {"kind": "boundary", "x": [alo, ahi], "y": [blo, bhi], "size": GRID,
                "p": [json_number(v) for v in p]}
    return None


def _graph(spec, table, params: dict):
    """The page of bp view for one row's loss at the final parameters (the first row)."""
    import numpy as np

    point = {n: float(table.data[n][0]) for n in spec.features + [spec.target]}
    if spec.vector:
        point[FEATURES] = np.array([point[c] for c in spec.vector])
    point.update({p: v if isinstance(v, float) else np.array(v) for p, v in params.items()})
    point = {n: point[n] for n in spec.loss.inputs}
    result = spec.loss.grad(point)
    doc = grad_document(result, point, None, grad_notes(result))
    return page(view_data(spec.loss, doc), title="the loss of row 1")


def report_data(run, table, settings, held=None) -> dict:
    spec = run.model
    classifier = is_classifier(table, spec)
    rows = _evenly(table.rows, MAX_POINTS)
    return {
        "model": spec.text, "title": model_title(spec.text), "loss_formula": spec.loss_text,
        "features": spec.features, "target": spec.target,
        "source": table.source, "rows": table.rows, "classifier": classifier,
        "params": {p: json_value(v) for p, v in run.params.items()},
        "init": {p: json_value(settings.init[p]) if p in settings.init  # given: a number or an array
                 else json_number(spec.init.get(p, 1.0)) if not spec.shapes.get(p)
                 else f"{settings.init_scheme} {'×'.join(map(str, spec.shapes[p]))}" for p in spec.params},
        "settings": {"lr": settings.lr, "epochs": settings.epochs, "batch_size": settings.batch_size or "all",
                     "dtype": settings.dtype, "epochs_run": len(run.epochs), "interrupted": run.interrupted},
        "loss": [json_number(e.loss) for e in run.epochs],
        "accuracy": _accuracy(spec, table, run.epochs) if classifier and run.epochs else None,
        "points": {c: [json_number(table.data[c][r]) for r in rows] for c in spec.features + [spec.target]},
        "fit": _fit(spec, table, run.params, classifier) if run.epochs else None,
        "health": report_health(run, _evenly),
        **validation_fields(run, held),
    }


def report_page(run, table, settings, held=None) -> str:
    """The whole report, CSS and JS inline, the graph's page in a frame."""
    from html import escape

    data = report_data(run, table, settings, held)
    import numpy as np

    finite = all(np.isfinite(v).all() for v in run.params.values())
    graph = _graph(run.model, table, run.params) if finite else ""
    return build("report.html", "report.css", "report.js", f"bp train: {data['title']}"[:120],
                 {"data": script_json(data), "graph": escape(graph, quote=True)})
