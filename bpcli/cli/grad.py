"""bp grad: the forward and backward pass of a formula at a point, cross-checked, with what is
asked beside it (--explain, --hessian, --forward, --jacobian); --at hands over to points.py."""

from __future__ import annotations

import math

import typer

from bpcli.check import verify
from bpcli.cli import inputs, options, output, points, program
from bpcli.cli.options import FileOpt, FormulaArg, JsonOpt, MaxValuesOpt, PrecisionOpt, ValuesOpt
from bpcli.errors import CheckError, LimitError, ShapeError, TensorOutputError, UsageError
from bpcli.language.parser import located
from bpcli.views import documents, results
from bpcli.views.notes import check_notes, grad_notes, input_notes

SHOW_ALL = typer.Option(False, "--all", help="Show every row of large tables.")
AT = typer.Option(None, "--at", metavar="FILE", help="Gradient at every row of a CSV or JSON Lines file (- for stdin).")
FORMAT = typer.Option(None, "--format", metavar="csv|jsonl|table",
                      help="Output format with --at: each row's inputs, value and gradient (default: "
                      "table on a terminal, csv otherwise).")
EXPLAIN = typer.Option(False, "--explain", help="The chain rule out loud: every path, multiplied.")
MAX_PATHS = options.limit("--max-paths", 4, "Paths shown per input with --explain.", low=1, metavar=None)
EXPLAIN_STEPS = options.limit("--explain-steps", 1_000_000, "Steps of graph walking --explain may take to list "
                              "paths, over all inputs.", low=1)
HESSIAN = typer.Option(False, "--hessian", help="Second derivatives, cross-checked with SymPy.")
MAX_HESSIAN = options.limit("--max-hessian", 1_000, "Refuse --hessian past N inputs (N² entries, a pass each).", low=1)
FORWARD = typer.Option(False, "--forward", help="Forward mode beside reverse mode: a tangent per node and input, "
                       "one pass per input.")
MAX_FORWARD = options.limit("--max-forward", 20_000_000, "Refuse --forward past N node tangents (nodes × inputs; "
                            "tensors: passes × the graph's entries).", low=1)
MAX_NODES = options.limit("--max-nodes", options.LISTED_NODES, "Refuse --json or --all for formulas of more than N "
                          "nodes (0: no limit).")
ALLOW_NONFINITE = typer.Option(False, "--allow-nonfinite",
                               help="Take inf, -inf and nan as values (refused by default).")
JACOBIAN = typer.Option(False, "--jacobian", help="The full Jacobian ∂output/∂input of a tensor (or scalar) output, "
                        "one backward pass per output entry.")
MISTAKE = options.mistake("Run a classic mistake's backward pass beside the right one: recursive, assign, "
                          "detach[:NODE]; list names them.")
MAX_JACOBIAN = options.limit("--max-jacobian", 100, "Refuse --jacobian past N output entries (0: no limit).")


class Asked:
    """What bp grad is asked for at one point, with the bounds of each extra (a plain class: a
    dataclass costs bp's start-up half a millisecond to build)."""

    def __init__(self, as_json: bool, show_all: bool, check: bool, timeout: float, explain: bool, max_paths: int,
                 explain_steps: int, hessian: bool, max_hessian: int, forward: bool, max_forward: int,
                 jacobian: bool, max_jacobian: int, mistake: str | None = None):
        self.as_json, self.show_all, self.check, self.timeout = as_json, show_all, check, timeout
        self.explain, self.max_paths, self.explain_steps = explain, max_paths, explain_steps
        self.hessian, self.max_hessian, self.forward, self.max_forward = hessian, max_hessian, forward, max_forward
        self.jacobian, self.max_jacobian = jacobian, max_jacobian
        self.mistake = mistake  # --mistake NAME[:NODE]

    def one_point_flags(self) -> list[str]:
        return [flag for flag, on in (("--json", self.as_json), ("--explain", self.explain),
                                      ("--hessian", self.hessian), ("--forward", self.forward),
                                      ("--mistake", self.mistake is not None)) if on]


@program.command('bp grad "(x*w-y)^2" --x 2 --w 3 --y 4',
                 'bp grad "y_hat = x*w; loss = (y_hat - y)^2" x=2 w=1 y=4 --json',
                 "bp grad model.bp --values params.json --x 2 --y 4",
                 'bp grad "(x*w-y)^2" --at points.csv --w 3', values=True)
def grad(
    ctx: typer.Context,
    formula: FormulaArg = None,
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    as_json: JsonOpt = False,
    check: bool = options.CHECK,
    check_timeout: float = options.CHECK_TIMEOUT,
    show_all: bool = SHOW_ALL,
    at: str | None = AT,
    out_format: str | None = FORMAT,
    max_size: int = options.MAX_SIZE_OPTION,
    explain_paths: bool = EXPLAIN,
    max_paths: int = MAX_PATHS,
    explain_steps: int = EXPLAIN_STEPS,
    with_hessian: bool = HESSIAN,
    max_hessian: int = MAX_HESSIAN,
    precision: PrecisionOpt = "10",
    forward: bool = FORWARD,
    max_forward: int = MAX_FORWARD,
    max_nodes: int = MAX_NODES,
    allow_nonfinite: bool = ALLOW_NONFINITE,
    with_jacobian: bool = JACOBIAN,
    max_jacobian: int = MAX_JACOBIAN,
    max_data: str = options.max_data("With --at: "),
    max_values: MaxValuesOpt = "128M",
    max_entries: int = options.MAX_ENTRIES_OPTION,
    delimiter: str | None = options.delimiter("With --at: "),
    mistake: str | None = MISTAKE,
):
    """Forward and backward pass of FORMULA at a point: give values as --x 2 or x=2."""
    options.precision(precision)
    if mistake is not None:
        from bpcli.cli import mistakes  # deferred: --mistake's reading and passes, for --mistake only

        if mistake == "list":
            return print(mistakes.listing())
        mistakes.parsed(mistake)
    formula_text, given = inputs.split_formula(formula, ctx.args, file, allow_nonfinite)
    f = inputs.load_formula(formula_text, file, max_size)
    asked = Asked(as_json, show_all, check, check_timeout, explain_paths, max_paths, explain_steps,
                  with_hessian, max_hessian, forward, max_forward, with_jacobian, max_jacobian, mistake)
    _refuse_misfits(f, asked, at, out_format, delimiter, max_nodes)
    point, notes = inputs.gather_values(f, given, formula_text, values_file, complete=at is None,
                                        options=inputs.long_options(ctx), max_values=max_values,
                                        command=ctx.info_name)
    if at is None:
        return one_point(f, point, notes, asked)
    sources = points.Sources(at, out_format, formula_text, values_file, max_data, delimiter)
    return points.grad_at(f, sources, point, notes, check, check_timeout)


def _refuse_misfits(f, asked: Asked, at: str | None, out_format, delimiter, max_nodes: int) -> None:
    """Options that do not go together, refused before any work."""
    if at is None and (asked.as_json or asked.show_all):
        _check_listed(f, max_nodes, "--json" if asked.as_json else "--all")
    if at is not None and asked.jacobian:
        raise UsageError("--jacobian does not go with --at: it is one point's")
    if at is None and out_format is not None:
        raise UsageError("--format goes with --at; for one point use --json")
    if at is None and delimiter is not None:
        raise UsageError("--delimiter goes with --at (a CSV of points)")
    one_point_flags = asked.one_point_flags()
    if at is not None and one_point_flags:
        raise UsageError(f"{' and '.join(one_point_flags)} show{'s' if len(one_point_flags) == 1 else ''} one "
                         "point; --at differentiates every row of a file",
                         hint="for JSON at every row use --format jsonl; for one row drop --at and give its values")


def _check_listed(f, max_nodes: int, option: str) -> None:
    if max_nodes and len(f) > max_nodes:
        raise LimitError(f"{option} lists every node and edge: the formula has {len(f):,} nodes, more than "
                         f"the limit of {max_nodes:,} (about 3.7 KB of memory each)",
                         hint="raise the limit with --max-nodes N (0: none), or leave out " + option)


def one_point(f, point: dict, notes: list, asked: Asked) -> None:
    """The gradient at one point and the extras asked for, printed; exit 3 where a check disagrees."""
    jac = _jacobian(f, point, asked) if asked.jacobian else None
    if jac is not None and jac.output_shape:
        return _print_jacobian(f, point, jac, asked, notes)
    result, checked = tensor_aware(f, lambda: verify.checked_grad(f, point, asked.check, asked.timeout,
                                                                   values_checked=True))
    if result.is_tensor and asked.hessian:
        raise UsageError("--hessian works on scalar formulas; this one has tensors")
    notes = grad_notes(result, notes, checked)
    extras = documents.Extras(
        explanations=_explain(result, asked.max_paths, asked.explain_steps) if asked.explain else None,
        hessian=_hessian(f, point, asked) if asked.hessian else None,
        forward=_forward_mode(f, result, point, asked.max_forward) if asked.forward else None,
        jacobian=jac, output_name=_output_name(f),
        mistake=_mistake(result, asked.mistake) if asked.mistake is not None else None)
    if extras.hessian is not None:
        notes += check_notes(extras.hessian.notes)
    if asked.as_json:
        print(documents.dumps(documents.grad_document(result, point, checked, notes, extras)))
    else:
        output.print_all(results.grad_output(result, checked, extras, None if asked.show_all else 200), notes)
    _fail_on_extras(extras)
    output.fail_on_mismatch(checked)


def _fail_on_extras(extras: documents.Extras) -> None:
    """Exit 3 when the Hessian or forward mode disagrees with its reference."""
    if extras.hessian is not None and extras.hessian.status == "mismatch":
        raise CheckError("the Hessian disagrees with SymPy's second derivatives")
    fm = extras.forward
    if fm is not None and not fm.agrees:
        raise CheckError("forward mode disagrees with reverse mode: " + "; ".join(
            f"∂/∂{t.name}: forward {t.forward!r}, reverse {t.reverse!r}" for t in fm.inputs if not t.agrees))


def tensor_aware(f, run):
    """run() (a gradient of f), its shape errors shown with a caret under the operator, a
    tensor output refused with the way out."""
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
        raise located(f.text, e) from None


def _jacobian(f, point: dict, asked: Asked):
    """The Jacobian of f's output at the point, its bound worded with the flag that raises it."""
    from bpcli.engine.tensor import JacobianLimitError  # deferred: loads the tensor engine, for --jacobian only

    given = [flag for flag, on in (("--explain", asked.explain), ("--hessian", asked.hessian),
                                   ("--forward", asked.forward)) if on]
    if given:
        raise UsageError(f"--jacobian does not go with {', '.join(given)}")
    try:
        return tensor_aware(f, lambda: f.jacobian(point, limit=asked.max_jacobian, checked=True))
    except JacobianLimitError as e:
        raise JacobianLimitError(e.reason, e.entries, e.limit, e.shape, hint="raise the limit with "
                                 "--max-jacobian N (0: none), or take an entry or a sum of the output") from None


def _output_name(f) -> str:
    """What the output is called in Jacobian tables: its last bound name, else `out`."""
    names = f.labels.get(f.output)
    return names[-1] if names else "out"


def _print_jacobian(f, point: dict, jac, asked: Asked, notes: list) -> None:
    """`bp grad --jacobian` of a tensor output: its value, ∂output/∂input per input, and the
    check of every block (exit 3 where it truly disagrees)."""
    checked = None
    if asked.check:
        from bpcli.check import tensorcheck  # deferred: loads the SymPy bridge's modules, for --jacobian only

        checked = tensorcheck.check_jacobian(f, jac, point, asked.timeout)
    notes = input_notes(notes) + check_notes(checked.notes if checked else [])
    if asked.as_json:
        print(documents.dumps(documents.jacobian_full_document(f, point, jac, checked, notes)))
    else:
        output.print_all(results.jacobian_output(f, jac, checked, _output_name(f)), notes)
    output.fail_on_mismatch(checked)


def _explain(result, max_paths: int, steps: int) -> list:
    from bpcli.views import explain  # deferred: loads the path walker and its labels, for --explain only

    budget, counts = explain.Budget(steps), explain.path_counts(result.formula)
    return [explain.explain(result, name, max_paths, budget, counts) for name in result.formula.inputs]


def _mistake(result, text: str):
    from bpcli.cli import mistakes  # deferred: --mistake's passes and words, for --mistake only

    return mistakes.run(result, text)


def _forward_mode(f, result, point: dict, limit: int):
    from bpcli.engine import forward  # deferred: loads forward mode's engine, for --forward only

    if result.is_tensor:  # a pass per input entry, each computing every node's tangent
        passes, entries = forward.tensor_passes(result), sum(math.prod(s) for s in result.shapes)
        work = passes * entries
        what = (f"{work:,} tangent entries ({passes:,} passes, one per input entry, × {entries:,} "
                "entries of the graph)")
    else:
        work = len(f) * len(f.inputs)
        what = f"{work:,} tangents ({len(f):,} nodes × {len(f.inputs):,} inputs)"
    if work > limit:
        raise UsageError(f"--forward would compute {what}, more than the limit of {limit:,}",
                         hint="raise it with --max-forward N")
    return forward.forward_mode(f, result, point)


def _hessian(f, point: dict, asked: Asked):
    from bpcli.check import symbolic  # deferred: loads the SymPy bridge's modules, for --hessian only

    n = len(f.inputs)
    if n > asked.max_hessian:
        raise UsageError(f"--hessian on {n:,} inputs would compute {n ** 2:,} entries, "
                         f"more than the limit of {asked.max_hessian:,} inputs", hint="raise it with --max-hessian N")
    return symbolic.checked_hessian(f, point, asked.timeout if asked.check else None)
