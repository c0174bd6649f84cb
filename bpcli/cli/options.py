"""The options several commands share, each declared once here (its flag, default, bounds and
help), and the one check every number option goes through, so that every command refuses inf,
nan, a negative or an out-of-range number in the same words with the same exit code (2).

As sqlite-utils' `output_options` declares a stack of options once for many commands, a
command here takes `seed: int = options.seed("…")` or `check: bool = options.CHECK`."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from bpcli.engine.entries import MAX_ENTRIES
from bpcli.errors import UsageError
from bpcli.views import settings

# -- the bounds, in the units of the flags that raise them -------------------------------------
MAX_SIZE = 2_000_000  # characters of formula: a few seconds of parsing
# --json and --all list every node and edge, each costing memory and output: the bound keeps
# both near the memory budget (figures in benchmarks/RESULTS.md, "Design figures").
LISTED_NODES = 250_000
PICTURE_NODES = 5_000  # tree lines or Graphviz nodes: what Graphviz lays out in seconds
TREE_DEPTH = 100  # levels of a tree: each adds 4 columns, so a deeper one is wider than any screen
SEED_MAX = 2**63 - 1


# Other spellings of bp's options, as other tools write them: a did-you-mean names bp's.
OTHER_SPELLINGS = {"--learning-rate": "--lr", "--learning_rate": "--lr", "--rate": "--lr", "--epoch": "--epochs",
                   "--n-epochs": "--epochs", "--steps": "--epochs", "--batch": "--batch-size",
                   "--batchsize": "--batch-size", "--optim": "--optimizer", "--hidden-size": "--hidden",
                   "--hidden-sizes": "--hidden", "--layers": "--hidden", "--act": "--activation"}


# -- the one check of a number option ------------------------------------------------------------
class Bounds:
    """Where a number option's value may lie, and how its error says so (a plain class: a
    dataclass costs bp's start-up half a millisecond to build)."""

    __slots__ = ("low", "high", "words", "low_open")

    def __init__(self, low: float, high: float = math.inf, words: str = "", low_open: bool = False):
        self.low, self.high, self.words = low, high, words
        self.low_open = low_open  # low itself is refused (a positive number)


POSITIVE = Bounds(0.0, words="a positive number", low_open=True)
SECONDS = Bounds(0.1, 86_400.0, words="a number of seconds from 0.1 to 86,400 (a day)")


def number(value: float, option: str, bounds: Bounds) -> float:
    """A number option's value, if finite and within its bounds; else bp's usage error (exit 2)."""
    above = value > bounds.low if bounds.low_open else value >= bounds.low
    if not (math.isfinite(value) and above and value <= bounds.high):
        raise UsageError(f"{option} must be {bounds.words}, not {value}")
    return value


def _checked(bounds: Bounds):
    """A Click callback that puts an option's value through `number` as the command line is read."""

    def callback(param: typer.CallbackParam, value: float) -> float:
        return number(value, param.opts[0], bounds)

    return callback


def real(flag: str, default: float, help: str, bounds: Bounds, metavar: str | None = None):
    """A number option (a float): every one is checked by `number`."""
    return typer.Option(default, flag, metavar=metavar, help=help, callback=_checked(bounds))


def limit(flag: str, default: int, help: str, low: int = 0, high: int | None = None, metavar: str = "N"):
    """A whole-number bound such as --max-size N (Click refuses a value below low)."""
    return typer.Option(default, flag, min=low, max=high, metavar=metavar, help=help)


def size(flag: str, default: str, help: str):
    """A byte bound such as --max-data 4G (read by inputs.data_limit)."""
    return typer.Option(default, flag, metavar="SIZE", help=help)


SEED_HELP = "Seeds the tensor parameters' initialisation (--init-scheme) and --shuffle (a whole number >= 0)."


def seed(help: str = SEED_HELP, default: int = 0):
    """--seed: the same seed, the same numbers."""
    return typer.Option(default, "--seed", min=0, max=SEED_MAX, help=help)


# -- what a formula command reads ---------------------------------------------------------------
FormulaArg = Annotated[str | None, typer.Argument(
    metavar="FORMULA", show_default=False,
    help='e.g. "(x*w-y)^2" or "y_hat = x*w; r = y_hat - y; loss = r^2"; - reads stdin; a name '
         "ending in .bp is a file.")]
FileOpt = Annotated[str | None, typer.Option(
    "--file", "-f", metavar="FILE", help="Read the formula from FILE (- for stdin).")]
ValuesOpt = Annotated[str | None, typer.Option(
    "--values", metavar="FILE", help="JSON object of values (or a bp train --json document); - for stdin.")]
MaxValuesOpt = Annotated[str, typer.Option("--max-values", metavar="SIZE",
                                           help="Refuse a --values file larger than SIZE (e.g. 500M; 0: no bound).")]
MAX_SIZE_OPTION = limit("--max-size", MAX_SIZE, "Refuse formulas longer than N characters (0: no limit).")
# every command that evaluates values takes it; exits.handles_errors puts its value in force
MAX_ENTRIES_OPTION = limit("--max-entries", MAX_ENTRIES,
                           "Refuse an array (a value, a node's result, a parameter) of more than N entries, "
                           "before it is made (0: no limit).")
MAX_DATA_HELP = "Refuse a data file larger than SIZE (e.g. 4G; 0: no bound)."
DELIMITER_HELP = "The CSV's delimiter (default: the most frequent of , ; tab | in the header)."


def max_data(prefix: str = ""):
    return size("--max-data", "1G", prefix + MAX_DATA_HELP)


def delimiter(prefix: str = ""):
    return typer.Option(None, "--delimiter", metavar="CHAR", help=prefix + DELIMITER_HELP)


# -- the cross-check ------------------------------------------------------------------------------
CHECK = typer.Option(True, "--check/--no-check", help="Cross-check with SymPy and finite differences.")
CHECK_TIMEOUT = real("--check-timeout", 5.0, "Seconds SymPy may take (0.1 to 86,400).", SECONDS, "SECONDS")

# -- output ---------------------------------------------------------------------------------------
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]
PrecisionOpt = Annotated[str, typer.Option(
    "--precision", metavar="N|full",
    help="Significant digits of the numbers in tables (1 to 17), or full: every digit (JSON always has all).")]


def json_flag(help: str):
    """--json, in a command's own words."""
    return typer.Option(False, "--json", help=help)


def output(help: str, default: str | None = None):
    """-o/--output FILE."""
    return typer.Option(default, "-o", "--output", metavar="FILE", help=help)


def precision(text: str) -> None:
    """Set how many digits tables show, from --precision."""
    if text == "full":
        return settings.set_precision(None)
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 17:
        return settings.set_precision(int(text))
    raise UsageError(f"--precision must be a whole number from 1 to 17 or full, not {text!r}")


def delimiter_char(text: str | None) -> str | None:
    """--delimiter: one character; `tab` or \\t for a tab."""
    if text is None:
        return None
    text = {"tab": "\t", "\\t": "\t"}.get(text.lower(), text)
    if len(text) != 1 or text in ('"', "\n", "\r"):
        raise UsageError(f"--delimiter must be one character such as ; or tab, not {text!r}")
    return text


# -- training: bp train's options, which bp export --loop takes too ----------------------------
class Training:
    """The options that set up a training run, declared once: bp train takes them as they are,
    bp export --loop with its help prefixed."""

    def __init__(self, prefix: str = ""):
        p = prefix
        self.target = typer.Option(None, "--target", help=p + "Target column (default: y, else the last column).")
        self.loss = typer.Option(None, "--loss", help=p + 'mse, bce, or a formula in yhat and y, e.g. "abs(yhat - y)".')
        self.lr = real("--lr", 0.01, p + "Learning rate.", POSITIVE)
        self.epochs = limit("--epochs", None, p + "Passes over the data (default: 100; mlp, softmax: 500).",
                            low=1, metavar="N")
        self.batch_size = typer.Option(None, "--batch-size", metavar="N|all", show_default=False,
                                       help=p + "Rows per step (1: per-sample SGD; all: full batch). Default: 1; "
                                                "mlp, softmax: all.")
        self.dtype = typer.Option("float64", "--dtype", metavar="float64|float32",
                                  help=p + "float32 computes every operation in float32, as PyTorch does.")
        self.init = typer.Option([], "--init", metavar="NAME=VALUE",
                                 help=p + "Initial value of a parameter (default: 1.0).")
        self.predict = typer.Option([], "--predict", metavar="X|NAME=X,…", help=p + "Predict at a point (repeatable).")
        self.param = typer.Option([], "--param", metavar="NAME=SHAPE",
                                  help=p + "A tensor parameter's shape, e.g. W1=16x2 or b1=16 (repeatable).")
        self.init_scheme = typer.Option("uniform", "--init-scheme", metavar="uniform|normal|xavier|zeros",
                                        help=p + "How tensor parameters start, seeded by --seed.")
        self.hidden = typer.Option(None, "--hidden", metavar="N,N,…",
                                   help=p + "Hidden layer sizes of mlp and softmax (mlp: 16,16).")
        self.activation = typer.Option("tanh", "--activation", metavar="tanh|relu|sigmoid|none",
                                       help=p + "The hidden layers' activation (mlp, softmax).")
        self.optimizer = typer.Option(None, "--optimizer", metavar="sgd|momentum|adam", show_default=False,
                                      help=p + "The update: sgd is the lecture's p -= lr*grad (default; mlp, "
                                               "softmax: adam).")
        self.shuffle = typer.Option(False, "--shuffle", help=p + "Shuffle the rows every epoch.")
        self.features = typer.Option(None, "--features", metavar="A,B,…",
                                     help=p + "The columns of the vector `features`, in order (default: all but "
                                              "the target).")


TRAIN = Training()
LOOP = Training("--loop: ")


def batch_size(text: str) -> int | None:
    """--batch-size: a whole number >= 1, or all (None)."""
    if text == "all":
        return None
    if text.isascii() and text.isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"--batch-size must be a whole number >= 1 or all, not {text!r}")


# -- the classic mistakes (bp grad, bp view) --------------------------------------------------------
def mistake(help: str, metavar: str = "NAME|list"):
    """--mistake NAME: a classic mistake run on purpose beside the right computation."""
    return typer.Option(None, "--mistake", metavar=metavar, help=help)
