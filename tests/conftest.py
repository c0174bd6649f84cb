import json
import shutil
import signal

import pytest
from typer.testing import CliRunner

from bpcli.cli import app

# Ctrl-C is tested by sending SIGINT, to this process and to the bp it starts. A shell running a
# script starts a background job (`pytest &`, nohup) with SIGINT ignored, which Python and every
# child would inherit (a Python started so never raises KeyboardInterrupt): Python's own handler
# again, whose children start with the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def bp():
    """Run the CLI in-process: bp("grad", "x^2", "--x", "3") -> Click's Result."""
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(app, list(args), input=input)

    return run


@pytest.fixture
def bp_json(bp):
    """Run the CLI with --json and return the parsed document (asserting exit code 0)."""

    def run(*args, input=None):
        result = bp(*args, "--json", input=input)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout, parse_constant=_reject)

    return run


def _reject(name):
    raise AssertionError(f"non-standard JSON constant {name}")


# Hypothesis profiles: a quick default for every run, a deeper one for CI or a long look
# (pytest --hypothesis-profile=deep).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


# -- system programs: tests that need one that is missing are skipped, saying so ------------
SYSTEM_DEPS = "tools/install-system-deps.sh"
# The program each `requires` name stands for, and the Debian package that has it.
PROGRAMS = {"dot": ("dot", "graphviz"), "pdflatex": ("pdflatex", "texlive-latex-base"),
            "chromium": ("chromium", "chromium")}


def missing_reason(name: str) -> str | None:
    """None when the system program `name` is installed, else the skip reason to print."""
    program, package = PROGRAMS[name]
    if shutil.which(program):
        return None
    return f"{program} is not installed (Debian package {package}): run {SYSTEM_DEPS} to install it"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires(name): the test needs a system program (dot, pdflatex, chromium); "
                   f"skipped with a printed reason when it is missing ({SYSTEM_DEPS} installs them)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires"):
        for name in mark.args:
            reason = missing_reason(name)
            if reason:
                pytest.skip(reason)


# -- a real browser: Debian's chromium driven by Playwright -------------------------------------
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    reason = missing_reason("chromium")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_tab(browser, offline: bool):
    """A fresh tab and the list of what went wrong in it: JavaScript errors, failed requests,
    and (offline) any request that is not for a file: there is no network."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=offline)
    problems: list[str] = []
    if offline:
        def refuse(route):
            problems.append(f"network request: {route.request.url}")
            route.abort()

        context.route(lambda url: not url.startswith("file:"), refuse)
    tab = context.new_page()
    tab.on("pageerror", lambda e: problems.append(f"JS error: {e}"))
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    return context, tab, problems


@pytest.fixture
def page(browser):
    """A tab with the network off; a JavaScript error or any network request fails the test."""
    context, tab, problems = open_tab(browser, offline=True)
    yield tab
    context.close()
    assert problems == []


@pytest.fixture(scope="module")
def server():
    """bp serve on 127.0.0.1 with small limits, for a module's tests (tests/test_web_serve.py, test_web_security.py)."""
    from test_web_serve import serving  # the helper that starts bp serve, waits for it and stops it

    with serving("--max-size", "2000", "--max-nodes", "300") as (_, url):
        yield url


@pytest.fixture
def view(bp, tmp_path):
    """Write a page with bp view; its path (tests/test_web_view.py, test_web_teach.py)."""

    def run(*args):
        out = tmp_path / "page.html"
        result = bp("view", *args, "-o", str(out))
        assert result.exit_code == 0, result.stderr
        return out

    return run
