"""Options shared by several commands are declared once and checked by one function: every
command refuses the same value in the same words, with the same exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest

SECONDS = "bp: usage error: --check-timeout must be a number of seconds from 0.1 to 86,400 (a day), not {}\n"


@pytest.mark.parametrize("command", ["grad", "view"])
@pytest.mark.parametrize("value, shown", [("inf", "inf"), ("nan", "nan"), ("-1", "-1.0"), ("1e308", "1e+308")])
def test_grad_and_view_refuse_a_check_timeout_alike(bp, tmp_path, command, value, shown):
    out = ["-o", str(tmp_path / "page.html")] if command == "view" else []
    r = bp(command, "x^2", "--x", "3", "--check-timeout", value, *out)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", SECONDS.format(shown))
    assert not (tmp_path / "page.html").exists()


@pytest.mark.parametrize("command", ["grad", "view"])
def test_the_bp_script_refuses_an_infinite_check_timeout_as_a_usage_error(tmp_path, command):
    """bp view --check-timeout inf used to end in `internal error: OverflowError` (exit 1)."""
    page = ["-o", "page.html"] if command == "view" else []
    out = subprocess.run([sys.executable, "-m", "bpcli", command, "x^2", "--x", "3", "--check-timeout", "inf", *page],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", SECONDS.format("inf"))


@pytest.mark.parametrize("args", [["train", "linear", "DATA"], ["export", "--loop", "linear", "DATA"]])
@pytest.mark.parametrize("value", ["inf", "nan", "-0.1", "0"])
def test_train_and_export_refuse_a_learning_rate_alike(bp, tmp_path, args, value):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    r = bp(*[str(data) if a == "DATA" else a for a in args], "--lr", value)
    shown = {"-0.1": "-0.1", "0": "0.0"}.get(value, value)
    expected = f"bp: usage error: --lr must be a positive number, not {shown}\n"
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", expected)


@pytest.mark.parametrize("value", ["inf", "nan", "0.01"])
def test_serve_refuses_a_timeout_before_it_listens(bp, value):
    r = bp("serve", "--timeout", value, "--port", "0")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: usage error: --timeout must be a number of seconds from 0.1 to 86,400 (a day), "
                        f"not {value}\n")


@pytest.mark.parametrize("args", [["grad", "x", "--x", "1"], ["view", "x", "--x", "1"], ["lint", "x"]])
def test_the_formula_size_limit_is_one_option(bp, args):
    r = bp(*args, "--max-size", "-1")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("bp: usage error: invalid value for '--max-size': -1 is not in the range x>=0\n")
