"""The Typer app: bp's command group and command classes, the words Click must not misread,
and `command`, the one decorator every bp command is declared with."""

from __future__ import annotations

import os

import typer
from typer.core import TyperCommand, TyperGroup

import bpcli
from bpcli.cli import exits, options
from bpcli.errors import UsageError, worded
from bpcli.views.text import setup_streams


class BpGroup(TyperGroup):
    """bp's commands: every error, Click's own included, reaches the user as a `bp: …` line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            with worded(exits.FLAGS):  # options read before a command runs name flags too
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as e:
            code = exits.exit_code(e)
            if code is None:
                raise
        code = code if isinstance(code, int) else 0
        if not standalone_mode:
            return code
        raise SystemExit(code)

    def parse_args(self, ctx, args):
        """bp alone: the help, and exit 2 (as Click 8.2 does; Click 8.1, under typer 0.12 to 0.15, exits 0)."""
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help(), err=True, color=ctx.color)  # typer's Rich help prints itself, returns ""
            raise typer.Exit(exits.USAGE)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx):
        """The commands in the order they were declared (Click 8.1 sorts them by name)."""
        return list(self.commands)


class BpCommand(TyperCommand):
    """A command whose words that start with - but name none of its options (a formula such
    as -sin(x), a value such as -inf) reach it whole, not as a cluster of short options."""

    def parse_args(self, ctx, args):
        shielded = []
        words = _shield(self, ctx, [_recover_utf8(a) for a in args], shielded)
        try:
            rest = super().parse_args(ctx, words)
        except Exception as e:
            if type(e).__name__ == "NoSuchOption":
                _no_such_option(e, ctx)
            raise
        for name, value in ctx.params.items():
            if isinstance(value, str) and value in shielded:
                ctx.params[name] = value[1:]
        ctx.args = [a[1:] if a in shielded else a for a in ctx.args]
        return rest


def _no_such_option(e, ctx) -> None:
    """An option bp does not know here: the one meant, when its name is a common other spelling
    (--learning-rate for --lr); else whose option it is, when another command's (--wrt is bp diff's)."""
    own = {o for p in ctx.command.params for o in p.opts + p.secondary_opts}
    meant = options.OTHER_SPELLINGS.get(e.option_name)
    if meant in own:
        e.possibilities = [meant]
        return
    others = [c for c in owners(e.option_name) if c != ctx.info_name]
    if others:
        whose = " and ".join(f"bp {c}" for c in others)
        raise UsageError(f"{e.option_name} is an option of {whose}, not of bp {ctx.info_name}",
                         hint=f"bp {ctx.info_name} --help lists the options, with examples")


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

VALUE_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}  # values as --x 2 or x=2


def epilog(*examples: str, codes: str = exits.EXIT_CODES) -> str:
    """A command's help ends with examples to copy, then the exit codes."""
    return "Examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + codes


# Each command and the module that declares it, in the order --help lists them (bpcli.cli.declare).
COMMANDS = {"grad": "grad", "train": "train", "graph": "pictures", "view": "pictures", "serve": "pictures",
            "diff": "formulas", "export": "export", "quiz": "quiz", "lint": "formulas", "ops": "formulas",
            "check": "derivation"}
DECLARED: dict = {}  # each command's name -> its function, as declared


def command(*examples: str, name: str | None = None, values: bool = False, shield: bool = True,
            codes: str = exits.EXIT_CODES):
    """Declare a bp command: its help ends with EXAMPLES and the exit codes; values=True lets
    it take values as --x 2 or x=2; shield=True lets words such as -sin(x) reach it whole; its
    errors end as exits.exit_code says."""

    def declare(function):
        DECLARED[name or function.__name__] = function
        settings = {"epilog": epilog(*examples, codes=codes), "name": name}
        if shield:
            settings["cls"] = BpCommand
        if values:
            settings["context_settings"] = VALUE_ARGS
        return app.command(**settings)(exits.handles_errors(function))

    return declare


def owners(option: str) -> list[str]:
    """The commands that take a long option such as --wrt (for a message that says whose it is)."""
    import importlib  # deferred: only an error's path reads every command's options
    import inspect
    import typing

    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(f"bpcli.cli.{module}")
    found = []
    for name, function in DECLARED.items():
        for p in inspect.signature(function).parameters.values():
            infos = [p.default, *getattr(p.annotation, "__metadata__", ())]
            if isinstance(p.annotation, str):  # from __future__ import annotations: the hint, resolved
                hint = typing.get_type_hints(function, include_extras=True).get(p.name)
                infos += list(getattr(hint, "__metadata__", ()))
            decls = [d for i in infos if isinstance(i, typer.models.OptionInfo)
                     for d in (*(i.param_decls or ()), i.default)  # Annotated: the first flag is `default`
                     if isinstance(d, str) and d.startswith("-")]
            if any(option in d.split("/") for d in decls):
                found.append(name)
                break
    return found


def _version(value: bool) -> None:
    if value:
        print(f"bp {bpcli.__version__}")
        raise typer.Exit()


@app.callback()
def _group(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                        help="Print the version and exit.")) -> None:
    """bp: type a formula, see its computational graph and backpropagated gradients."""
    setup_streams()
