"""bp train: fit a model to a CSV by gradient descent through bp's own graph; the settings,
network options and training data it shares with bp export --loop."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys

import typer

from bpcli.cli import inputs, options, output, program
from bpcli.cli.exits import INTERRUPTED, say_error
from bpcli.cli.options import TRAIN, FileOpt, JsonOpt, PrecisionOpt
from bpcli.data import files
from bpcli.engine import numtext, values
from bpcli.errors import UsageError
from bpcli.training import advice, inference, loop, nets, resume, tables
from bpcli.views import documents, training
from bpcli.views import health as health_view
from bpcli.views.text import plain
from bpcli.views.web import report


@program.command("bp train linear data.csv --lr 0.01 --epochs 100 --predict 4",
                 'bp train "w*x + b" data.csv --init w=0.5 --batch-size all --json',
                 "bp train model.bp data.csv --trace",
                 "bp train mlp xor.csv --epochs 100 --json > run.json; bp train mlp xor.csv --resume run.json",
                 "bp train logistic pass.csv --loss bce --plot loss.png",
                 "bp train mlp xor.csv --hidden 4 --optimizer adam --lr 0.05 --epochs 400 --batch-size all",
                 "bp train softmax animals.csv --hidden 8 --optimizer adam --lr 0.05 --predict 5,5")
def train(
    model: str = typer.Argument(..., metavar="MODEL", show_default=False,
                                help="linear, affine, logistic, mlp (a network), softmax (a classifier), a bp "
                                     "formula, or a .bp file (with -f: the CSV)"),
    data: str | None = typer.Argument(None, metavar="DATA", show_default=False,
                                         help="CSV with a header row; - reads stdin"),
    file: FileOpt = None,
    target: str | None = TRAIN.target,
    loss: str | None = TRAIN.loss,
    lr: float = TRAIN.lr,
    epochs: int | None = TRAIN.epochs,
    batch_size: str | None = TRAIN.batch_size,
    shuffle: bool = TRAIN.shuffle,
    seed: int = options.seed(),
    dtype: str = TRAIN.dtype,
    init: list[str] = TRAIN.init,
    resume_from: str | None = typer.Option(None, "--resume", metavar="RUN.json",
                                           help="Start from a bp train --json document's parameters, epoch and "
                                                "optimizer state."),
    predict: list[str] = TRAIN.predict,
    trace: bool = typer.Option(False, "--trace", help="Print the lecture's grad:/progress:/predict lines."),
    as_json: JsonOpt = False,
    jsonl: bool = typer.Option(False, "--jsonl", help="Print a JSON line per epoch, then a summary line."),
    plot: str | None = typer.Option(None, "--plot", metavar="FILE", help="Write the loss curve as PNG or SVG."),
    report: str | None = typer.Option(None, "--report", metavar="FILE",
                                         help="Write an HTML report: loss curve, fit, parameters, graph."),
    val: str | None = typer.Option(None, "--val", metavar="SHARE|FILE",
                                   help="Hold out rows for validation: a share of them (0.2: split by --seed) "
                                        "or a CSV of their own; validation loss and accuracy after every epoch."),
    param: list[str] = TRAIN.param,
    init_scheme: str = TRAIN.init_scheme,
    hidden: str | None = TRAIN.hidden,
    activation: str = TRAIN.activation,
    optimizer: str | None = TRAIN.optimizer,
    features: str | None = TRAIN.features,
    precision: PrecisionOpt = "10",
    delimiter: str | None = options.delimiter(),
    drop_missing: bool = typer.Option(False, "--drop-missing",
                                      help="Leave out rows with an empty, NA or NaN cell in a column used."),
    max_data: str = options.max_data(),
    max_entries: int = options.MAX_ENTRIES_OPTION,
    mistake: str | None = options.mistake("no-zero-grad: train again without zeroing the gradients between "
                                          "steps, beside the right run (--trace: the wrong run's lines).", "NAME"),
    health: bool = typer.Option(False, "--health", help="Record each epoch's gradient norms, grad:data and "
                                "update:data ratios and saturated or dead activations; warn in words."),
):
    """Fit MODEL to DATA by gradient descent through bp's own graph."""

    options.precision(precision)
    model, data = _model_and_data(model, data, file)
    if sum([as_json, jsonl, trace]) > 1:
        raise UsageError("--json, --jsonl and --trace each print to stdout: choose one")
    _refuse_mistake(mistake, jsonl, report, plot)
    settings = settings_of(lr, epochs, batch_size, seed, dtype, init, init_scheme, shuffle=shuffle, optimizer=optimizer,
                           health=health)
    net = net_options(param, hidden, activation, features)
    loop.check_model_name(model)  # before reading the data: a typo should not wait for a big CSV
    if plot:
        training.check_plot_path(plot)
    spec, table = training_data(model, data, target, loss, max_data, delimiter, drop_missing, net)
    if resume_from is not None:
        settings = resumed(settings, resume_from, spec, max_data)
    settings = loop.for_model(settings, spec)
    sheets = [p for p in predict if predictions_file(p)]  # --predict FILE: a prediction per row
    points = [inference.parse_predict(p, spec.point_names) for p in predict if p not in sheets]
    held = None
    if val is not None:
        table, held = held_out(val, spec, table, max_data, delimiter, drop_missing, seed)
    trainer = loop.Trainer(spec, table, settings, held)
    show = TrainView(spec, settings, trace, jsonl, points)
    if mistake is not None:
        return _train_with_mistake(spec, table, settings, trainer, show, points, as_json)
    with show.progress():
        run = trainer.run(on_step=show.step if trace else None, on_epoch=show.epoch)
    predictions = [{**p, **inference.prediction(spec, run.params, p, settings.dtype)} for p in points]
    read = [sheet_predictions(spec, run, path, settings.dtype, delimiter, max_data) for path in sheets]
    show.results(run, table, predictions, as_json, held, read)
    for warning in health_view.warnings(run) if run.health else []:
        say_error(f"bp: warning: {warning}")
    if plot and not run.interrupted and not run.diverged:  # last: the parameters are printed whatever
        training.save_loss_plot([e.loss for e in run.epochs], plot, f"bp train {spec.text}",  # happens to it
                                [e.val_loss for e in run.epochs] if held is not None else None)
    if report:
        _write_report(report, run, table, settings, held)
    if run.diverged:
        raise run.diverged
    if run.interrupted:
        params = ", ".join(f"{p} = {v!r}" for p, v in run.params.items())
        say_error(f"bp: interrupted after {len(run.epochs)} epochs; parameters reached: {params}")
        raise typer.Exit(INTERRUPTED)


def _refuse_mistake(mistake: str | None, jsonl: bool, report: str | None, plot: str | None) -> None:
    """--mistake of bp train: no-zero-grad, shown in the tables, --json or --trace."""
    if mistake is None:
        return
    if mistake in ("recursive", "assign", "detach") or mistake.startswith("detach:"):
        raise UsageError(f"--mistake {mistake} is a mistake of one backward pass",
                         hint=f"run it on a formula: bp grad FORMULA … --mistake {mistake}")
    if mistake != "no-zero-grad":
        raise UsageError(f"--mistake of bp train must be no-zero-grad, not {mistake!r}",
                         hint="bp grad --mistake list names every mistake")
    given = [flag for flag, on in (("--jsonl", jsonl), ("--report", report), ("--plot", plot)) if on]
    if given:
        raise UsageError(f"--mistake does not go with {', '.join(given)}: it shows in the tables, --json or --trace")


def _train_with_mistake(spec, table, settings, trainer, show, points, as_json: bool) -> None:
    """The right run and the run that never zeroes its gradients; with --trace, the wrong run's
    lines (what the lecture's loop prints without w.grad.data.zero_())."""
    from bpcli.views import mistakes  # deferred: the mistakes' words, for --mistake only

    wrong = loop.Trainer(spec, table, dataclasses.replace(settings, mistake="no-zero-grad"))
    with show.progress():
        run = trainer.run()
        bad = wrong.run(on_step=show.step if show.trace else None, on_epoch=show.epoch if show.trace else None)
    compared = mistakes.TrainingComparison(run, bad, wrong.first_steps)
    if show.trace:
        predictions = [{**p, **inference.prediction(spec, bad.params, p, settings.dtype)} for p in points]
        return show.results(bad, table, predictions, False)
    predictions = [{**p, **inference.prediction(spec, run.params, p, settings.dtype)} for p in points]
    if as_json:
        doc = training.train_document(run, table, predictions)
        doc["mistake"] = compared.document()
        return print(documents.dumps(doc))
    show.results(run, table, predictions, False)
    output.print_all(compared.printed())
    if run.diverged:
        raise run.diverged
def predictions_file(text: str) -> bool:
    """Whether --predict names a CSV to predict every row of (else it is a point)."""
    return text.lower().endswith((".csv", ".tsv", ".txt")) or os.path.isfile(text)


def held_out(val: str, spec, table, max_data, delimiter, drop_missing: bool, seed: int):
    """(training table, validation table): --val SHARE splits the data by the seed, --val FILE
    reads the columns training reads from another CSV."""
    try:
        share = float(val)
    except ValueError:
        return table, _columns_of(val, spec, spec.features + [spec.target], "--val", max_data, delimiter,
                                  drop_missing)
    return loop.split_rows(table, share, seed)


def _columns_of(path: str, spec, needed: list[str], option: str, max_data, delimiter, drop_missing=False,
                optional: tuple = ()):
    """The named columns of a CSV (and those of `optional` it has) as a table, the target's class
    labels as text for a classifier."""
    csv = files.open_csv(path, inputs.data_limit(max_data, "--max-data"), options.delimiter_char(delimiter))
    needed = list(dict.fromkeys(needed))
    missing = [c for c in needed if c not in csv.columns]
    if missing:
        csv.lines.close()
        raise UsageError(f"{option} {path}: no column {', '.join(missing)}; the model reads {', '.join(needed)}")
    needed += [c for c in optional if c in csv.columns and c not in needed]
    labels = spec.target if spec.classes is not None and spec.target in needed else None
    return csv.table(needed, drop_missing, labels=labels)


def sheet_predictions(spec, run, path: str, dtype: str, delimiter, max_data) -> dict:
    """The trained model's prediction for every row of a CSV (its features; its target, if it has
    one, for the accuracy)."""
    needed = list(dict.fromkeys(spec.features + [c for c in spec.point_names if c != spec.target]))
    table = _columns_of(path, spec, needed, "--predict", max_data, delimiter, optional=(spec.target,))
    target = spec.target if spec.target in table.data and spec.target not in needed else None
    return inference.sheet_predictions(spec, run.params, table, target, dtype)


def _model_and_data(model: str, data: str | None, file: str | None) -> tuple[str, str]:
    """MODEL (a preset or formula, read from a .bp file or --file) and DATA."""
    if file is not None:
        if data is not None:
            raise UsageError("with --file, give only the data file")
        model, data = inputs.read_formula(file), model
    elif model.endswith(".bp"):
        model = inputs.read_formula(model)
    if data is None:
        raise UsageError("no data: try bp train linear data.csv")
    return model, data


def settings_of(lr: float, epochs: int | None, batch_size: str | None, seed: int, dtype: str, init: list[str],
                init_scheme: str, **more):
    """The training settings from bp train's options (also bp export --loop's)."""

    # Not given: the lecture's, or for a network its own (loop.NETWORK_DEFAULTS), once the model is known.
    unset = tuple(k for k, v in (("epochs", epochs), ("batch_size", batch_size),
                                 ("optimizer", more.get("optimizer", "sgd"))) if v is None)
    if more.get("optimizer"):  # --optimizer SGD, Adam: as the papers and torch.optim write them
        more["optimizer"] = more["optimizer"].lower()
    else:
        more["optimizer"] = "sgd"
    return loop.Settings(lr=lr, epochs=100 if epochs is None else epochs,
                         batch_size=1 if batch_size is None else options.batch_size(batch_size), seed=seed,
                         dtype=dtype, init=values.read_values(init, "--init", "w=0.5"), init_scheme=init_scheme,
                         unset=unset, **more)


def resumed(settings, path: str, spec, max_data: str = "1G"):
    """The settings of a run continued from a bp train --json document: its parameters (--init
    may not name them again), its next epoch and its optimizer's state."""
    text, source = files.read_text(path, "run file", "a bp train --json document",
                                   inputs.data_limit(max_data, "--max-data"))
    start = resume.from_document(files.last_document(text, source), source, spec.params)
    twice = [p for p in settings.init if p in start.params]
    if twice:
        raise UsageError(f"--init {', '.join(twice)}: --resume {path} gives every parameter's start already")
    state = start.optimizer_state
    if "optimizer" in settings.unset:  # not given: the run's own
        settings = dataclasses.replace(settings, optimizer=start.optimizer,
                                       unset=tuple(k for k in settings.unset if k != "optimizer"))
    if start.optimizer != settings.optimizer:
        say_error(f"bp: note: {source} was trained with {start.optimizer}; {settings.optimizer} starts afresh "
                  "from its parameters")
        state = None
    return dataclasses.replace(settings, init={**start.params, **settings.init}, start_epoch=start.next_epoch,
                               optimizer_state=state)


def net_options(param: list[str], hidden, activation: str, features):

    if activation not in nets.ACTIVATIONS:
        raise UsageError(f"--activation must be one of {', '.join(nets.ACTIVATIONS)}, not {activation!r}")
    columns = [c.strip() for c in features.split(",")] if features else None
    return loop.NetOptions(None if hidden is None else nets.parse_hidden(hidden), activation,
                           nets.parse_params(param), columns)


def training_data(model: str, data: str, target, loss, max_data: str = "1G", delimiter=None,
                  drop_missing: bool = False, net=None):
    """The model and the columns it uses, read from the CSV once (its header first)."""
    csv = files.open_csv(data, inputs.data_limit(max_data, "--max-data"), options.delimiter_char(delimiter))
    spec, table = tables.from_csv(model, csv, target, loss, net, drop_missing)
    if table.dropped:
        s = "s" if len(table.dropped) > 1 else ""
        say_error(f"bp: note: left out {len(table.dropped):,} row{s} with missing cells "
                  f"(row{s} {_row_list(table.dropped)}); {table.rows:,} remain")
    return spec, table


def _row_list(rows: list[int], most: int = 5) -> str:
    shown = ", ".join(map(str, rows[:most]))
    return shown + (f" and {len(rows) - most:,} more" if len(rows) > most else "")


def _write_report(path: str, run, table, settings, held=None) -> None:

    html = report.report_page(run, table, settings, held).encode()
    output.write_file(path, html, f"{len(html) / 1000:,.0f} kB")


class TrainView:
    """What the user sees while training runs (a progress bar, trace lines or JSON lines) and
    after (the tables and the loss curve, or a document)."""

    def __init__(self, spec, settings, trace: bool, jsonl: bool, points):

        self.spec, self.settings, self.trace, self.jsonl = spec, settings, trace, jsonl
        self.bar = None
        if trace:
            for p in points:
                yhat = inference.predict(spec, {n: settings.init.get(n, 1.0) for n in spec.params}, p, settings.dtype)
                print("predict (before training)", *trace_numbers(p, spec.point_names), repr(yhat))
            if len(spec.params) > 1:  # the lecture's one-weight lines need no key; several do
                print(plain("# grad: " + " ".join(spec.features + [spec.target]
                                                          + [f"∂loss/∂{p}" for p in spec.params])))

    def progress(self):
        from rich.console import Console  # deferred: loads Rich's console, which bp grad --json does not use

        console = Console(stderr=True)
        if not console.is_terminal:
            return contextlib.nullcontext()
        from rich.progress import (  # deferred: loads Rich
            BarColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text  # deferred: loads Rich

        class Speed(ProgressColumn):
            def render(self, task):
                return Text(speed_text(task.speed))

        progress = Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                            TextColumn("loss {task.fields[loss]}"), Speed(),
                            TimeRemainingColumn(), console=console, transient=True)
        self.bar = (progress, progress.add_task("train", total=self.settings.epochs, loss="–"))
        return progress

    def step(self, point, grads):

        spec = self.spec
        row = [point[n] if n in point else point[nets.FEATURES][..., spec.vector.index(n)]  # a vector's column
               for n in spec.features + [spec.target]]
        print("\tgrad:", *map(_traced, row), *(_traced(grads[p]) for p in spec.params))

    def epoch(self, e):
        if self.trace:
            print("progress:", e.epoch, repr(float(e.last_loss)))
        if self.jsonl:
            print(documents.dumps(training.epoch_record(e)), flush=True)
        if self.bar:
            progress, task = self.bar
            progress.update(task, advance=1, loss=numtext.number_text(e.loss, 6))

    def results(self, run, table, predictions: list, as_json: bool, held=None, sheets=()) -> None:
        """After training: the document, the summary line, the trace's last lines or the tables
        (a --predict FILE's rows as CSV in their place)."""
        if as_json:
            print(documents.dumps(training.train_document(run, table, predictions, held, sheets)))
        elif self.jsonl:
            print(documents.dumps({"type": "summary", **training.train_document(run, table, predictions, held,
                                                                                sheets)}))
        elif sheets and not run.diverged:
            for sheet in sheets:
                say_error(training.sheet_note(run, sheet))
                sys.stdout.write(training.sheet_csv(sheet))
        elif run.diverged:
            pass  # the error says where it stopped and what to try
        elif self.trace:
            print("params (after training):", ", ".join(f"{p} = {v!r}" for p, v in run.params.items()))
            for p in predictions:
                print("predict (after training)", *trace_numbers(p, self.spec.point_names), repr(p["yhat"]))
        else:
            console = output.stdout_console()
            output.print_all(training.train_tables(run, predictions), console=console)
            curve = training.loss_curve([e.loss for e in run.epochs], console.width, console.is_terminal
                                      and not console.no_color)
            if curve:
                console.print(curve, markup=False, highlight=False, soft_wrap=True)
            output.print_all([], training.train_notes(run), console=console)
            note = advice.chance_note(run, table)
            if note:  # last, where it is read: what to change
                say_error(f"bp: note: {note}")


def speed_text(speed: float | None) -> str:
    """The progress bar's speed, rounded: 1,199 epochs/s, 2.5 epochs/s (nothing before it is known)."""
    if speed is None:
        return ""
    return f"{speed:,.0f} epochs/s" if speed >= 10 else f"{speed:.2g} epochs/s"


def _traced(v) -> str:
    """A number of a trace line as the lecture prints it; a batch's rows or a tensor's entries
    as a list."""
    if isinstance(v, float):
        return repr(v)
    import numpy as np  # deferred: loads numpy

    a = np.asarray(v, dtype=np.float64)
    return repr(float(a.reshape(()))) if a.size == 1 else repr(a.tolist())


def trace_numbers(point: dict, features: list[str]) -> list[str]:
    """A point's features as the trace lines write them."""
    return [numtext.number_text(point[f]) for f in features]
