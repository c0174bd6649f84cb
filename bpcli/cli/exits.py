"""How bp ends: every error becomes one `bp: …` message on stderr and a documented exit code,
decided in one place (`exit_code`), whoever catches it: the command (`handles_errors`), the
command group (Click's own usage errors) or the `bp` script's `main()`. While a command runs,
the settings that errors and notes name are worded as its flags (`Flags`)."""

from __future__ import annotations

import errno
import functools
import os
import sys

import typer

from bpcli.engine import entries
from bpcli.errors import NO_VALUE, BPError, Wording, worded
from bpcli.streams import is_stream_error
from bpcli.views.text import plain

EXIT_CODES = """Exit codes: 0 ok; 2 bad input or usage; 3 a gradient check failed;
4 training diverged; 5 an optional dependency is missing; 130 interrupted."""

USAGE = 2  # bad input or usage (BPError's own code; 3, 4 and 5 are its subclasses')
INTERNAL = 1  # a bug in bp
INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT (128 + 2)
BROKEN_PIPE = 141  # as a shell reports `cat` stopped by SIGPIPE (128 + 13)


def _click_class(name: str) -> type:
    """One of Click's exception classes, found through typer's public BadParameter: typer up to
    0.25 raises Click's own, from 0.26 those of its vendored copy, and exports neither."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


CLICK_ERROR = _click_class("ClickException")


class Flags(Wording):
    """The command line's words: a setting is its flag and the value as typed after it
    (`--batch-size`, `--lr 0.05`, `--hidden 16,16`; a switch set, `--latex`), an input given
    a value `--x VALUE`, its own name after the dashes."""

    NAMES = {"params": "param"}  # the library's keywords that the command line spells otherwise

    def key(self, name: str) -> str:
        return "--" + self.NAMES.get(name, name).replace("_", "-")

    def input_key(self, name: str) -> str:
        return f"--{name}"

    def phrase(self, key: str, shown, switch: bool) -> str:
        return key if shown is NO_VALUE or switch else f"{key} {shown}"

    @staticmethod
    def value(value) -> str:
        if isinstance(value, float):
            return format(value, "g")
        if isinstance(value, (list, tuple)):
            return ",".join(map(str, value))
        return str(value)


FLAGS = Flags()
# The hints for what a refusal's setting (its `lifted_by`) would let through, in the command line's words.
LIFTS = {"allow_nonfinite": "bp grad --allow-nonfinite takes inf, -inf and nan as values, to see what they do",
         "max_entries": "--max-entries N raises the bound (0: none)",
         "max_values": "--max-values SIZE raises the bound (0: none)"}


def say_error(message: str) -> None:
    """One place where errors reach the user: stderr, no traceback (and no error of its own
    when stderr is full or gone: the exit code still tells)."""
    try:
        sys.stderr.write(plain(message).rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def exit_code(e: BaseException) -> int | None:
    """The documented exit code of an error, its message said on stderr; None for an error bp
    does not expect (a bug), which the caller lets through to main()."""
    if isinstance(e, typer.Exit):
        return e.exit_code
    if isinstance(e, BPError) and e.lifted_by in LIFTS and not e.hint:
        e.hint = LIFTS[e.lifted_by]
    if isinstance(e, BPError):
        say_error(f"bp: {e.kind}: {e}")
        return e.exit_code
    if isinstance(e, (KeyboardInterrupt, typer.Abort)):
        say_error("bp: interrupted")
        return INTERRUPTED
    if isinstance(e, CLICK_ERROR):
        say_error(usage_message(e))
        return USAGE
    if isinstance(e, OSError) and is_stream_error(e):
        return _stream_failure(e)
    return None


def usage_message(e) -> str:
    """Click's complaint about the command line, in bp's words."""
    if type(e).__name__ == "NoSuchOption":
        close = f" (did you mean {' or '.join(sorted(e.possibilities))}?)" if e.possibilities else ""
        message = f"no such option {e.option_name}{close}"
    else:
        message = e.format_message()
        message = message[:1].lower() + message[1:]
    ctx = getattr(e, "ctx", None)
    where = f"{ctx.command_path} --help" if ctx is not None else "bp --help"
    return f"bp: usage error: {message.rstrip('.')}\nhint: {where} lists the options, with examples"


def handles_errors(command):
    """A command whose errors (and Ctrl-C, and a stdout that cannot take the output) end in
    their messages and exit codes here, before Click would print its own; a command with
    --max-entries works within its bound, and its settings are worded as flags."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with worded(FLAGS), entries.bounded(kwargs.get("max_entries")):
                done = command(*args, **kwargs)
            sys.stdout.flush()  # here, not at exit, so that a full disk is reported
            return done
        except (BPError, KeyboardInterrupt, OSError) as e:
            code = exit_code(e)
            if code is None:
                raise
            raise typer.Exit(code) from None

    return wrapper


def internal_error(e: BaseException) -> int:
    """A bug in bp: said plainly, without a traceback."""
    say_error(f"bp: internal error: {type(e).__name__}: {e}\n"
              "This is a bug in bp; please report it with the command you ran.")
    return INTERNAL


def _stream_failure(e: OSError) -> int:
    """The exit code for standard output refusing what bp writes."""
    _silence_stdout()
    if e.errno == errno.EPIPE:  # the reader stopped (bp … | head): quietly, as cat does
        return BROKEN_PIPE
    say_error(f"bp: output error: cannot write to standard output: {e.strerror}")
    return USAGE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered fails no more at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
