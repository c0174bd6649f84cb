"""bp check: your own derivation checked against bp's, exiting 1 when it is wrong (as a linter does)."""

from __future__ import annotations

import json

import typer

from bpcli.check import derivation
from bpcli.cli import inputs, options, output, program
from bpcli.cli.options import FileOpt, FormulaArg, JsonOpt, PrecisionOpt, ValuesOpt
from bpcli.engine import values
from bpcli.errors import UsageError
from bpcli.views import derivation as faces
from bpcli.views import documents

CHECK_EXIT = """Exit codes: 0 every answer is right (exact or approximate); 1 an answer is wrong; 2 bad input
or usage; 130 interrupted."""


@program.command('bp check "(x*w-y)^2" --wrt w "2*(x*w - y)*x" --x 2 --w 3 --y 4',
                 'bp check "(x*w-y)^2" --wrt w --grad-file dw.bp --x 2 --w 3 --y 4 --json',
                 'bp check "(x*w-y)^2" --table answers.json --x 2 --w 3 --y 4',
                 values=True, codes=CHECK_EXIT)
def check(
    ctx: typer.Context,
    formula: FormulaArg = None,
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    wrt: str | None = typer.Option(None, "--wrt", metavar="NAME",
                                   help="The input your derivative is with respect to (your answer is the "
                                        "word after the formula, or --grad-file)."),
    grad_file: str | None = typer.Option(None, "--grad-file", metavar="FILE",
                                         help="Read your derivative (a bp formula) from FILE."),
    answers: str | None = typer.Option(None, "--table", metavar="FILE",
                                       help="A JSON table of your answers: each node's adjoint and each edge's "
                                            "local derivative (schema bp.answers/1)."),
    points: int = options.limit("--points", derivation.POINTS, "Random points to compare at, besides the "
                                "given one.", low=0, high=10_000),
    seed: int = options.seed("Seed of the random points: the same seed, the same points."),
    as_json: JsonOpt = False,
    precision: PrecisionOpt = "10",
    max_size: int = options.MAX_SIZE_OPTION,
):
    """Check your derivative of FORMULA (or a table of your adjoints and local derivatives)
    against bp's, at the given point and at seeded random points."""

    options.precision(precision)
    words, answer = _answer(([formula] if formula is not None else []) + ctx.args, file)
    formula_text, given = inputs.split_formula(words[0] if words else None, words[1:], file)
    f = inputs.load_formula(formula_text, file, max_size)
    point, _ = inputs.gather_values(f, given, formula_text, values_file, options=inputs.long_options(ctx),
                                    command=ctx.info_name)
    if answers is not None:
        if wrt is not None or grad_file is not None or answer is not None:
            raise UsageError("--table checks a whole table: give no --wrt, --grad-file or answer with it")
        table = _read_answers(answers)
        report = derivation.check_table(f, point, table, seed, points)
    else:
        if wrt is None:
            raise UsageError("say which derivative your answer is with --wrt NAME (or check a table with --table)",
                             hint='bp check "(x*w-y)^2" --wrt w "2*(x*w - y)*x" --x 2 --w 3 --y 4')
        if grad_file is not None and answer is not None:
            raise UsageError("give your derivative after the formula or with --grad-file, not both")
        if grad_file is not None:
            answer = inputs.read_formula(grad_file, max_size)
        if answer is None:
            raise UsageError(f"no answer: write your ∂/∂{wrt} after the formula, or give --grad-file")
        report = derivation.check_derivative(f, point, values.normalise(wrt), answer, seed, points)
    if as_json:
        print(documents.dumps(faces.check_document(report)))
    else:
        output.print_all(faces.check_tables(report))
    if not report.ok:
        raise typer.Exit(1)


def _answer(words: list[str], file: str | None) -> tuple[list[str], str | None]:
    """The free words without the answer (the word after the formula, or the first with --file)
    and the answer; values (--x 2, x=2) are passed over."""
    free = []
    i = 0
    while i < len(words):
        token = words[i]
        if token.startswith("--") and len(token) > 2:
            following = words[i + 1] if i + 1 < len(words) else None
            takes = "=" not in token and following is not None and not following.startswith("--") \
                and not _is_value(following)
            i += 2 if takes else 1
            continue
        if not _is_value(token):
            free.append(i)
        i += 1
    at = free[0 if file is not None else 1] if len(free) > (0 if file is not None else 1) else None
    if at is None:
        return words, None
    return words[:at] + words[at + 1:], words[at]


def _is_value(token: str) -> bool:
    """name=2 or name=[…]: a value, as bp grad reads it (a program's `a = x*w` is not)."""
    found = values.pair(token)
    if not found:
        return False
    try:
        float(found[1])
    except ValueError:
        return found[1].startswith("[")
    return True


def _read_answers(path: str) -> dict:
    text = inputs.read_text(path, "answers file", "a JSON object of your answers")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--table {path}: not JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
