"""The commands that draw: bp graph (a tree, Graphviz, Mermaid), bp view (one HTML page that
steps through the passes) and bp serve (that page with a formula box, and its JSON API)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from bpcli.check import verify
from bpcli.cli import inputs, mistakes, options, output, program
from bpcli.cli.exits import say_error
from bpcli.cli.options import FileOpt, FormulaArg, PrecisionOpt, ValuesOpt
from bpcli.errors import MissingDependency, UsageError
from bpcli.teach import predict
from bpcli.views import documents, pictures, settings, walk, web
from bpcli.views.notes import grad_notes

EXTENSIONS = {"gv": "dot", "dot": "dot", "mmd": "mermaid", "mermaid": "mermaid", "svg": "svg", "png": "png",
              "pdf": "pdf", "txt": "tree", "tex": "tikz"}
LAYOUTS = ("auto", "graphviz", "bp")


@program.command('bp graph "(x*w-y)^2"', 'bp graph "(x*w-y)^2" --x 2 --w 3 --y 4',
                 'bp graph "(x*w-y)^2" --x 2 --w 3 --y 4 -o graph.svg', 'bp graph model.bp --format mermaid',
                 'bp graph "(x*w-y)^2" --x 2 --w 3 --y 4 --format tikz --step 9 -o slide9.tex', values=True)
def graph(
    ctx: typer.Context,
    formula: FormulaArg = None,
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    fmt: str | None = typer.Option(None, "--format", metavar="tree|dot|mermaid|svg|png|pdf|tikz",
                                      help="tree: text in the terminal; dot: Graphviz source; mermaid: "
                                           "Mermaid source; svg, png, pdf: pictures drawn by Graphviz; tikz: a "
                                           "standalone LaTeX picture for slides (default: from -o's extension, "
                                           "else tree)."),
    step: int | None = typer.Option(None, "--step", metavar="K", min=0,
                                    help="tikz: the graph as it is after step K of bp view's walk (0: nothing "
                                         "computed; then the forward pass node by node, the seed, the backward "
                                         "pass edge by edge), for a slide sequence."),
    out: str | None = options.output("Write to FILE (replaced whole if it exists; - is stdout)."),
    no_fold: bool = typer.Option(False, "--no-fold", help="Tree: draw shared subtrees every time."),
    max_nodes: int = options.limit("--max-nodes", options.PICTURE_NODES, "Refuse a tree of more than N lines or "
                                   "a Graphviz picture of more than N nodes (0: no limit)."),
    max_depth: int = options.limit("--max-depth", options.TREE_DEPTH, "Refuse a tree more than N levels deep "
                                   "(0: no limit)."),
    max_entries: int = options.MAX_ENTRIES_OPTION,
    precision: PrecisionOpt = "10",
):
    """Draw the computational graph of FORMULA, with values and adjoints when given a point."""

    options.precision(precision)
    formula_text, given = inputs.split_formula(formula, ctx.args, file)
    f = inputs.load_formula(formula_text, file)
    point, _ = inputs.gather_values(f, given, formula_text, values_file, complete=None,
                                    options=inputs.long_options(ctx), command=ctx.info_name)
    result = f.grad(point, checked=True) if point or not f.inputs else None
    fmt = graph_format(fmt, out)
    if fmt == "tree":
        pictures.check_tree(f, not no_fold, max_nodes, max_depth)
    elif fmt in pictures.GRAPHVIZ:
        pictures.check_nodes(f, max_nodes, fmt)
    size = f"{len(f):,} nodes, {sum(len(a) for a in f.args):,} edges"
    to_stdout = out is None or out == "-"
    if step is not None and fmt != "tikz":
        raise UsageError("--step draws a step of the walk as a TikZ picture: give it with --format tikz")
    if fmt == "tikz":
        return _tikz(f, result, point, step, out, size)
    if fmt == "tree" and to_stdout:
        return _print_tree(f, result, not no_fold, size)
    if fmt == "tree":
        data = pictures.tree_text(pictures.tree_lines(f, result, fold=not no_fold)).encode("utf-8")
    else:
        text = pictures.to_mermaid(f, result) if fmt == "mermaid" else pictures.to_dot(f, result)
        if to_stdout and fmt in ("dot", "mermaid"):
            text = pictures.for_stdout(text, fmt)
        data = pictures.render_with_graphviz(text, fmt) if fmt in pictures.GRAPHVIZ else text.encode()
    output.write_file("-" if to_stdout else out, data, size)


def _tikz(f, result, point: dict, step: int | None, out: str | None, size: str) -> None:
    """The TikZ picture (after step K of the walk, if given) to -o or stdout."""
    doc = None if result is None else documents.grad_document(result, point, None, [])
    if step is not None:
        if doc is None:
            raise UsageError("--step needs values: the walk computes them (e.g. --x 2)")
        last = len(walk.steps(doc)) - 1
        if step > last:
            raise UsageError(f"--step {step}: this graph's walk has steps 0 to {last}")
    from bpcli.teach import slides  # deferred: the TikZ writer and its escaping, for --format tikz only

    text = slides.tikz(f, doc, step, settings.current().digits)
    output.write_file(out or "-", text.encode(), size + ("" if step is None else f", step {step}"))


def graph_format(fmt: str | None, out: str | None) -> str:
    """--format, else the one -o's extension names, else tree; a mismatch of the two is refused."""

    if fmt is not None and fmt not in pictures.FORMATS:
        raise UsageError(f"--format must be one of {', '.join(pictures.FORMATS)}, not {fmt!r}")
    name = os.path.basename(out or "")
    ext = name.rsplit(".", 1)[1].lower() if "." in name.lstrip(".") else None
    if ext is None or out == "-":
        return fmt or "tree"
    implied = EXTENSIONS.get(ext)
    if implied is None and fmt is None:
        raise UsageError(f"-o {out}: bp does not know the format of .{ext} files",
                         hint="end the name in " + ", ".join(f".{e}" for e in EXTENSIONS)
                              + ", or choose one with --format")
    if implied is not None and fmt is not None and implied != fmt:
        raise UsageError(f"-o {out} names a .{ext} file but --format is {fmt}",
                         hint=f"drop --format (the extension picks {implied}) or rename the file")
    return fmt or implied


def _print_tree(f, result, fold: bool, size: str) -> None:
    """The tree on standard output: on a terminal each line cut at its width, and the cut said
    (with how to see everything); into a pipe or file every line whole."""

    console = output.stdout_console()
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


@program.command('bp view "(x*w-y)^2" --x 2 --w 3 --y 4',
                 'bp view model.bp --values params.json -o model.html --open', values=True)
def view(
    ctx: typer.Context,
    formula: FormulaArg = None,
    file: FileOpt = None,
    values_file: ValuesOpt = None,
    out: str = options.output("Write the page to FILE (replaced whole if it exists; - is stdout).", "bp-view.html"),
    open_page: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    check: bool = options.CHECK,
    check_timeout: float = options.CHECK_TIMEOUT,
    engine: str = typer.Option("auto", "--layout", metavar="auto|graphviz|bp",
                               help="Who lays the graph out (auto: Graphviz up to 300 nodes, if installed)."),
    large: bool = typer.Option(False, "--large", help="Large fonts, for a projector."),
    reveal: str = typer.Option("step", "--reveal", metavar="step|all",
                               help="step: each number appears at its step (for teaching); all: everything "
                                    "at once (for reading)."),
    predict_first: bool = typer.Option(False, "--predict", help="Start in predict mode: the learner types each "
                                       "number before it is shown, graded as bp quiz grades."),
    max_size: int = options.MAX_SIZE_OPTION,
    max_entries: int = options.MAX_ENTRIES_OPTION,
    mistake: str | None = options.mistake("Show a classic mistake's backward pass beside the right one: "
                                          "recursive, assign, detach[:NODE].", "NAME"),
):
    """Write one HTML page that steps through FORMULA's forward and backward pass."""

    if engine not in LAYOUTS:
        raise UsageError(f"--layout must be auto, graphviz or bp, not {engine!r}")
    if mistake is not None:
        mistakes.parsed(mistake)
    if reveal not in web.REVEALS:
        raise UsageError(f"--reveal must be step or all, not {reveal!r}")
    if predict_first and reveal == "all":
        raise UsageError("--predict asks for each number before it is shown: it cannot be used with --reveal all")
    formula_text, given = inputs.split_formula(formula, ctx.args, file)
    f = inputs.load_formula(formula_text, file, max_size)
    point, notes = inputs.gather_values(f, given, formula_text, values_file, options=inputs.long_options(ctx),
                                        command=ctx.info_name)
    result, checked = verify.checked_grad(f, point, check, check_timeout, values_checked=True)
    doc = documents.grad_document(result, point, checked, grad_notes(result, notes, checked))
    if mistake is not None:
        doc["mistake"] = mistakes.run(result, mistake).document()
    data = predict.embed(web.view_data(f, doc, engine), result, doc)
    if predict_first and "questions" not in data:
        raise UsageError(f"--predict: {data['no_questions']}")
    html = web.page(data, large=large, reveal=reveal, predict=predict_first).encode()
    laid = "Graphviz" if data["layout"]["engine"] == "graphviz" else "bp"
    output.write_file(out, html, f"{len(html) / 1000:,.0f} kB, {len(f):,} nodes laid out by {laid}")
    if out != "-" and open_page:
        import webbrowser  # deferred: loads the browser launcher, for --open only

        uri = Path(out).resolve().as_uri()
        if not webbrowser.open(uri):
            say_error(f"bp: note: no web browser was found to open the page; open {uri} in one")
    output.fail_on_mismatch(checked)


def serve_app():
    """The application bp serve runs (Uvicorn imports it by name in every worker): the page's
    server, with bp quiz's questions for predict mode (teach is above the server's layer)."""
    from bpcli.views.web import server  # deferred: loads Starlette, for bp serve only

    return server.create_app(questions=predict.questions)


@program.command("bp serve", "bp serve --port 8080 --host 0.0.0.0 --workers 2", shield=False)
def serve(
    port: int = options.limit("--port", 8000, "TCP port to listen on.", high=65535, metavar=None),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0: every interface)."),
    workers: int = options.limit("--workers", 1, "Worker processes.", low=1, high=64, metavar=None),
    max_size: int = options.limit("--max-size", 10_000, "Longest formula a request may send.", low=1),
    max_nodes: int = options.limit("--max-nodes", 5_000, "Largest graph a request may build.", low=1),
    timeout: float = options.real("--timeout", 10.0, "Longest computation of one request (then its worker "
                                  "process is killed).", options.SECONDS, "SECONDS"),
    max_entries: int = options.MAX_ENTRIES_OPTION,
    max_response: str = options.size("--max-response", "16M", "Largest answer a request may get (e.g. 64M)."),
    max_computations: int = options.limit("--max-computations", 4, "Computations at once in each worker "
                                          "process (more wait a moment, then get 503).", low=1, high=256),
    read_timeout: float = options.real("--read-timeout", 10.0, "Longest time a request's head, then its body, "
                                       "may take to arrive.", options.SECONDS, "SECONDS"),
    max_connections: int = options.limit("--max-connections", 100, "Open connections in each worker process.",
                                         low=1, high=100_000),
):
    """Serve the page with a formula box, and POST /api/grad answering as bp grad --json."""
    try:
        import starlette  # noqa: F401  # deferred: loads Starlette
        import uvicorn  # deferred: loads Uvicorn
    except ImportError:
        raise MissingDependency("bp serve needs Starlette and Uvicorn, which are not installed",
                                hint="pip install 'backprop-cli[web]'") from None
    import ipaddress  # deferred: for bp serve only
    import signal  # deferred: for bp serve only
    import socket  # deferred: loads socket and selectors, for bp serve only

    if not host.strip():
        raise UsageError("--host needs an address (an empty one would bind every interface)",
                         hint="--host 127.0.0.1 serves this machine only; --host 0.0.0.0 every interface")
    try:
        with socket.create_server((host, port)) as s:
            bound, port = s.getsockname()[:2]  # the real port when --port 0 let the system choose
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}",
                         hint="choose another port with --port N") from None
    response = inputs.data_limit(max_response, "--max-response").size
    from bpcli.views.web import guard, server  # deferred: Starlette's application, for bp serve only

    limits = server.Limits(max_size=max_size, max_nodes=max_nodes, seconds=timeout,
                           check_seconds=min(2.0, timeout / 2), max_entries=max_entries, max_response=response,
                           computations=max_computations, read_seconds=read_timeout,
                           max_connections=max_connections, host=host)
    os.environ[guard.ENV] = server.settings(limits)  # read by every worker process
    shown = f"[{host}]" if ":" in host else host
    say_error(f"bp: serving on http://{shown}:{port}/ ({workers} worker{'s' * (workers > 1)}; Ctrl-C stops)")
    if not ipaddress.ip_address(bound.split("%")[0]).is_loopback:  # 127.0.0.0/8 and ::1 are this machine
        say_error(f"bp: note: {host} is reachable from other machines, and bp serve asks no password")
    # Uvicorn stops on SIGINT and SIGTERM, then (with one worker) raises the signal again to end
    # the process: these handlers, which it restores before that, hear it instead, so that bp
    # stops the same way, with the same exit code, whatever the signal and the worker count.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, lambda signum, frame: None)
    uvicorn.run("bpcli.cli.pictures:serve_app", factory=True, host=host, port=port, workers=workers,
                http=guard.GuardedH11Protocol, log_level="warning", timeout_graceful_shutdown=2)
    say_error("bp: stopped")
