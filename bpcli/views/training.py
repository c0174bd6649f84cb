"""bp train's output: the run as a JSON document (and a record per epoch), as tables, and
its loss curve drawn in the terminal (plotext) or saved as a picture (matplotlib)."""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile

from bpcli import streams
from bpcli.engine.ops import shape_text
from bpcli.errors import MissingDependency, OutputError, UsageError, setting
from bpcli.training import advice, resume
from bpcli.training.loop import LOGIT_NOTE
from bpcli.views import health, settings
from bpcli.views.documents import csv_table, json_number, json_value
from bpcli.views.numbers import show_number, show_value
from bpcli.views.tables import add_row, shown, table

TRAIN_SCHEMA = resume.SCHEMA
PARAMETER_COLUMNS = 8  # parameters the epochs table follows; the Parameters table has them all


def sample_epochs(epochs: list, most: int = 12) -> list:
    """All epochs of a short run; for a long one the first, the last and an even sample."""
    if len(epochs) <= most:
        return list(epochs)
    step = (len(epochs) - 1) / (most - 1)
    picked = sorted({round(k * step) for k in range(most)})
    return [epochs[i] for i in picked]


# -- JSON ---------------------------------------------------------------------------
def train_document(run, table, predictions: list[dict], held=None, sheets=()) -> dict:
    s = run.settings
    return {**_document(run, table, predictions, s), **validation_fields(run, held),
            **({"file_predictions": [_json_sheet(x) for x in sheets]} if sheets else {})}


def validation_fields(run, held) -> dict:
    """--val: the held-out rows' loss (and accuracy) by epoch, and where they came from."""
    if held is None:
        return {}
    fields = {"validation": {"source": held.source, "rows": held.rows},
              "val_loss": [json_number(e.val_loss) for e in run.epochs]}
    if run.model.head:
        fields["val_accuracy"] = [e.val_accuracy for e in run.epochs]
        fields["final_val_accuracy"] = run.epochs[-1].val_accuracy if run.epochs else None
    return fields


def _json_sheet(sheet: dict) -> dict:
    return {k: ([_json_prediction(v) for v in x] if isinstance(x, list) else x) for k, x in sheet.items()}


def sheet_csv(sheet: dict) -> str:
    """--predict FILE's rows: row, yhat (and class, target) as CSV."""
    names = [k for k in ("yhat", "class", "target") if k in sheet]
    rows = [[k + 1, *(_csv_cell(sheet[n][k]) for n in names)] for k in range(sheet["rows"])]
    return csv_table(["row", *names], rows)


def _csv_cell(v):
    return repr(v) if isinstance(v, float) else v


def sheet_note(run, sheet: dict) -> str:
    """What stderr says above a --predict FILE's CSV: the run's end and the file's accuracy."""
    last = run.epochs[-1] if run.epochs else None
    said = f"bp: trained {len(run.epochs)} epochs" + (f", mean loss {show_number(last.loss)}" if last else "")
    if last is not None and last.val_loss is not None:
        said += f", validation loss {show_number(last.val_loss)}"
        if last.val_accuracy is not None:
            said += f", validation accuracy {last.val_accuracy:.1%}"
    said += f"; predictions for the {sheet['rows']:,} rows of {sheet['source']}"
    if "accuracy" in sheet:
        said += f" (accuracy {sheet['accuracy']:.1%})"
    return said


def _document(run, table, predictions: list[dict], s) -> dict:
    return {
        "schema": TRAIN_SCHEMA,
        "model": run.model.text,
        "loss_formula": run.model.loss_text,
        **({"loss_note": LOGIT_NOTE} if run.model.logit is not None else {}),
        "params": {p: json_value(v) for p, v in run.params.items()},
        "loss": [json_number(e.loss) for e in run.epochs],
        **_classifier_fields(run),
        "predictions": [{k: _json_prediction(v) for k, v in p.items()} for p in predictions],
        "settings": {
            "lr": s.lr, "epochs": s.epochs, "batch_size": s.batch_size or "all",
            "shuffle": s.shuffle, "seed": s.seed, "dtype": s.dtype,
            "init": {p: json_value(v) for p, v in s.init.items()},
            "optimizer": s.optimizer, "init_scheme": s.init_scheme, "start_epoch": s.start_epoch,
            "shapes": {p: list(shape) for p, shape in run.model.shapes.items()},
        },
        "data": {"source": table.source, "rows": table.rows, "columns": table.columns,
                 "features": run.model.features, "target": run.model.target},
        "epochs_run": len(run.epochs),
        "notes": [n for n in [advice.chance_note(run, table)] if n],
        "optimizer_state": _state_document(run.optimizer_state),
        "interrupted": run.interrupted,
        "diverged": run.diverged is not None,
        **({"health": health.health_document(run)} if run.health else {}),
    }


def _state_document(state: dict) -> dict:
    """The optimizer's state (optim's state()) as JSON: a resumed run (--resume) continues from it."""
    return {k: v if isinstance(v, int) else {p: json_value(x) for p, x in v.items()} for k, v in state.items()}


def _json_prediction(v):
    """A prediction's field: a label, a number, or each class's probability."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return {k: json_number(q) for k, q in v.items()}
    return json_number(v)


def _classifier_fields(run) -> dict:
    """A classifier's accuracy by epoch and at the end, and its classes."""
    if run.model.head is None:
        return {}
    fields = {"accuracy": [e.accuracy for e in run.epochs],
              "final_accuracy": run.epochs[-1].accuracy if run.epochs else None}
    if run.model.classes is not None:
        fields["classes"] = run.model.classes
    return fields


def epoch_record(epoch) -> dict:
    record = {"type": "epoch", "epoch": epoch.epoch, "loss": json_number(epoch.loss),
              "params": {p: json_value(v) for p, v in epoch.params.items()}}
    if epoch.accuracy is not None:
        record["accuracy"] = epoch.accuracy
    if epoch.health is not None:
        record["health"] = epoch.health
    if epoch.val_loss is not None:
        record["val_loss"] = json_number(epoch.val_loss)
        if epoch.val_accuracy is not None:
            record["val_accuracy"] = epoch.val_accuracy
    return record


def train_notes(run) -> list[str]:
    """What the tables' reader should know about the run: how the loss is computed."""
    return [f"the loss is {LOGIT_NOTE}"] if run.model.logit is not None else []


# -- tables -------------------------------------------------------------------------
def train_tables(run, predictions: list[dict]) -> list:
    scalars = [p for p in run.model.params if p not in run.model.shapes]  # tensors: final table only
    params = scalars[:PARAMETER_COLUMNS]
    scores = ["accuracy"] if run.model.head else []
    held = bool(run.epochs) and run.epochs[-1].val_loss is not None
    if held:  # --val: the held-out rows' figures beside the training rows'
        scores += ["val loss"] + (["val accuracy"] if run.model.head else [])
        params = params[:PARAMETER_COLUMNS - 3]
    more = f" (the first {len(params)} of {len(scalars):,} parameters)" if len(params) < len(scalars) else ""
    epochs = table(f"Training: {len(run.epochs)} epochs{more}", "epoch", "mean loss", *scores, *params,
                   numeric_columns=("epoch", "mean loss", *scores, *params))
    for e in sample_epochs(run.epochs):
        accuracy = [f"{e.accuracy:.1%}"] if run.model.head else []
        if held:
            accuracy += [show_number(e.val_loss)] + ([f"{e.val_accuracy:.1%}"] if run.model.head else [])
        add_row(epochs, str(e.epoch), show_number(e.loss), *accuracy, *(show_number(e.params[p]) for p in params))
    final = table("Parameters", "parameter", "shape", "value")
    for p in shown(final, list(run.model.params), 200, f"{setting('json')} has them all"):
        add_row(final, p, shape_text(run.model.shapes.get(p, ())), show_value(run.params[p]))
    out = [epochs, final]
    if run.model.classes is not None:
        classes = table("Classes (sorted)", "index", "label", numeric_columns=("index",))
        for k, label in enumerate(run.model.classes):
            add_row(classes, str(k), str(label))
        out.append(classes)
    if predictions:
        features = run.model.point_names  # the target too where the model reads it
        named = ["class"] if any("class" in p for p in predictions) else []
        chances = [f"P({c})" for c in run.model.classes] if any("probabilities" in p for p in predictions) else []
        pred = table("Predictions", *features, "yhat", *named, *chances,
                     numeric_columns=(*features, "yhat", *chances))
        for p in predictions:
            add_row(pred, *(show_number(p[f]) for f in features), _shown_label(p["yhat"]),
                    *(_shown_label(p["class"]) for _ in named),
                    *(f"{100 * q:.4g}%" for q in p.get("probabilities", {}).values()))
        out.append(pred)
    return out + (health.health_tables(run, sample_epochs) if run.health else [])


def _shown_label(v) -> str:
    """A prediction: a number for people, or a class label as it is written in the data."""
    return v if isinstance(v, str) else str(v) if isinstance(v, int) else show_number(v)


# -- the loss curve -------------------------------------------------------------------
def loss_curve(losses: list[float], width: int, colour: bool) -> str:
    """The loss curve drawn in the terminal (log scale) with plotext."""
    import plotext as plt

    points = [(i, math.log10(v)) for i, v in enumerate(losses) if v > 0 and math.isfinite(v)]
    if len(points) < 2 or settings.current().ascii:  # plotext draws with box characters
        return ""
    plt.clear_figure()
    if not colour:
        plt.plot([p[0] for p in points], [p[1] for p in points])
    plt.plotsize(min(width, 100), 15)
    plt.title("log10(mean loss) by epoch")
    plt.theme("clear")  # the terminal's own background, light or dark
    if colour:
        plt.plot([p[0] for p in points], [p[1] for p in points], color="blue")
    text = plt.build()
    return text if colour else plt.uncolorize(text)


def check_plot_path(path: str) -> str:
    """The picture's format from the extension; the path is checked before any training."""
    kind = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if kind not in ("png", "svg"):
        raise UsageError(f"{setting('plot', path)}: the file must end in .png or .svg")
    try:
        streams.check_writable(path)
    except OutputError as e:
        raise OutputError(f"{setting('plot')}: {e.message}") from None
    return kind


def save_loss_plot(losses: list[float], path: str, title: str, val: list | None = None) -> None:
    """The loss curve as PNG or SVG, by the file's extension (matplotlib), written whole or not at all;
    `val` (--val) the held-out rows' loss by epoch, drawn beside it."""
    kind = check_plot_path(path)
    with _matplotlib() as plt:
        if plt is None:
            raise MissingDependency(f"{setting('plot')} needs matplotlib, which is not installed",
                                    hint="pip install 'backprop-cli[plot]'")
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(range(len(losses)), losses, label="training")
        if val:
            ax.plot(range(len(val)), val, label="validation")
            ax.legend()
        if all(v > 0 for v in losses + (val or [])):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean loss")
        ax.set_title(title)
        fig.tight_layout()
        data = io.BytesIO()
        fig.savefig(data, format=kind)
        plt.close(fig)
    try:
        streams.write_output(path, data.getvalue())  # looked up at the call: tests stand in for it
    except OutputError as e:
        raise OutputError(f"{setting('plot')}: {e.message}") from None


@contextlib.contextmanager
def _matplotlib():
    """matplotlib.pyplot (None if not installed), with its config and font cache in a temporary
    directory unless MPLCONFIGDIR names one: bp writes nothing under ~/.config or ~/.cache."""
    own = "MPLCONFIGDIR" not in os.environ
    with tempfile.TemporaryDirectory(prefix="bp-matplotlib-") if own else contextlib.nullcontext() as tmp:
        if own:
            os.environ["MPLCONFIGDIR"] = tmp
        try:
            try:
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
            except ImportError:
                plt = None
            yield plt
        finally:
            if own:
                del os.environ["MPLCONFIGDIR"]
