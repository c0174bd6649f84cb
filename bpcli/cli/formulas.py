"""The commands about formulas themselves: bp diff (derivatives as formulas), bp lint (the hazard
notes a formula can raise) and bp ops (every operation bp knows)."""

from __future__ import annotations

import difflib

import typer

from bpcli.check import lint as hazards
from bpcli.check import symbolic
from bpcli.cli import inputs, options, output, program
from bpcli.cli.exits import say_error
from bpcli.cli.options import FileOpt, FormulaArg, JsonOpt
from bpcli.engine import values
from bpcli.errors import LimitError
from bpcli.views import documents, lint_report, optable
from bpcli.views.text import plain

LINT_EXIT = """Exit codes: 0 no hazard notes (or --exit-zero); 1 hazard notes found; 2 bad input or usage;
130 interrupted."""


@program.command('bp diff "(x*w-y)^2" --wrt w', 'bp diff "sigmoid(w*x + b)" --json',
                 'bp diff "-sin(x)" --wrt x --latex')
def diff(
    formula: FormulaArg = None,
    file: FileOpt = None,
    wrt: list[str] = typer.Option([], "--wrt", metavar="NAME", help="Differentiate with respect to NAME "
                                  "(repeatable; default: every input)."),
    latex: bool = typer.Option(False, "--latex", help="Print LaTeX."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Tidy with SymPy, powers as a textbook "
                                  "writes them; or keep bp's raw form, the one it computes with (exact at 0)."),
    as_json: bool = options.json_flag("Print {input: formula} as JSON."),
):
    """Derivatives of FORMULA as formulas, from bp's own graph, in bp's syntax."""

    f = inputs.load_formula(formula, file)
    if not f.elementwise:
        values.require_scalars(f, {}, "bp diff")
    if not f.inputs and not wrt:
        say_error(f"bp: note: {inputs.NO_INPUTS}")
    names = [values.normalise(n) for n in wrt] or list(f.inputs)
    found = symbolic.derivatives(f, names, textbook=simplify)
    outputs = {n: symbolic.printed(d, simplify, latex=latex) for n, d in found.items()}
    texts = {n: p.latex if latex else p.text for n, p in outputs.items()}
    for note in symbolic.textbook_notes(f, names) if simplify else []:
        say_error(f"note: {note} (--no-simplify: the form bp computes with)")
    for n in dict.fromkeys(names):
        if n not in f.inputs:
            say_error(f"note: {_unused(f, n)}")
        if outputs[n].note:
            say_error(f"note: d/d{n}: {outputs[n].note}")
    if as_json:
        print(documents.dumps(texts))
    elif len(texts) == 1:
        print(next(iter(texts.values())))
    else:
        for n, t in texts.items():
            print(f"d/d{n}: {plain(t)}")


def _unused(f, name: str) -> str:
    close = difflib.get_close_matches(name, list(f.inputs), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    inputs = ", ".join(f.inputs) or "none"
    return f"{name} does not appear in the formula{hint}, so d/d{name} is 0; its inputs: {inputs}"


@program.command('bp lint "log(1 + exp(x))"', 'bp lint "exp(x) - 1" --range x=-1:1 --samples 1000 --seed 7 --json',
                 "bp lint model.bp --exit-zero", codes=LINT_EXIT)
def lint(
    formula: FormulaArg = None,
    file: FileOpt = None,
    samples: int = options.limit("--samples", 200, "Points to run the formula at.", low=1, high=1_000_000),
    seed: int = options.seed("Seed of the points: the same seed, the same notes."),
    ranges: list[str] = typer.Option([], "--range", metavar="NAME=LO:HI",
                                     help="Draw NAME uniformly from LO to HI (repeatable; default: ±1e-12 to ±1000, "
                                          "log-uniform)."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when there are notes."),
    as_json: JsonOpt = False,
    max_size: int = options.MAX_SIZE_OPTION,
):
    """The hazard notes FORMULA can raise over its inputs' typical ranges, without values:
    it runs at seeded random points and reports each note once, with how many points raised it."""

    f = inputs.load_formula(formula, file, max_size)
    try:
        report = hazards.lint(f, samples, seed, dict(hazards.parse_range(r) for r in ranges))
    except LimitError as e:
        raise LimitError(e.message, hint="lower --samples N") from None
    if as_json:
        print(documents.dumps(lint_report.lint_document(f, report)))
    else:
        output.print_all(lint_report.lint_tables(f, report))
    if report.findings and not exit_zero:
        raise typer.Exit(1)


@program.command("bp ops", "bp ops --json", name="ops", shield=False)
def ops_command(as_json: bool = options.json_flag("Print the op table as JSON.")):
    """Every operation bp knows, from the op table itself."""
    if as_json:
        print(documents.dumps(optable.ops_document()))
    else:
        output.stdout_console().print(optable.ops_table())
