"""bp quiz: an exercise like the lecture's (fill in values, local gradients and adjoints), asked
one blank at a time on a terminal, graded from a file, or written as a worksheet."""

from __future__ import annotations

import sys

import typer

from bpcli.cli import inputs, options, output, program
from bpcli.cli.exits import say_error
from bpcli.cli.options import ValuesOpt
from bpcli.engine import values
from bpcli.errors import UsageError
from bpcli.teach import quiz as q
from bpcli.teach import worksheet
from bpcli.teach.console import grade_text, quiz_tables
from bpcli.views import documents
from bpcli.views.text import plain

TRIES = 3  # wrong answers to a blank before bp shows its answer


@program.command("bp quiz --lecture 1", "bp quiz --level 2 --seed 7",
                 "bp quiz --seed 3 --key > key.json; bp quiz --seed 3 --answers answers.json",
                 'bp quiz --formula "(x*w-y)^2" --x 2 --w 3 --y 4 --worksheet sheet.md', values=True)
def quiz(
    ctx: typer.Context,
    seed: int = options.seed("Which exercise: the same seed, the same exercise.", default=1),
    level: int = typer.Option(1, "--level", min=1, max=3, help="1: one path per input; 2: a node used "
                              "twice; 3: functions (relu, abs, sqrt, /, ^, max)."),
    formula: str | None = typer.Option(None, "--formula", metavar="FORMULA",
                                          help="Your own formula; values as --x 2 or x=2."),
    values_file: ValuesOpt = None,
    lecture: int | None = typer.Option(None, "--lecture", metavar="1|2", help="The lecture's exercise 1 or 2."),
    as_json: bool = options.json_flag("Print the exercise (or, with --answers, the grade) as JSON."),
    answers: str | None = typer.Option(None, "--answers", metavar="FILE",
                                          help="Grade the answers in FILE (- for stdin), as --key writes them."),
    key: bool = typer.Option(False, "--key", help="Print the answer key as JSON, in the --answers format."),
    worksheet: str | None = typer.Option(None, "--worksheet", metavar="FILE.md|FILE.tex",
                                            help="Write the exercise to FILE and its key to FILE-key."),
    max_entries: int = options.MAX_ENTRIES_OPTION,
):
    """An exercise like the lecture's: fill in values, local gradients and adjoints, graded."""

    ex = _exercise(ctx, seed, level, formula, values_file, lecture)
    if sum([answers is not None, key, worksheet is not None]) > 1:
        raise UsageError("choose one of --answers, --key and --worksheet")
    if key:
        print(documents.dumps(q.key_document(ex)))
    elif answers is not None:
        marks = q.grade(ex, q.read_answers(ex, inputs.read_text(answers, "answers file", "JSON"),
                                           "stdin" if answers == "-" else answers))
        if as_json:
            print(documents.dumps(q.grade_document(ex, marks)))
        else:
            sys.stdout.write(grade_text(marks))
    elif worksheet is not None:
        _write_sheets(ex, worksheet)
    elif as_json:
        print(documents.dumps(q.exercise_document(ex)))
    else:
        output.print_all(quiz_tables(ex))
        if sys.stdin.isatty():
            _quiz_session(ex)
        else:
            print(f"{len(ex.blanks)} blanks: answer with --answers FILE (as --key writes it),\n"
                  "or run bp quiz in a terminal to answer one blank at a time.")


def _exercise(ctx, seed: int, level: int, formula, values_file, lecture):

    if lecture is not None:
        if formula is not None:
            raise UsageError("--lecture and --formula each choose the exercise: give one")
        return q.lecture(lecture)
    if formula is None:
        if ctx.args:
            raise UsageError(f"unexpected {' '.join(ctx.args)}: values go with --formula")
        return q.generate(level, seed)
    f = inputs.load_formula(formula, None)
    _, given = values.split_arguments(list(ctx.args), formula_given=True)
    point, _ = inputs.gather_values(f, given, formula, values_file, options=inputs.long_options(ctx),
                                    command=ctx.info_name)
    return q.custom(f, point, level, seed)


def _write_sheets(ex, path: str) -> None:

    written = worksheet.sheets(ex, path)
    for name, text in written:
        output.write_file(name, text.encode("utf-8"), what=None)
    say_error(f"bp: wrote {' and '.join(p for p, _ in written)}")


def _quiz_session(ex) -> None:
    """One blank at a time on the terminal: a hint after a wrong answer, the answer after three."""

    print(plain(f"Fill in the {len(ex.blanks)} blanks, one at a time: a number or a fraction such as -1/2 "
                "(Ctrl-D stops)."))
    first = later = 0
    for k, blank in enumerate(ex.blanks, 1):
        tries = 0
        while tries < TRIES:
            try:
                text = input(plain(f"[{k}] {blank.prompt} = "))
            except EOFError:
                print()
                print(f"stopped: {first} of {len(ex.blanks)} right at the first try")
                return
            given = q.parse_answer(text)
            if given is None:
                print(plain(f"  {text.strip()!r} is not a number; try again"))
                continue
            tries += 1
            m = q.mark(ex, blank, given)
            if m.correct:
                print(plain("  ✓ right"))
                first += tries == 1
                later += tries > 1
                break
            print(plain(f"  ✗ hint: {m.hint}"))
        else:
            print(plain(f"  the answer is {blank.answer!r}"))
    print(f"score: {first}/{len(ex.blanks)} right at the first try" + (f", {later} more after a hint" if later else ""))
