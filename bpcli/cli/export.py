"""bp export: a standalone PyTorch or JAX script that rebuilds a formula and checks every number
bp gives; with --loop, the lecture's PyTorch training loop for a bp train setting."""

from __future__ import annotations

import sys

import typer

from bpcli.cli import inputs, options, output, program
from bpcli.cli.grad import tensor_aware
from bpcli.cli.options import LOOP, FileOpt, ValuesOpt
from bpcli.cli.train import net_options, settings_of, training_data
from bpcli.errors import UsageError
from bpcli.training import inference, loop
from bpcli.views import export as scripts


@program.command('bp export "(x*w-y)^2" --x 2 --w 3 --y 4 -o check.py',
                 'bp export "tanh(w*x + b)" --x 0.5 --w 2 --b 0 --jax',
                 'bp export "logsumexp(V @ tanh(W @ x))" --values net.json --jax',
                 "bp export --loop linear data.csv --lr 0.01 --epochs 100 --predict 4",
                 "bp export --loop mlp data.csv --hidden 8 --batch-size 16 -o loop.py", values=True)
def export(
    ctx: typer.Context,
    formula: str | None = typer.Argument(
        None, metavar="FORMULA", show_default=False,
        help="A formula and its values (as bp grad); with --loop: MODEL DATA (as bp train)."),
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    torch: bool = typer.Option(False, "--torch", help="A PyTorch script (the default)."),
    jax: bool = typer.Option(False, "--jax", help="A JAX script (jax.vjp per node)."),
    loop: bool = typer.Option(False, "--loop", help="The lecture's PyTorch training loop for a bp train "
                              "setting: MODEL DATA and the options below."),
    out: str | None = options.output("Write to FILE."),
    target: str | None = LOOP.target,
    loss: str | None = LOOP.loss,
    lr: float = LOOP.lr,
    epochs: int | None = LOOP.epochs,
    dtype: str = LOOP.dtype,
    init: list[str] = LOOP.init,
    predict: list[str] = LOOP.predict,
    batch_size: str | None = LOOP.batch_size,
    max_numbers: int = options.limit("--max-numbers", 1_000_000, "Refuse a tensor script that would embed more "
                                     "than N numbers (0: no limit)."),
    param: list[str] = LOOP.param,
    hidden: str | None = LOOP.hidden,
    activation: str = LOOP.activation,
    features: str | None = LOOP.features,
    init_scheme: str = LOOP.init_scheme,
    optimizer: str | None = LOOP.optimizer,
    shuffle: bool = LOOP.shuffle,
    max_entries: int = options.MAX_ENTRIES_OPTION,
    seed: int = options.seed("--loop: " + options.SEED_HELP),
):
    """A standalone PyTorch or JAX script that rebuilds FORMULA and checks every number bp gives."""
    if torch and jax:
        raise UsageError("choose one of --torch and --jax")
    if loop:
        if jax:
            raise UsageError("--loop writes the lecture's PyTorch loop; --jax exports single points")
        settings = settings_of(lr, epochs, batch_size, seed, dtype, init, init_scheme, shuffle=shuffle,
                               optimizer=optimizer)
        text = _export_loop(formula, ctx.args, file, target, loss, settings, predict,
                            net_options(param, hidden, activation, features))
    else:
        text = _export_point(ctx, formula, file, values_file, jax, max_numbers)
    if out is None or out == "-":
        sys.stdout.write(text)
        return
    output.write_file(out, text.encode())


def _export_point(ctx, formula, file, values_file, jax: bool, max_numbers: int) -> str:
    """The script that checks one point's forward and backward pass."""

    formula_text, given = inputs.split_formula(formula, ctx.args, file)
    f = inputs.load_formula(formula_text, file)
    point, _ = inputs.gather_values(f, given, formula_text, values_file, options=inputs.long_options(ctx),
                                    command=ctx.info_name)
    result = tensor_aware(f, lambda: f.grad(point, checked=True))
    return (scripts.jax_script if jax else scripts.torch_script)(result, point, max_numbers)


def _export_loop(model, extra, file, target, loss, settings, predict, net) -> str:

    words = ([model] if model is not None else []) + list(extra)
    if file is not None:
        model, words = inputs.read_formula(file), words
    elif words:
        model, words = words[0], words[1:]
        if model.endswith(".bp"):
            model = inputs.read_formula(model)
    if model is None or len(words) != 1:
        raise UsageError("--loop takes MODEL DATA, as bp train: e.g. bp export --loop linear data.csv")
    loop.check_model_name(model)
    spec, table = training_data(model, words[0], target, loss, net=net)
    if spec.tensor and predict:
        raise UsageError("--predict is exported for models of number parameters; this one has tensors")
    points = [inference.parse_predict(p, spec.features) for p in predict]
    trainer = loop.Trainer(spec, table, settings)
    start = dict(trainer.params)  # each step makes new arrays: these stay as training began
    run = trainer.run()
    predictions = [{**p, "yhat": inference.predict(spec, run.params, p, settings.dtype)} for p in points]
    return scripts.loop_script(run, table, predictions, start, trainer.columns)
