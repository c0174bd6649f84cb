"""The `bp` command: turns arguments into calls of the core and results into output."""

from __future__ import annotations

import errno
import functools
import math
import os
import sys
from typing import Annotated, Optional

import typer
from typer._click import exceptions as click_errors
from typer.core import TyperCommand, TyperGroup

from bpcli.errors import BPError, CheckError, InputValueError, UsageError


def say_error(message: str) -> None:
    """One place where errors reach the user: stderr, no traceback (and no error of its own
    when stderr is full or gone: the exit code still tells)."""
    from bpcli.views.text import plain

    try:
        sys.stderr.write(plain(message).rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _usage_message(e) -> str:
    """Click's complaint about the command line, in bp's words."""
    if isinstance(e, click_errors.NoSuchOption):
        close = f" (did you mean {' or '.join(sorted(e.possibilities))}?)" if e.possibilities else ""
        message = f"no such option {e.option_name}{close}"
    else:
        message = e.format_message()
        message = message[:1].lower() + message[1:]
    ctx = getattr(e, "ctx", None)
    where = f"{ctx.command_path} --help" if ctx is not None else "bp --help"
    return f"bp: usage error: {message.rstrip('.')}\nhint: {where} lists the options, with examples"


class BpGroup(TyperGroup):
    """bp's commands: every error, Click's own included, reaches the user as a `bp: …` line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as e:
            e.show()
            code = 2
        except click_errors.ClickException as e:
            say_error(_usage_message(e))
            code = 2
        except typer.Abort:
            say_error("bp: interrupted")
            code = 130
        code = code if isinstance(code, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


class BpCommand(TyperCommand):
    """A command whose words that start with - but name none of its options (a formula such
    as -sin(x), a value such as -inf) reach it whole, not as a cluster of short options."""

    def parse_args(self, ctx, args):
        shielded = []
        words = _shield(self, ctx, [_recover_utf8(a) for a in args], shielded)
        rest = super().parse_args(ctx, words)
        for name, value in ctx.params.items():
            if isinstance(value, str) and value in shielded:
                ctx.params[name] = value[1:]
        ctx.args = [a[1:] if a in shielded else a for a in ctx.args]
        return rest


def _recover_utf8(word: str) -> str:
    """A word as typed: in an ASCII locale Python escapes each byte of UTF-8 text (𝜔) into a
    surrogate; those bytes read as UTF-8 give the text back."""
    if not any("\udc80" <= c <= "\udcff" for c in word):
        return word
    try:
        return os.fsencode(word).decode("utf-8")
    except UnicodeError:
        return word


def _shield(command, ctx, args: list[str], shielded: list[str]) -> list[str]:
    """The words, each that Click would misread as options prefixed with a space (which
    neither formulas nor numbers mind, and parse_args takes off again)."""
    takes_value, flags = set(), set()
    for param in command.get_params(ctx):
        if param.param_type_name == "option":
            names = flags if param.is_flag or param.count else takes_value
            names.update(param.opts + param.secondary_opts)
    out = []
    i = 0
    while i < len(args):
        word = args[i]
        name = word.split("=", 1)[0]
        if word == "--":
            out.extend(args[i:])
            break
        if name in takes_value:
            out.append(word)
            if "=" not in word and i + 1 < len(args):
                i += 1
                out.append(args[i])  # the option's value, whatever it looks like
        elif name in flags or word.startswith("--") or not word.startswith("-") or word == "-":
            out.append(word)
        else:
            out.append(" " + word)
            shielded.append(" " + word)
        i += 1
    return out


app = typer.Typer(
    cls=BpGroup,
    help="bp: type a formula, see its computational graph and backpropagated gradients.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_CODES = """Exit codes: 0 ok; 2 bad input or usage; 3 a gradient check failed;
4 training diverged; 5 an optional dependency is missing; 130 interrupted."""


def _epilog(*examples: str) -> str:
    """A command's help ends with examples to copy, then the exit codes."""
    return "Examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + EXIT_CODES


# Options several commands share, declared once.
FormulaArg = Annotated[Optional[str], typer.Argument(
    metavar="FORMULA", show_default=False,
    help='e.g. "(x*w-y)^2" or "y_hat = x*w; r = y_hat - y; loss = r^2"; - reads stdin; a name '
         "ending in .bp is a file.")]
FileOpt = Annotated[Optional[str], typer.Option(
    "--file", "-f", metavar="FILE", help="Read the formula from FILE (- for stdin).")]
ValuesOpt = Annotated[Optional[str], typer.Option(
    "--values", metavar="FILE", help="JSON object of values (or a bp train --json document); - for stdin.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]
PrecisionOpt = Annotated[str, typer.Option(
    "--precision", metavar="N|full",
    help="Significant digits of the numbers in tables (1 to 17), or full: every digit (JSON always has all).")]


def _precision(text: str) -> None:
    """Set how many digits tables show, from --precision."""
    from bpcli.views.settings import set_precision

    if text == "full":
        return set_precision(None)
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 17:
        return set_precision(int(text))
    raise UsageError(f"--precision must be a whole number from 1 to 17 or full, not {text!r}")


def _version(value: bool) -> None:
    if value:
        from bpcli import __version__

        print(f"bp {__version__}")
        raise typer.Exit()


@app.callback()
def _group(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                        help="Print the version and exit.")) -> None:
    """bp: type a formula, see its computational graph and backpropagated gradients."""
    from bpcli.views.text import setup_streams

    setup_streams()


VALUE_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


BROKEN_PIPE = 141  # as a shell reports `cat` stopped by SIGPIPE (128 + 13)


def handles_errors(command):
    """Map bp's errors (and Ctrl-C, and a stdout that cannot take the output) to messages on
    stderr and documented exit codes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            done = command(*args, **kwargs)
            sys.stdout.flush()  # here, not at exit, so that a full disk is reported
            return done
        except BPError as e:
            say_error(f"bp: {e.kind}: {e}")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            say_error("bp: interrupted")
            raise typer.Exit(130) from None
        except OSError as e:
            raise typer.Exit(_stream_failure(e)) from None

    return wrapper


def _stream_failure(e: OSError) -> int:
    """The exit code for standard output refusing what bp writes (other OSErrors are bugs)."""
    from bpcli.streams import is_stream_error

    if not is_stream_error(e):
        raise e
    _silence_stdout()
    if e.errno == errno.EPIPE:  # the reader stopped (bp … | head): quietly, as cat does
        return BROKEN_PIPE
    say_error(f"bp: output error: cannot write to standard output: {e.strerror}")
    return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered fails no more at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


# --json and --all list every node and edge, each costing memory and output: the bound keeps
# both near the memory budget (figures in benchmarks/RESULTS.md, "Design figures").
LISTED_NODES = 250_000


def _check_listed(f, max_nodes: int, option: str) -> None:
    from bpcli.errors import LimitError

    if max_nodes and len(f) > max_nodes:
        raise LimitError(f"{option} lists every node and edge: the formula has {len(f):,} nodes, more than "
                         f"the limit of {max_nodes:,} (about 3.7 KB of memory each)",
                         hint="raise the limit with --max-nodes N (0: none), or leave out " + option)


PICTURE_NODES = 5_000  # tree lines or Graphviz nodes: what Graphviz lays out in seconds
TREE_DEPTH = 100  # levels of a tree: each adds 4 columns, so a deeper one is wider than any screen
MAX_SIZE = 2_000_000  # characters of formula: a few seconds of parsing


def load_formula(formula: Optional[str], file: Optional[str], max_size: int = MAX_SIZE):
    from bpcli.language.parser import parse

    if formula is not None and file is not None:
        raise UsageError("give the formula as an argument or with --file, not both")
    if formula is None and file is None:
        raise UsageError('no formula: try bp grad "(x*w-y)^2" --x 2 --w 3 --y 4')
    if file is None and formula.endswith(".bp"):
        file = formula  # bp grad model.bp: a program file named as the formula
    if formula == "-":
        file = "-"
    text = read_formula(file, max_size) if file is not None else formula
    if max_size and len(text) > max_size:
        raise too_long(max_size, len(text))
    return parse(text)


def read_text(path: str, what: str, expected: str, limit=None) -> str:
    """A text file, or stdin for `-`, read once within a size bound (a values file's by default)."""
    from bpcli.data.files import MAX_VALUES, Limit
    from bpcli.data.files import read_text as read

    return read(path, what, expected, limit or Limit(MAX_VALUES))[0]


def read_formula(path: str, max_size: int = MAX_SIZE) -> str:
    """A formula file (or stdin) within --max-size: at most 4 bytes a character are read."""
    from bpcli.data.files import Limit, TooBig

    try:
        return read_text(path, "formula file", "a bp formula", Limit(4 * max_size))
    except TooBig:
        raise too_long(max_size) from None


def too_long(max_size: int, size: Optional[int] = None):
    from bpcli.errors import LimitError

    has = f"has {size:,} characters, more than" if size is not None else "is longer than"
    return LimitError(f"the formula {has} the limit of {max_size:,} (about 4 s of parsing)",
                      hint="raise the limit with --max-size N, or 0 for none")


def data_limit(size: str, flag: str):
    """A size bound from an option's text such as 500M (0: none), with the flag that raises it."""
    from bpcli.data.files import Limit, parse_size

    try:
        return Limit(parse_size(size), flag)
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None


MaxValuesOpt = Annotated[str, typer.Option("--max-values", metavar="SIZE",
                                           help="Refuse a --values file larger than SIZE (e.g. 500M; 0: no bound).")]
MAX_DATA_HELP = "Refuse a data file larger than SIZE (e.g. 4G; 0: no bound)."
DELIMITER_HELP = "The CSV's delimiter (default: the most frequent of , ; tab | in the header)."
NOTED_NAMES = 5  # unused names of a values file listed by name; the rest are counted


def gather_values(formula, given, given_formula: Optional[str], values_file: Optional[str],
                  complete: Optional[bool] = True, options: tuple[str, ...] = (), max_values: str = "128M"):
    """The point: values from --values, then from the command line (which win), checked once
    (complete=None: complete if any value is given). Returns the point and notes."""
    from bpcli.engine.values import from_numpy, nonfinite, raise_problems, value_problems

    if values_file == "-" and given_formula == "-":
        raise UsageError("stdin can hold the formula or the values, not both")
    point: dict[str, float] = {}
    notes = list(formula.source_notes)
    if not formula.inputs:
        notes.append(NO_INPUTS)
    if values_file is not None:
        if values_file.endswith((".npy", ".npz")):
            arrays = dict(from_numpy(values_file, given.allow_nonfinite))
            point = {n: v for n, v in arrays.items() if n in formula.inputs}
            ignored, source = [n for n in arrays if n not in formula.inputs], values_file
        else:
            from bpcli.data.files import read_values

            point, ignored, source = read_values(values_file, list(formula.inputs),
                                                 data_limit(max_values, "--max-values"),
                                                 given.allow_nonfinite)
        if ignored:
            notes.append(ignored_note(source, ignored))
    point.update(given.values)
    if complete is None:
        complete = bool(point) or bool(given.names)
    raise_problems(*value_problems(list(formula.inputs), point, complete, given, options,
                                   allow_nonfinite=given.allow_nonfinite))
    odd = [text for name, v in point.items() if (text := nonfinite(name, v))]
    if odd:
        notes.append(f"{', '.join(odd)}: not finite (--allow-nonfinite); IEEE arithmetic gives every value "
                     "that follows from it (inf - inf and 0·inf are nan)")
    return point, notes


NO_INPUTS = "the formula has no inputs: its value is a constant, and there is nothing to differentiate"


def ignored_note(source: str, names: list[str]) -> str:
    """`a, b and c are not inputs…`, naming the first few and counting the rest."""
    shown = [shown_name(n) for n in names[:NOTED_NAMES]]
    if len(names) > NOTED_NAMES:
        shown.append(f"{len(names) - NOTED_NAMES:,} more")
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    verb = "is not an input" if len(names) == 1 else "are not inputs"
    return f"{source}: {listed} {verb} of the formula; ignored"


def shown_name(name: str) -> str:
    """A name as any output can take it (a lone surrogate from a JSON file is escaped)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _long_options(ctx) -> tuple[str, ...]:
    """The command's own long options, without their dashes (for a did-you-mean)."""
    return tuple(o[2:] for p in ctx.command.params for o in p.opts if o.startswith("--"))


def _tensor_aware(f, run):
    """run() (a gradient of f), its shape errors shown with a caret under the operator, a
    tensor output refused with the way out."""
    from bpcli.errors import ShapeError, TensorOutputError

    try:
        return run()
    except TensorOutputError as e:
        text = f.text.strip()
        example = f'sum({text})' if not any(c in text for c in ";=\n") else "sum(…) around the output"
        raise TensorOutputError(e.reason, hint=f"use {example}, as loss.backward() needs one number, "
                                "or --jacobian for the full Jacobian",
                                node=e.node, op=e.op, shapes=e.shapes) from None
    except ShapeError as e:
        if e.node is None:
            raise
        from bpcli.language.parser import located

        raise located(f.text, e) from None


def _refuse_for_tensors(**flags) -> None:
    """Options that work on scalar formulas only: refused clearly rather than half done."""
    given = [f"--{name}" for name, on in flags.items() if on]
    if given:
        raise UsageError(f"{', '.join(given)} work{'s' if len(given) == 1 else ''} on scalar formulas; "
                         "this one has tensors")


def _jacobian(f, point: dict, limit: int, **scalar_only):
    """The Jacobian of f's output at the point, its bound worded with the flag that raises it."""
    from bpcli.engine.tensor import JacobianLimitError

    given = [f"--{name}" for name, on in scalar_only.items() if on]
    if given:
        raise UsageError(f"--jacobian does not go with {', '.join(given)}")
    try:
        return _tensor_aware(f, lambda: f.jacobian(point, limit=limit, checked=True))
    except JacobianLimitError as e:
        raise JacobianLimitError(e.reason, e.entries, e.limit, e.shape, hint="raise the limit with "
                                 "--max-jacobian N (0: none), or take an entry or a sum of the output") from None


def _output_name(f) -> str:
    """What the output is called in Jacobian tables: its last bound name, else `out`."""
    names = f.labels.get(f.output)
    return names[-1] if names else "out"


def _print_jacobian(f, point: dict, jac, as_json: bool, check: bool, budget: float, notes: list) -> None:
    """`bp grad --jacobian` of a tensor output: its value, ∂output/∂input per input, and the
    check of every block (exit 3 where it truly disagrees)."""
    from bpcli.views.documents import dumps, jacobian_full_document
    from bpcli.views.notes import check_notes, input_notes, notes_text
    from bpcli.views.results import jacobian_check_table, jacobian_summary, jacobian_tables

    checked = None
    if check:
        from bpcli.check.tensorcheck import check_jacobian

        checked = check_jacobian(f, jac, point, budget)
    notes = input_notes(notes) + check_notes(checked.notes if checked else [])
    if as_json:
        print(dumps(jacobian_full_document(f, point, jac, checked, notes)))
    else:
        console = stdout_console()
        out = _output_name(f)
        for table in [jacobian_summary(f, jac, out)] + jacobian_tables(jac, out):
            console.print(table)
        if checked is not None:
            console.print(jacobian_check_table(jac, checked, out))
        if notes:
            console.print(notes_text(notes), end="")
    _fail_on_mismatch(checked)


CHECKED_ROWS = 3  # rows of an --at file that are cross-checked with SymPy: the first three


def grad_at(f, at: str, out_format, fixed: dict, formula_text, values_file, check: bool, budget: float,
            max_data: str, delimiter: Optional[str]):
    """The gradient at every row of a file, streamed out chunk by chunk."""
    from bpcli.data.batch import Points, gradients
    from bpcli.views.documents import csv_rows, jsonl_rows

    if at == "-" and (formula_text == "-" or values_file == "-"):
        raise UsageError("stdin can hold the formula, the values or the points, not two of them")
    out_format = out_format or "csv"
    if out_format not in ("csv", "jsonl"):
        raise UsageError(f"--format must be csv or jsonl, not {out_format!r}")
    points = Points(at, data_limit(max_data, "--max-data"), _delimiter(delimiter))
    names = list(f.inputs)
    overridden = [n for n in names if n in fixed and n in points.columns]
    if overridden:
        s = "s" if len(overridden) > 1 else ""
        say_error(f"bp: note: {', '.join(overridden)} given as {'values' if s else 'a value'}: the same in "
                  f"every row, in place of the column{s} of {points.source}")
    missing = [n for n in names if n not in fixed and n not in points.columns]
    if missing:
        raise InputValueError(f"no value for {', '.join(missing)}: not a column of {points.source} "
                              "and not given", hint=" ".join(f"--{n} VALUE" for n in missing))
    write = sys.stdout.write
    checked = None
    for chunk, value, grads in gradients(f, points.chunks([n for n in names if n not in fixed]), fixed):
        columns = [value.tolist()] + [grads[n].tolist() for n in names]
        if out_format == "csv":
            write(csv_rows(names, columns, header=chunk.first_row == 1))
        else:
            write(jsonl_rows(names, columns))
        if check and checked is None:
            checked = _check_rows(f, chunk, fixed, budget)
    sys.stdout.flush()
    if checked:
        raise CheckError(checked)


def _delimiter(text: Optional[str]) -> Optional[str]:
    """--delimiter: one character; `tab` or \\t for a tab."""
    if text is None:
        return None
    text = {"tab": "\t", "\\t": "\t"}.get(text.lower(), text)
    if len(text) != 1 or text in ('"', "\n", "\r"):
        raise UsageError(f"--delimiter must be one character such as ; or tab, not {text!r}")
    return text


def _check_rows(f, chunk, fixed: dict, budget: float) -> str:
    """Cross-check the first rows with SymPy; the failures as text ('' if none)."""
    from bpcli.check.verify import check as run_check

    failures = []
    for r in range(min(CHECKED_ROWS, chunk.rows)):
        point = {n: float(chunk.columns[n][r]) if n in chunk.columns else fixed[n] for n in f.inputs}
        result = f.grad(point)
        for c in run_check(f, result, point, budget=budget).inputs:
            if not c.ok:
                failures.append(f"row {chunk.first_row + r}: ∂/∂{c.name}: backprop {c.backprop!r}, "
                                f"SymPy {c.sympy!r}")
    return "; ".join(failures)


def split_formula(formula: Optional[str], extra: list[str], file: Optional[str], allow_nonfinite: bool = False):
    """Click puts the first free word in `formula`; sort all free words ourselves into the
    formula (unless --file gives it) and the values."""
    from bpcli.engine.values import split_arguments

    words = ([formula] if formula is not None else []) + list(extra)
    return split_arguments(words, formula_given=file is not None, allow_nonfinite=allow_nonfinite)


@app.command(cls=BpCommand, context_settings=VALUE_ARGS, epilog=_epilog(
    'bp grad "(x*w-y)^2" --x 2 --w 3 --y 4',
    'bp grad "y_hat = x*w; loss = (y_hat - y)^2" x=2 w=1 y=4 --json',
    "bp grad model.bp --values params.json --x 2 --y 4",
    'bp grad "(x*w-y)^2" --at points.csv --w 3'))
@handles_errors
def grad(
    ctx: typer.Context,
    formula: FormulaArg = None,
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    as_json: JsonOpt = False,
    check: bool = typer.Option(True, "--check/--no-check", help="Cross-check with SymPy and finite differences."),
    check_timeout: float = typer.Option(5.0, "--check-timeout", metavar="SECONDS",
                                        help="Seconds SymPy may take (0.1 to 86,400)."),
    show_all: bool = typer.Option(False, "--all", help="Show every row of large tables."),
    at: Optional[str] = typer.Option(None, "--at", metavar="FILE",
                                     help="Gradient at every row of a CSV or JSON Lines file (- for stdin)."),
    out_format: Optional[str] = typer.Option(None, "--format", metavar="csv|jsonl",
                                             help="Output format with --at (default: csv)."),
    max_size: int = typer.Option(MAX_SIZE, "--max-size", min=0, metavar="N",
                                 help="Refuse formulas longer than N characters (0: no limit)."),
    explain_paths: bool = typer.Option(False, "--explain", help="The chain rule out loud: every path, multiplied."),
    max_paths: int = typer.Option(4, "--max-paths", min=1, help="Paths shown per input with --explain."),
    explain_steps: int = typer.Option(1_000_000, "--explain-steps", min=1, metavar="N",
                                      help="Steps of graph walking --explain may take to list paths, over all inputs."),
    with_hessian: bool = typer.Option(False, "--hessian", help="Second derivatives, cross-checked with SymPy."),
    max_hessian: int = typer.Option(1_000, "--max-hessian", min=1, metavar="N",
                                    help="Refuse --hessian past N inputs (N² entries, a pass each)."),
    precision: PrecisionOpt = "10",
    forward: bool = typer.Option(False, "--forward", help="Forward mode beside reverse mode: a tangent "
                                 "per node and input, one pass per input."),
    max_forward: int = typer.Option(20_000_000, "--max-forward", min=1, metavar="N",
                                    help="Refuse --forward past N node tangents (nodes × inputs; "
                                    "tensors: passes × the graph's entries)."),
    max_nodes: int = typer.Option(LISTED_NODES, "--max-nodes", min=0, metavar="N",
                                  help="Refuse --json or --all for formulas of more than N nodes (0: no limit)."),
    allow_nonfinite: bool = typer.Option(False, "--allow-nonfinite",
                                         help="Take inf, -inf and nan as values (refused by default)."),
    with_jacobian: bool = typer.Option(False, "--jacobian", help="The full Jacobian ∂output/∂input of a "
                                       "tensor (or scalar) output, one backward pass per output entry."),
    max_jacobian: int = typer.Option(100, "--max-jacobian", min=0, metavar="N",
                                     help="Refuse --jacobian past N output entries (0: no limit)."),
    max_data: str = typer.Option("1G", "--max-data", metavar="SIZE", help="With --at: " + MAX_DATA_HELP),
    max_values: MaxValuesOpt = "128M",
    delimiter: Optional[str] = typer.Option(None, "--delimiter", metavar="CHAR", help="With --at: " + DELIMITER_HELP),
):
    """Forward and backward pass of FORMULA at a point: give values as --x 2 or x=2."""
    from bpcli.views.documents import (
        dumps,
        explain_document,
        forward_document,
        grad_document,
        hessian_document,
        jacobian_document,
    )
    from bpcli.views.notes import check_notes, grad_notes, notes_text
    from bpcli.views.results import explain_text, forward_tables, grad_tables, hessian_table, jacobian_tables

    check_timeout = _seconds(check_timeout, "--check-timeout")
    _precision(precision)
    formula_text, given = split_formula(formula, ctx.args, file, allow_nonfinite)
    f = load_formula(formula_text, file, max_size)
    if at is None and (as_json or show_all):
        _check_listed(f, max_nodes, "--json" if as_json else "--all")
    if at is not None and with_jacobian:
        raise UsageError("--jacobian does not go with --at: it is one point's")
    if at is None and out_format is not None:
        raise UsageError("--format goes with --at; for one point use --json")
    if at is None and delimiter is not None:
        raise UsageError("--delimiter goes with --at (a CSV of points)")
    one_point = [flag for flag, on in (("--json", as_json), ("--explain", explain_paths),
                                       ("--hessian", with_hessian), ("--forward", forward)) if on]
    if at is not None and one_point:
        raise UsageError(f"{' and '.join(one_point)} show{'s' if len(one_point) == 1 else ''} one point; "
                         "--at differentiates every row of a file",
                         hint="for JSON at every row use --format jsonl; for one row drop --at and give its values")
    point, notes = gather_values(f, given, formula_text, values_file, complete=at is None,
                                 options=_long_options(ctx), max_values=max_values)
    if at is not None:
        for note in notes:
            say_error(f"bp: note: {note}")
        return grad_at(f, at, out_format, point, formula_text, values_file, check, check_timeout,
                       max_data, delimiter)
    from bpcli.check.verify import checked_grad

    jac = _jacobian(f, point, max_jacobian, explain=explain_paths, hessian=with_hessian,
                    forward=forward) if with_jacobian else None
    if jac is not None and jac.output_shape:
        return _print_jacobian(f, point, jac, as_json, check, check_timeout, notes)
    result, checked = _tensor_aware(f, lambda: checked_grad(f, point, check, check_timeout, values_checked=True))
    if result.is_tensor:
        _refuse_for_tensors(hessian=with_hessian)
    notes = grad_notes(result, notes, checked)
    explanations = _explain(result, max_paths, explain_steps) if explain_paths else None
    hessian = _hessian(f, point, check, check_timeout, max_hessian) if with_hessian else None
    if hessian is not None:
        notes += check_notes(hessian.notes)
    fm = _forward_mode(f, result, point, max_forward) if forward else None
    if as_json:
        doc = grad_document(result, point, checked, notes)
        if explanations is not None:
            doc["explain"] = explain_document(result, explanations)
        if hessian is not None:
            doc.update(hessian_document(hessian))
            doc["ok"] = doc["ok"] and hessian.status != "mismatch"
        if fm is not None:
            doc["forward_mode"] = forward_document(fm)
            doc["ok"] = doc["ok"] and fm.agrees
        if jac is not None:
            doc["jacobian"] = jacobian_document(jac)
        print(dumps(doc))
    else:
        console = stdout_console()
        for table in grad_tables(result, checked, limit=None if show_all else 200):
            console.print(table)
        if explanations is not None:
            console.print(explain_text(result, explanations))
        if hessian is not None:
            console.print(hessian_table(hessian))
        if fm is not None:
            for table in forward_tables(result, fm, limit=None if show_all else 200):
                console.print(table)
        if jac is not None:
            for table in jacobian_tables(jac, _output_name(f)):
                console.print(table)
        if notes:
            console.print(notes_text(notes), end="")
    if hessian is not None and hessian.status == "mismatch":
        raise CheckError("the Hessian disagrees with SymPy's second derivatives")
    if fm is not None and not fm.agrees:
        raise CheckError("forward mode disagrees with reverse mode: " + "; ".join(
            f"∂/∂{t.name}: forward {t.forward!r}, reverse {t.reverse!r}" for t in fm.inputs if not t.agrees))
    _fail_on_mismatch(checked)


def _fail_on_mismatch(checked) -> None:
    """Exit 3 when the cross-check found a real disagreement."""
    if checked is not None and not checked.ok:
        bad = [c for c in checked.inputs if not c.ok]
        raise CheckError("; ".join(_disagreement(c) for c in bad))


def _disagreement(c) -> str:
    """∂/∂x: backprop 1.0, SymPy 2.0, finite difference 2.0 (the references that gave a number)."""
    said = [("backprop", c.backprop), ("SymPy", c.sympy), ("finite difference", c.finite_difference)]
    return f"∂/∂{c.name}: " + ", ".join(f"{who} {v!r}" for who, v in said if v is not None)


@app.command(cls=BpCommand, epilog=_epilog(
    "bp train linear data.csv --lr 0.01 --epochs 100 --predict 4",
    'bp train "w*x + b" data.csv --init w=0.5 --batch-size all --json',
    "bp train model.bp data.csv --trace",
    "bp train logistic pass.csv --loss bce --plot loss.png"))
@handles_errors
def train(
    model: str = typer.Argument(..., metavar="MODEL", show_default=False,
                                help="linear, affine, logistic, a bp formula, or a .bp file (with -f: the CSV)"),
    data: Optional[str] = typer.Argument(None, metavar="DATA", show_default=False,
                                         help="CSV with a header row; - reads stdin"),
    file: FileOpt = None,
    target: Optional[str] = typer.Option(None, "--target", help="Target column (default: y, else the last column)."),
    loss: Optional[str] = typer.Option(None, "--loss", help='mse, bce, or a formula in yhat and y, e.g. "abs(yhat - y)".'),
    lr: float = typer.Option(0.01, "--lr", help="Learning rate."),
    epochs: int = typer.Option(100, "--epochs", min=1, help="Passes over the data."),
    batch_size: str = typer.Option("1", "--batch-size", metavar="N|all",
                                   help="Rows per step (1: per-sample SGD; all: full batch)."),
    shuffle: bool = typer.Option(False, "--shuffle", help="Shuffle the rows every epoch."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Seed for --shuffle (a whole number >= 0)."),
    dtype: str = typer.Option("float64", "--dtype", metavar="float64|float32",
                              help="float32 computes every operation in float32, as PyTorch does."),
    init: list[str] = typer.Option([], "--init", metavar="NAME=VALUE", help="Initial value of a parameter (default: 1.0)."),
    predict: list[str] = typer.Option([], "--predict", metavar="X|NAME=X,…", help="Predict at a point (repeatable)."),
    trace: bool = typer.Option(False, "--trace", help="Print the lecture's grad:/progress:/predict lines."),
    as_json: JsonOpt = False,
    jsonl: bool = typer.Option(False, "--jsonl", help="Print a JSON line per epoch, then a summary line."),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="FILE", help="Write the loss curve as PNG or SVG."),
    report: Optional[str] = typer.Option(None, "--report", metavar="FILE",
                                         help="Write an HTML report: loss curve, fit, parameters, graph."),
    param: list[str] = typer.Option([], "--param", metavar="NAME=SHAPE",
                                    help="A tensor parameter's shape, e.g. W1=16x2 or b1=16 (repeatable)."),
    init_scheme: str = typer.Option("uniform", "--init-scheme", metavar="uniform|normal|xavier|zeros",
                                    help="How tensor parameters start, seeded by --seed."),
    hidden: Optional[str] = typer.Option(None, "--hidden", metavar="N,N,…",
                                         help="Hidden layer sizes of mlp and softmax (mlp: 16,16)."),
    activation: str = typer.Option("tanh", "--activation", metavar="tanh|relu|sigmoid|none",
                                   help="The hidden layers' activation (mlp, softmax)."),
    optimizer: str = typer.Option("sgd", "--optimizer", metavar="sgd|momentum|adam",
                                  help="The update: sgd is the lecture's p -= lr*grad."),
    features: Optional[str] = typer.Option(None, "--features", metavar="A,B,…",
                                           help="The columns of the vector `features`, in order (default: all but the target)."),
    precision: PrecisionOpt = "10",
    delimiter: Optional[str] = typer.Option(None, "--delimiter", metavar="CHAR", help=DELIMITER_HELP),
    drop_missing: bool = typer.Option(False, "--drop-missing",
                                      help="Leave out rows with an empty, NA or NaN cell in a column used."),
    max_data: str = typer.Option("1G", "--max-data", metavar="SIZE", help=MAX_DATA_HELP),
):
    """Fit MODEL to DATA by gradient descent through bp's own graph."""
    _precision(precision)
    from bpcli.engine.values import read_pairs
    from bpcli.training.loop import Settings, Trainer, check_model_name
    from bpcli.views.documents import dumps
    from bpcli.views.training import check_plot_path, loss_curve, save_loss_plot, train_document, train_tables

    if file is not None:
        if data is not None:
            raise UsageError("with --file, give only the data file")
        model, data = read_formula(file), model
    elif model.endswith(".bp"):
        model = read_formula(model)
    if data is None:
        raise UsageError("no data: try bp train linear data.csv")
    if sum([as_json, jsonl, trace]) > 1:
        raise UsageError("--json, --jsonl and --trace each print to stdout: choose one")
    settings = Settings(lr=_finite(lr, "--lr"), epochs=epochs, batch_size=_batch_size(batch_size),
                        shuffle=shuffle, seed=seed, dtype=dtype, init=read_pairs(init, "--init", "w=0.5"),
                        optimizer=optimizer, init_scheme=init_scheme)
    net = _net_options(param, hidden, activation, features)
    check_model_name(model)  # before reading the data: a typo should not wait for a big CSV
    if plot:
        check_plot_path(plot)
    spec, table = _training_data(model, data, target, loss, max_data, delimiter, drop_missing, net)
    points = [_predict_point(p, spec.features) for p in predict]
    trainer = Trainer(spec, table, settings)
    show = _TrainView(spec, settings, trace, jsonl, points)
    with show.progress():
        run = trainer.run(on_step=show.step if trace else None, on_epoch=show.epoch)
    predictions = [{**p, **_prediction(spec, run.params, p, settings.dtype)} for p in points]
    if as_json:
        print(dumps(train_document(run, table, predictions)))
    elif jsonl:
        print(dumps({"type": "summary", **train_document(run, table, predictions)}))
    elif run.diverged:
        pass  # the error says where it stopped and what to try
    elif trace:
        print("params (after training):", ", ".join(f"{p} = {v!r}" for p, v in run.params.items()))
        for p in predictions:
            print("predict (after training)", *_trace_numbers(p, spec.features), repr(p["yhat"]))
    else:
        console = stdout_console()
        for t in train_tables(run, predictions):
            console.print(t)
        curve = loss_curve([e.loss for e in run.epochs], console.width, console.is_terminal
                                  and not console.no_color)
        if curve:
            console.print(curve, markup=False, highlight=False, soft_wrap=True)
    if plot and not run.interrupted and not run.diverged:  # last: the parameters are printed whatever
        save_loss_plot([e.loss for e in run.epochs], plot, f"bp train {spec.text}")  # happens to it
    if report:
        _write_report(report, run, table, settings)
    if run.diverged:
        raise run.diverged
    if run.interrupted:
        params = ", ".join(f"{p} = {v!r}" for p, v in run.params.items())
        say_error(f"bp: interrupted after {len(run.epochs)} epochs; parameters reached: {params}")
        raise typer.Exit(130)


def _write_report(path: str, run, table, settings) -> None:
    from bpcli.streams import write_output
    from bpcli.views.web.report import report_page

    html = report_page(run, table, settings).encode()
    write_output(path, html)
    if path == "-":
        return
    say_error(f"bp: wrote {path} ({len(html) / 1000:,.0f} kB)")


def _training_data(model: str, data: str, target, loss, max_data: str = "1G", delimiter=None,
                   drop_missing: bool = False, net=None):
    """The model and the columns it uses, read from the CSV once (its header first)."""
    from bpcli.data.files import NotANumber, open_csv
    from bpcli.training.loop import build_model, choose_target, columns_used

    csv = open_csv(data, data_limit(max_data, "--max-data"), _delimiter(delimiter))
    goal = choose_target(csv.columns, target, csv.source)
    used = columns_used(model, csv.columns, goal, net)
    try:
        table = csv.table(used, drop_missing, labels=goal if model in CLASSIFIERS else None)
    except NotANumber as e:
        raise _text_column(e, model, used, goal) from None
    spec = build_model(model, csv.columns, goal, csv.source, loss, net, table.data[goal])
    if table.dropped:
        s = "s" if len(table.dropped) > 1 else ""
        say_error(f"bp: note: left out {len(table.dropped):,} row{s} with missing cells "
                  f"(row{s} {_row_list(table.dropped)}); {table.rows:,} remain")
    return spec, table


CLASSIFIERS = ("softmax", "mlp")  # presets whose target may hold class labels as text


def _text_column(e, model: str, used: list[str], goal: str):
    """A column of text where bp needs numbers: say which, and what to do instead."""
    from bpcli.language.parser import parse
    from bpcli.training.loop import MODELS

    column = e.column
    if column == goal:
        e.hint = (f"class labels such as {e.text!r} need a classifier: bp train softmax, "
                  "or mlp for two classes")
        return e
    rest = [c for c in used[:-1] if c != column]
    named = model not in MODELS and column in parse(model).inputs  # the formula reads it by name
    drop = f"leave it out with --features {','.join(rest)}" if rest and not named else "write the model without it"
    e.hint = f"the column {column} holds text, not numbers: {drop}, or make it the target with --target {column}"
    return e


def _row_list(rows: list[int], most: int = 5) -> str:
    shown = ", ".join(map(str, rows[:most]))
    return shown + (f" and {len(rows) - most:,} more" if len(rows) > most else "")


class _TrainView:
    """What the user sees while training runs: a progress bar, trace lines or JSON lines."""

    def __init__(self, spec, settings, trace: bool, jsonl: bool, points):
        self.spec, self.settings, self.trace, self.jsonl = spec, settings, trace, jsonl
        self.bar = None
        if trace:
            for p in points:
                yhat = _predict(spec, {n: settings.init.get(n, 1.0) for n in spec.params}, p, settings.dtype)
                print("predict (before training)", *_trace_numbers(p, spec.features), repr(yhat))
            if len(spec.params) > 1:  # the lecture's one-weight lines need no key; several do
                from bpcli.views.text import plain

                print(plain("# grad: " + " ".join(spec.features + [spec.target]
                                                   + [f"∂loss/∂{p}" for p in spec.params])))

    def progress(self):
        import contextlib

        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            return contextlib.nullcontext()
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.speed} epochs/s"),
                            TimeRemainingColumn(), console=console, transient=True)
        self.bar = (progress, progress.add_task("train", total=self.settings.epochs, loss="–"))
        return progress

    def step(self, point, grads):
        from bpcli.training.nets import FEATURES

        spec = self.spec
        values = [point[n] if n in point else point[FEATURES][..., spec.vector.index(n)]  # a column of the vector
                  for n in spec.features + [spec.target]]
        print("\tgrad:", *map(_traced, values), *(_traced(grads[p]) for p in spec.params))

    def epoch(self, e):
        if self.trace:
            print("progress:", e.epoch, repr(float(e.last_loss)))
        if self.jsonl:
            from bpcli.views.documents import dumps
            from bpcli.views.training import epoch_record

            print(dumps(epoch_record(e)), flush=True)
        if self.bar:
            from bpcli.engine.numtext import number_text

            progress, task = self.bar
            progress.update(task, advance=1, loss=number_text(e.loss, 6))


def _traced(v) -> str:
    """A number of a trace line as the lecture prints it; a batch's rows or a tensor's entries
    as a list."""
    if isinstance(v, float):
        return repr(v)
    import numpy as np

    a = np.asarray(v, dtype=np.float64)
    return repr(float(a.reshape(()))) if a.size == 1 else repr(a.tolist())


def _trace_numbers(point: dict, features: list[str]) -> list[str]:
    from bpcli.engine.numtext import number_text

    return [number_text(point[f]) for f in features]


def _predict(spec, params, point, dtype):
    from bpcli.training.loop import predict

    return predict(spec, params, point, dtype)


def _prediction(spec, params, point, dtype) -> dict:
    from bpcli.training.loop import prediction

    return prediction(spec, params, point, dtype)


def _net_options(param: list[str], hidden, activation: str, features):
    from bpcli.training.loop import NetOptions
    from bpcli.training.nets import ACTIVATIONS, parse_hidden, parse_params

    if activation not in ACTIVATIONS:
        raise UsageError(f"--activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
    columns = [c.strip() for c in features.split(",")] if features else None
    return NetOptions(None if hidden is None else parse_hidden(hidden), activation, parse_params(param),
                      columns)


def _predict_point(text: str, features: list[str]) -> dict:
    from bpcli.training.loop import parse_predict

    return parse_predict(text, features)


def _finite(value: float, option: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{option} must be a positive number, got {value}")
    return value


def _seconds(value: float, option: str) -> float:
    """A time budget: a finite number of seconds a clock and a thread can wait for."""
    if not (math.isfinite(value) and 0.1 <= value <= 86_400):
        raise UsageError(f"{option} must be a number of seconds from 0.1 to 86,400 (a day), not {value}")
    return value


def _batch_size(text: str):
    if text == "all":
        return None
    if text.isascii() and text.isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"--batch-size must be a whole number >= 1 or all, not {text!r}")


def _explain(result, max_paths: int, steps: int) -> list:
    from bpcli.views.explain import Budget, explain, path_counts

    budget, counts = Budget(steps), path_counts(result.formula)
    return [explain(result, name, max_paths, budget, counts) for name in result.formula.inputs]


def _forward_mode(f, result, point: dict, limit: int):
    from bpcli.engine.forward import forward_mode, tensor_passes

    if result.is_tensor:  # a pass per input entry, each computing every node's tangent
        passes, entries = tensor_passes(result), sum(math.prod(s) for s in result.shapes)
        work = passes * entries
        what = (f"{work:,} tangent entries ({passes:,} passes, one per input entry, × {entries:,} "
                "entries of the graph)")
    else:
        work = len(f) * len(f.inputs)
        what = f"{work:,} tangents ({len(f):,} nodes × {len(f.inputs):,} inputs)"
    if work > limit:
        raise UsageError(f"--forward would compute {what}, more than the limit of {limit:,}",
                         hint="raise it with --max-forward N")
    return forward_mode(f, result, point)


def _hessian(f, point: dict, check: bool, budget: float, limit: int):
    from bpcli.check.symbolic import checked_hessian

    if len(f.inputs) > limit:
        raise UsageError(f"--hessian on {len(f.inputs):,} inputs would compute {len(f.inputs) ** 2:,} entries, "
                         f"more than the limit of {limit:,} inputs", hint="raise it with --max-hessian N")
    return checked_hessian(f, point, budget if check else None)


@app.command(cls=BpCommand, context_settings=VALUE_ARGS, epilog=_epilog(
    'bp graph "(x*w-y)^2"',
    'bp graph "(x*w-y)^2" --x 2 --w 3 --y 4',
    'bp graph "(x*w-y)^2" --x 2 --w 3 --y 4 -o graph.svg',
    'bp graph model.bp --format mermaid'))
@handles_errors
def graph(
    ctx: typer.Context,
    formula: FormulaArg = None,
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    fmt: Optional[str] = typer.Option(None, "--format", metavar="tree|dot|mermaid|svg|png|pdf",
                                      help="tree: text in the terminal; dot: Graphviz source; mermaid: "
                                           "Mermaid source; svg, png, pdf: pictures drawn by Graphviz "
                                           "(default: from -o's extension, else tree)."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE",
                                         help="Write to FILE (replaced whole if it exists; - is stdout)."),
    no_fold: bool = typer.Option(False, "--no-fold", help="Tree: draw shared subtrees every time."),
    max_nodes: int = typer.Option(PICTURE_NODES, "--max-nodes", min=0, metavar="N",
                                  help="Refuse a tree of more than N lines or a Graphviz picture of more than N "
                                       "nodes (0: no limit)."),
    max_depth: int = typer.Option(TREE_DEPTH, "--max-depth", min=0, metavar="N",
                                  help="Refuse a tree more than N levels deep (0: no limit)."),
    precision: PrecisionOpt = "10",
):
    """Draw the computational graph of FORMULA, with values and gradients when given a point."""
    _precision(precision)
    from bpcli.views import pictures

    formula_text, given = split_formula(formula, ctx.args, file)
    f = load_formula(formula_text, file)
    point, _ = gather_values(f, given, formula_text, values_file, complete=None, options=_long_options(ctx))
    result = f.grad(point, checked=True) if point or not f.inputs else None
    fmt = _graph_format(fmt, output)
    if fmt == "tree":
        pictures.check_tree(f, not no_fold, max_nodes, max_depth)
    elif fmt in pictures.GRAPHVIZ:
        pictures.check_nodes(f, max_nodes, fmt)
    size = f"{len(f):,} nodes, {sum(len(a) for a in f.args):,} edges"
    to_stdout = output is None or output == "-"
    if fmt == "tree":
        if to_stdout:
            _print_tree(f, result, not no_fold, size)
            return
        data = pictures.tree_text(pictures.tree_lines(f, result, fold=not no_fold)).encode("utf-8")
    else:
        text = pictures.to_mermaid(f, result) if fmt == "mermaid" else pictures.to_dot(f, result)
        if to_stdout and fmt in ("dot", "mermaid"):
            text = pictures.for_stdout(text, fmt)
        data = pictures.render_with_graphviz(text, fmt) if fmt in pictures.GRAPHVIZ else text.encode()
    from bpcli.streams import write_output

    write_output("-" if to_stdout else output, data)
    if to_stdout:
        return
    say_error(f"bp: wrote {output} ({size})")


@app.command(cls=BpCommand, context_settings=VALUE_ARGS, epilog=_epilog(
    'bp view "(x*w-y)^2" --x 2 --w 3 --y 4',
    'bp view model.bp --values params.json -o model.html --open'))
@handles_errors
def view(
    ctx: typer.Context,
    formula: FormulaArg = None,
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    output: str = typer.Option("bp-view.html", "-o", "--output", metavar="FILE",
                               help="Write the page to FILE (replaced whole if it exists; - is stdout)."),
    open_page: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    check: bool = typer.Option(True, "--check/--no-check", help="Cross-check with SymPy and finite differences."),
    check_timeout: float = typer.Option(5.0, "--check-timeout", min=0.1, help="Seconds SymPy may take."),
    engine: str = typer.Option("auto", "--layout", metavar="auto|graphviz|bp",
                               help="Who lays the graph out (auto: Graphviz up to 300 nodes, if installed)."),
    large: bool = typer.Option(False, "--large", help="Large fonts, for a projector."),
    max_size: int = typer.Option(MAX_SIZE, "--max-size", min=0, metavar="N",
                                 help="Refuse formulas longer than N characters (0: no limit)."),
):
    """Write one HTML page that steps through FORMULA's forward and backward pass."""
    from bpcli.check.verify import checked_grad
    from bpcli.views.documents import grad_document
    from bpcli.views.notes import grad_notes
    from bpcli.views.web import page, view_data

    if engine not in ("auto", "graphviz", "bp"):
        raise UsageError(f"--layout must be auto, graphviz or bp, not {engine!r}")
    formula_text, given = split_formula(formula, ctx.args, file)
    f = load_formula(formula_text, file, max_size)
    point, notes = gather_values(f, given, formula_text, values_file, options=_long_options(ctx))
    result, checked = checked_grad(f, point, check, check_timeout, values_checked=True)
    doc = grad_document(result, point, checked, grad_notes(result, notes, checked))
    data = view_data(f, doc, engine)
    html = page(data, large=large).encode()
    from bpcli.streams import write_output

    write_output(output, html)
    if output != "-":
        laid = "Graphviz" if data["layout"]["engine"] == "graphviz" else "bp"
        say_error(f"bp: wrote {output} ({len(html) / 1000:,.0f} kB, {len(f):,} nodes laid out by {laid})")
        if open_page:
            import webbrowser
            from pathlib import Path

            webbrowser.open(Path(output).resolve().as_uri())
    _fail_on_mismatch(checked)


@app.command(epilog=_epilog("bp serve", "bp serve --port 8080 --host 0.0.0.0 --workers 2"))
@handles_errors
def serve(
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0: every interface)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
    max_size: int = typer.Option(10_000, "--max-size", min=1, metavar="N", help="Longest formula a request may send."),
    max_nodes: int = typer.Option(5_000, "--max-nodes", min=1, metavar="N", help="Largest graph a request may build."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, metavar="SECONDS",
                                  help="Longest computation of one request."),
):
    """Serve the page with a formula box, and POST /api/grad answering as bp grad --json."""
    import json
    import socket

    from bpcli.errors import MissingDependency

    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise MissingDependency("bp serve needs Starlette and Uvicorn, which are not installed",
                                hint="pip install 'backprop-cli[web]'") from None
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}",
                         hint="choose another port with --port N") from None
    limits = {"max_size": max_size, "max_nodes": max_nodes, "seconds": timeout,
              "check_seconds": min(2.0, timeout / 2)}
    os.environ["BP_SERVE_LIMITS"] = json.dumps(limits)  # read by every worker process
    shown = f"[{host}]" if ":" in host else host
    say_error(f"bp: serving on http://{shown}:{port}/ ({workers} worker{'s' * (workers > 1)}; Ctrl-C stops)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        say_error(f"bp: note: {host} is reachable from other machines, and bp serve asks no password")
    uvicorn.run("bpcli.views.web.server:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", timeout_graceful_shutdown=2)
    say_error("bp: stopped")


EXTENSIONS = {"gv": "dot", "dot": "dot", "mmd": "mermaid", "mermaid": "mermaid", "svg": "svg", "png": "png",
              "pdf": "pdf", "txt": "tree"}


def _graph_format(fmt: Optional[str], output: Optional[str]) -> str:
    """--format, else the one -o's extension names, else tree; a mismatch of the two is refused."""
    from bpcli.views import pictures

    if fmt is not None and fmt not in pictures.FORMATS:
        raise UsageError(f"--format must be one of {', '.join(pictures.FORMATS)}, not {fmt!r}")
    name = os.path.basename(output or "")
    ext = name.rsplit(".", 1)[1].lower() if "." in name.lstrip(".") else None
    if ext is None or output == "-":
        return fmt or "tree"
    implied = EXTENSIONS.get(ext)
    if implied is None and fmt is None:
        raise UsageError(f"-o {output}: bp does not know the format of .{ext} files",
                         hint="end the name in " + ", ".join(f".{e}" for e in EXTENSIONS)
                              + ", or choose one with --format")
    if implied is not None and fmt is not None and implied != fmt:
        raise UsageError(f"-o {output} names a .{ext} file but --format is {fmt}",
                         hint=f"drop --format (the extension picks {implied}) or rename the file")
    return fmt or implied


def _print_tree(f, result, fold: bool, size: str) -> None:
    """The tree on standard output: on a terminal each line cut at its width, and the cut said
    (with how to see everything); into a pipe or file every line whole."""
    from bpcli.views import pictures

    console = stdout_console()
    lines = pictures.tree_lines(f, result, fold=fold, ascii_only=console.options.ascii_only)
    width = console.width
    for line in lines:
        if console.is_terminal:
            console.print(line, no_wrap=True, overflow="ellipsis", crop=True)
        else:
            console.print(line, soft_wrap=True)
    console.print(size, style="dim")
    cut, widest = pictures.cut_lines(lines, width)
    if cut and console.is_terminal:
        say_error(f"bp: note: {cut:,} of the tree's {len(lines):,} lines are wider than this terminal's "
                  f"{width} columns and were cut at the right (the widest needs {widest:,})\n"
                  "hint: see every line whole with -o tree.txt, or | less -S; or draw it with --format svg")


@app.command(cls=BpCommand, epilog=_epilog(
    'bp diff "(x*w-y)^2" --wrt w',
    'bp diff "sigmoid(w*x + b)" --json',
    'bp diff "-sin(x)" --wrt x --latex'))
@handles_errors
def diff(
    formula: FormulaArg = None,
    file: FileOpt = None,
    wrt: list[str] = typer.Option([], "--wrt", metavar="NAME", help="Differentiate with respect to NAME "
                                  "(repeatable; default: every input)."),
    latex: bool = typer.Option(False, "--latex", help="Print LaTeX."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Tidy with SymPy, or keep bp's raw form."),
    as_json: Annotated[bool, typer.Option("--json", help="Print {input: formula} as JSON.")] = False,
):
    """Derivatives of FORMULA as formulas, from bp's own graph, in bp's syntax."""
    from bpcli.check.symbolic import derivatives, printed
    from bpcli.engine.values import normalise
    from bpcli.views.documents import dumps
    from bpcli.views.text import plain

    f = load_formula(formula, file)
    if not f.elementwise:
        from bpcli.engine.values import require_scalars

        require_scalars(f, {}, "bp diff")
    if not f.inputs and not wrt:
        say_error(f"bp: note: {NO_INPUTS}")
    names = [normalise(n) for n in wrt] or list(f.inputs)
    found = derivatives(f, names)
    outputs = {n: printed(d, simplify, latex=latex) for n, d in found.items()}
    texts = {n: p.latex if latex else p.text for n, p in outputs.items()}
    for n in dict.fromkeys(names):
        if n not in f.inputs:
            say_error(f"note: {_unused(f, n)}")
        if outputs[n].note:
            say_error(f"note: d/d{n}: {outputs[n].note}")
    if as_json:
        print(dumps(texts))
    elif len(texts) == 1:
        print(next(iter(texts.values())))
    else:
        for n, t in texts.items():
            print(f"d/d{n}: {plain(t)}")


def _unused(f, name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(f.inputs), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    inputs = ", ".join(f.inputs) or "none"
    return f"{name} does not appear in the formula{hint}, so d/d{name} is 0; its inputs: {inputs}"


@app.command(cls=BpCommand, context_settings=VALUE_ARGS, epilog=_epilog(
    'bp export "(x*w-y)^2" --x 2 --w 3 --y 4 -o check.py',
    'bp export "tanh(w*x + b)" --x 0.5 --w 2 --b 0 --jax',
    'bp export "logsumexp(V @ tanh(W @ x))" --values net.json --jax',
    "bp export --loop linear data.csv --lr 0.01 --epochs 100 --predict 4",
    "bp export --loop mlp data.csv --hidden 8 --batch-size 16 -o loop.py"))
@handles_errors
def export(
    ctx: typer.Context,
    formula: Optional[str] = typer.Argument(
        None, metavar="FORMULA", show_default=False,
        help="A formula and its values (as bp grad); with --loop: MODEL DATA (as bp train)."),
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    torch: bool = typer.Option(False, "--torch", help="A PyTorch script (the default)."),
    jax: bool = typer.Option(False, "--jax", help="A JAX script (jax.vjp per node)."),
    loop: bool = typer.Option(False, "--loop", help="The lecture's PyTorch training loop for a bp train "
                              "setting: MODEL DATA and the options below."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE", help="Write to FILE."),
    target: Optional[str] = typer.Option(None, "--target", help="--loop: the target column, as bp train."),
    loss: Optional[str] = typer.Option(None, "--loss", help="--loop: mse, bce or a formula, as bp train."),
    lr: float = typer.Option(0.01, "--lr", help="--loop: learning rate."),
    epochs: int = typer.Option(100, "--epochs", min=1, help="--loop: passes over the data."),
    dtype: str = typer.Option("float64", "--dtype", metavar="float64|float32", help="--loop: as bp train."),
    init: list[str] = typer.Option([], "--init", metavar="NAME=VALUE", help="--loop: initial parameter value."),
    predict: list[str] = typer.Option([], "--predict", metavar="X|NAME=X,…", help="--loop: predict at a point."),
    batch_size: str = typer.Option("1", "--batch-size", metavar="N|all",
                                   help="--loop: rows per step, as bp train (1: the lecture's loop)."),
    max_numbers: int = typer.Option(1_000_000, "--max-numbers", min=0, metavar="N",
                                    help="Refuse a tensor script that would embed more than N numbers (0: no limit)."),
    param: list[str] = typer.Option([], "--param", metavar="NAME=SHAPE", help="--loop: a tensor parameter's shape, as bp train."),
    hidden: Optional[str] = typer.Option(None, "--hidden", metavar="N,N,…", help="--loop: mlp/softmax hidden layers, as bp train."),
    activation: str = typer.Option("tanh", "--activation", metavar="tanh|relu|sigmoid|none",
                                   help="--loop: as bp train."),
    features: Optional[str] = typer.Option(None, "--features", metavar="A,B,…", help="--loop: as bp train."),
    init_scheme: str = typer.Option("uniform", "--init-scheme", metavar="uniform|normal|xavier|zeros",
                                    help="--loop: how tensor parameters start, as bp train."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="--loop: seeds --init-scheme, as bp train."),
):
    """A standalone PyTorch or JAX script that rebuilds FORMULA and checks every number bp gives."""
    if torch and jax:
        raise UsageError("choose one of --torch and --jax")
    if loop:
        if jax:
            raise UsageError("--loop writes the lecture's PyTorch loop; --jax exports single points")
        from bpcli.engine.values import read_pairs
        from bpcli.training.loop import Settings

        settings = Settings(lr=_finite(lr, "--lr"), epochs=epochs, dtype=dtype, batch_size=_batch_size(batch_size),
                            init=read_pairs(init, "--init", "w=0.5"), seed=seed, init_scheme=init_scheme)
        text = _export_loop(formula, ctx.args, file, target, loss, settings, predict,
                            _net_options(param, hidden, activation, features))
    else:
        from bpcli.views.export import jax_script, torch_script

        formula_text, given = split_formula(formula, ctx.args, file)
        f = load_formula(formula_text, file)
        point, _ = gather_values(f, given, formula_text, values_file, options=_long_options(ctx))
        result = _tensor_aware(f, lambda: f.grad(point, checked=True))
        text = (jax_script if jax else torch_script)(result, point, max_numbers)
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    from bpcli.streams import write_output

    write_output(output, text.encode())
    say_error(f"bp: wrote {output}")


def _export_loop(model, extra, file, target, loss, settings, predict, net) -> str:
    from bpcli.training.loop import Trainer, check_model_name
    from bpcli.views.export import loop_script

    words = ([model] if model is not None else []) + list(extra)
    if file is not None:
        model, words = read_formula(file), words
    elif words:
        model, words = words[0], words[1:]
        if model.endswith(".bp"):
            model = read_formula(model)
    if model is None or len(words) != 1:
        raise UsageError("--loop takes MODEL DATA, as bp train: e.g. bp export --loop linear data.csv")
    check_model_name(model)
    spec, table = _training_data(model, words[0], target, loss, net=net)
    if spec.tensor and predict:
        raise UsageError("--predict is exported for models of number parameters; this one has tensors")
    points = [_predict_point(p, spec.features) for p in predict]
    trainer = Trainer(spec, table, settings)
    start = dict(trainer.params)  # each step makes new arrays: these stay as training began
    run = trainer.run()
    predictions = [{**p, "yhat": _predict(spec, run.params, p, settings.dtype)} for p in points]
    return loop_script(run, table, predictions, start, trainer.columns)


@app.command(cls=BpCommand, context_settings=VALUE_ARGS, epilog=_epilog(
    "bp quiz --lecture 1",
    "bp quiz --level 2 --seed 7",
    "bp quiz --seed 3 --key > key.json; bp quiz --seed 3 --answers answers.json",
    'bp quiz --formula "(x*w-y)^2" --x 2 --w 3 --y 4 --worksheet sheet.md'))
@handles_errors
def quiz(
    ctx: typer.Context,
    seed: int = typer.Option(1, "--seed", min=0, help="Which exercise: the same seed, the same exercise."),
    level: int = typer.Option(1, "--level", min=1, max=3, help="1: one path per input; 2: a node used "
                              "twice; 3: functions (relu, abs, sqrt, /, ^, max)."),
    formula: Optional[str] = typer.Option(None, "--formula", metavar="FORMULA",
                                          help="Your own formula; values as --x 2 or x=2."),
    values_file: ValuesOpt = None,
    lecture: Optional[int] = typer.Option(None, "--lecture", metavar="1|2", help="The lecture's exercise 1 or 2."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the exercise (or, with --answers, the grade) "
                                          "as JSON.")] = False,
    answers: Optional[str] = typer.Option(None, "--answers", metavar="FILE",
                                          help="Grade the answers in FILE (- for stdin), as --key writes them."),
    key: bool = typer.Option(False, "--key", help="Print the answer key as JSON, in the --answers format."),
    worksheet: Optional[str] = typer.Option(None, "--worksheet", metavar="FILE.md|FILE.tex",
                                            help="Write the exercise to FILE and its key to FILE-key."),
):
    """An exercise like the lecture's: fill in values, local gradients and adjoints, graded."""
    from bpcli.teach import quiz as q
    from bpcli.teach.console import grade_text, quiz_tables
    from bpcli.views.documents import dumps

    ex = _exercise(ctx, seed, level, formula, values_file, lecture)
    if sum([answers is not None, key, worksheet is not None]) > 1:
        raise UsageError("choose one of --answers, --key and --worksheet")
    if key:
        print(dumps(q.key_document(ex)))
    elif answers is not None:
        given = q.read_answers(ex, read_text(answers, "answers file", "JSON"),
                               "stdin" if answers == "-" else answers)
        marks = q.grade(ex, given)
        if as_json:
            print(dumps(q.grade_document(ex, marks)))
        else:
            sys.stdout.write(grade_text(marks))
    elif worksheet is not None:
        from bpcli.streams import write_output
        from bpcli.teach.worksheet import sheets

        written = sheets(ex, worksheet)
        for path, text in written:
            write_output(path, text.encode("utf-8"))
        say_error(f"bp: wrote {' and '.join(p for p, _ in written)}")
    elif as_json:
        print(dumps(q.exercise_document(ex)))
    else:
        console = stdout_console()
        for table in quiz_tables(ex):
            console.print(table)
        if sys.stdin.isatty():
            _quiz_session(ex)
        else:
            print(f"{len(ex.blanks)} blanks: answer with --answers FILE (as --key writes it),\n"
                  "or run bp quiz in a terminal to answer one blank at a time.")


def _exercise(ctx, seed: int, level: int, formula, values_file, lecture):
    from bpcli.engine.values import split_arguments
    from bpcli.teach import quiz as q

    if lecture is not None:
        if formula is not None:
            raise UsageError("--lecture and --formula each choose the exercise: give one")
        return q.lecture(lecture)
    if formula is None:
        if ctx.args:
            raise UsageError(f"unexpected {' '.join(ctx.args)}: values go with --formula")
        return q.generate(level, seed)
    f = load_formula(formula, None)
    _, given = split_arguments(list(ctx.args), formula_given=True)
    point, _ = gather_values(f, given, formula, values_file, options=_long_options(ctx))
    return q.custom(f, point, level, seed)


TRIES = 3  # wrong answers to a blank before bp shows its answer


def _quiz_session(ex) -> None:
    """One blank at a time on the terminal: a hint after a wrong answer, the answer after three."""
    from bpcli.teach import quiz as q
    from bpcli.views.text import plain

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


LINT_EXIT = """Exit codes: 0 no hazard notes (or --exit-zero); 1 hazard notes found; 2 bad input or usage;
130 interrupted."""


@app.command(cls=BpCommand, epilog="Examples:\n" + "\n".join(f"  {e}" for e in (
    'bp lint "log(1 + exp(x))"',
    'bp lint "exp(x) - 1" --range x=-1:1 --samples 1000 --seed 7 --json',
    "bp lint model.bp --exit-zero")) + "\n\n" + LINT_EXIT)
@handles_errors
def lint(
    formula: FormulaArg = None,
    file: FileOpt = None,
    samples: int = typer.Option(200, "--samples", min=1, max=1_000_000, metavar="N",
                                help="Points to run the formula at."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Seed of the points: the same seed, the same notes."),
    ranges: list[str] = typer.Option([], "--range", metavar="NAME=LO:HI",
                                     help="Draw NAME uniformly from LO to HI (repeatable; default: ±1e-12 to ±1000, "
                                          "log-uniform)."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when there are notes."),
    as_json: JsonOpt = False,
    max_size: int = typer.Option(MAX_SIZE, "--max-size", min=0, metavar="N",
                                 help="Refuse formulas longer than N characters (0: no limit)."),
):
    """The hazard notes FORMULA can raise over its inputs' typical ranges, without values:
    it runs at seeded random points and reports each note once, with how many points raised it."""
    from bpcli.check.lint import lint as run_lint
    from bpcli.check.lint import parse_range
    from bpcli.errors import LimitError
    from bpcli.views.documents import dumps
    from bpcli.views.lint_report import lint_document, lint_tables

    f = load_formula(formula, file, max_size)
    try:
        report = run_lint(f, samples, seed, dict(parse_range(r) for r in ranges))
    except LimitError as e:
        raise LimitError(e.message, hint="lower --samples N") from None
    if as_json:
        print(dumps(lint_document(f, report)))
    else:
        console = stdout_console()
        for table in lint_tables(f, report):
            console.print(table)
    if report.findings and not exit_zero:
        raise typer.Exit(1)


@app.command(name="ops", epilog=_epilog("bp ops", "bp ops --json"))
@handles_errors
def ops_command(as_json: Annotated[bool, typer.Option("--json", help="Print the op table as JSON.")] = False):
    """Every operation bp knows, from the op table itself."""
    from bpcli.views.documents import dumps
    from bpcli.views.optable import ops_document, ops_table

    if as_json:
        print(dumps(ops_document()))
    else:
        stdout_console().print(ops_table())


def _terminated(signum, frame):
    """A kill (SIGTERM) unwinds like an exit, so that no half-written file is left behind."""
    raise SystemExit(128 + signum)


def stdout_console():
    from rich.console import Console

    return Console(soft_wrap=False)


def main() -> None:
    """Entry point of the `bp` script: never lets a traceback reach the user."""
    import signal

    from bpcli.streams import guard_standard_streams
    from bpcli.views.text import setup_streams

    guard_standard_streams()
    setup_streams()  # before Click parses anything: `bp --help` is written in the same spelling
    signal.signal(signal.SIGTERM, _terminated)
    # bp's matrix products are small (a chunk of rows by a layer): BLAS threads would only
    # contend for the cores with each other and other programs. Read when numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    every = list(app.registered_commands)
    app.registered_commands[:] = _asked_for(every, sys.argv[1:2])
    try:
        app()
    except KeyboardInterrupt:
        say_error("bp: interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except OSError as e:
        from bpcli.streams import is_stream_error

        if not is_stream_error(e):
            _internal_error(e)
        sys.exit(_stream_failure(e))
    except Exception as e:  # a bug in bp: say so plainly, without a traceback
        _internal_error(e)
    finally:
        app.registered_commands[:] = every


def _asked_for(commands: list, first: list[str]) -> list:
    """The one command the first word names, or all: Typer reads every command's signature
    and type hints on each run, and only the one that runs needs its options built."""
    from typer.main import get_command_name

    named = [c for c in commands if (c.name or get_command_name(c.callback.__name__)) in first]
    return named or commands


def _internal_error(e: Exception) -> None:
    say_error(f"bp: internal error: {type(e).__name__}: {e}\n"
              "This is a bug in bp; please report it with the command you ran.")
    sys.exit(1)
