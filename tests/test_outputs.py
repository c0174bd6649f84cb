"""Output files and standard streams: whole files or none, closed and full streams, broken pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(command: str, **kw) -> subprocess.CompletedProcess:
    """`bp …` through a shell (for redirections such as >&-), from this source tree."""
    return subprocess.run(f"{sys.executable} -m bpcli {command}", shell=True, cwd=ROOT,
                          capture_output=True, text=True, **kw)


def no_internal_error(r) -> None:
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr


# -- output files ----------------------------------------------------------------------------
@pytest.mark.parametrize("target, fragment", [
    ("/dev/full", "cannot write /dev/full: No space left on device"),
    ("{tmp}", "cannot write {tmp}: it is a directory"),
    ("{tmp}/missing/g.txt", "cannot write {tmp}/missing/g.txt: there is no directory {tmp}/missing"),
    ("/proc/version", "cannot write /proc/version"),
])
def test_an_output_file_that_cannot_be_written_is_one_line_naming_it(bp, tmp_path, target, fragment):
    target, fragment = (s.replace("{tmp}", str(tmp_path)) for s in (target, fragment))
    r = bp("graph", "x*w", "-o", target)
    assert r.exit_code == 2 and fragment in r.stderr and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(bp, tmp_path, monkeypatch):
    out = tmp_path / "g.txt"
    out.write_text("old picture")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    r = bp("graph", "x*w", "-o", str(out))
    assert r.exit_code == 2 and f"cannot write {out}: No space left on device" in r.stderr
    assert out.read_text() == "old picture" and [p.name for p in tmp_path.iterdir()] == ["g.txt"]


def test_a_written_file_keeps_the_mode_of_the_one_it_replaces(bp, tmp_path):
    out = tmp_path / "g.dot"
    out.write_text("old")
    out.chmod(0o640)
    assert bp("graph", "x*w", "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("digraph") and (out.stat().st_mode & 0o777) == 0o640


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_picture_leaves_the_old_file_whole(tmp_path, sig):
    out = tmp_path / "existing.txt"
    out.write_text("the old tree\n")
    deep = "-" * 30000 + "x"  # slow enough to be interrupted while drawing
    p = subprocess.Popen([sys.executable, "-m", "bpcli", "graph", deep, "--max-nodes", "0", "--max-depth", "0",
                          "-o", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert "internal error" not in err
    assert out.read_text() == "the old tree\n" or out.read_text().startswith("n")  # finished first: whole
    assert [f.name for f in tmp_path.iterdir()] == ["existing.txt"]


def test_dash_o_dash_is_standard_output(bp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = bp("graph", "x*w", "--format", "dot", "-o", "-")
    assert r.exit_code == 0 and r.stdout.startswith("digraph bp") and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, fragment", [("h.jpg", "does not know the format of .jpg files"),
                                            ("h.svg", "names a .svg file but --format is dot")])
def test_an_output_name_that_does_not_fit_the_format_is_refused(bp, tmp_path, name, fragment):
    extra = ["--format", "dot"] if name.endswith(".svg") else []
    r = bp("graph", "x*w", "-o", str(tmp_path / name), *extra)
    assert r.exit_code == 2 and fragment in r.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.requires("dot")
def test_a_pdf_name_draws_a_pdf_with_graphviz(bp, tmp_path):
    out = tmp_path / "h.pdf"
    r = bp("graph", "x*w", "-o", str(out))
    assert r.exit_code == 0 and out.read_bytes().startswith(b"%PDF")


# -- --plot ----------------------------------------------------------------------------------
LECTURE = "x,y\n1,2\n2,4\n3,6\n"


@pytest.mark.parametrize("where", ["{tmp}", "{tmp}/missing/loss.png"])
def test_a_plot_path_that_cannot_be_written_is_refused_before_training(bp, tmp_path, where):
    data = tmp_path / "d.csv"
    data.write_text(LECTURE)
    target = where.replace("{tmp}", str(tmp_path))
    r = bp("train", "linear", str(data), "--epochs", "100000000", "--plot", target)
    assert r.exit_code == 2 and r.stdout == "" and "--plot" in r.stderr  # at once, not after 10⁸ epochs


def test_the_parameters_are_printed_when_the_picture_fails(bp, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from bpcli import streams

    data = tmp_path / "d.csv"
    data.write_text(LECTURE)

    def full(path, data):
        raise streams.OutputError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(streams, "write_output", full)
    r = bp("train", "linear", str(data), "--epochs", "3", "--plot", str(tmp_path / "loss.png"), "--json")
    assert r.exit_code == 2 and '"params"' in r.stdout and "No space left on device" in r.stderr


@pytest.mark.slow
def test_plot_writes_nothing_under_home(tmp_path):
    pytest.importorskip("matplotlib")
    home = tmp_path / "home"
    home.mkdir()
    data = tmp_path / "d.csv"
    data.write_text(LECTURE)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    r = subprocess.run([sys.executable, "-m", "bpcli", "train", "linear", str(data), "--epochs", "3",
                        "--plot", str(tmp_path / "loss.png")], cwd=ROOT, env={**env, "HOME": str(home)},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []


# -- standard streams ------------------------------------------------------------------------
@pytest.mark.parametrize("command, fragment", [
    ("graph 'x*w' --format dot >&-", "standard output is closed"),
    ("grad 'x*2' --at {csv} >&-", "standard output is closed"),
    ("grad 'x*2' --x 1 >&-", "standard output is closed"),
    ("grad - <&-", "standard input is closed"),
    ("train linear - <&-", "standard input is closed"),
    ("grad 'x*2' --at - <&-", "standard input is closed"),
])
def test_a_closed_standard_stream_is_a_clear_error(tmp_path, command, fragment):
    data = tmp_path / "p.csv"
    data.write_text("x\n1\n2\n")
    r = run(command.replace("{csv}", str(data)))
    no_internal_error(r)
    assert r.returncode == 2 and fragment in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["grad 'x*2' --x 1", "grad 'x*2' --x 1 --json", "graph 'x*w'",
                                     "graph 'x*w' --format dot", "diff 'x^2' --no-simplify", "ops",
                                     "ops --json", "train linear {csv} --epochs 2", "grad 'x*2' --at {csv}",
                                     "--help", "grad --help"])
def test_stdout_on_a_full_disk_is_a_clear_error_for_every_command(tmp_path, command):
    data = tmp_path / "d.csv"
    data.write_text(LECTURE)
    r = run(command.replace("{csv}", str(data)) + " > /dev/full")
    no_internal_error(r)
    assert r.returncode == 2 and "cannot write to standard output: No space left on device" in r.stderr


def test_bad_input_with_stderr_closed_still_exits_2():
    assert run("grad 'x*' 2>&-").returncode == 2
    assert run("grad 'x*2' --x 1 > /dev/full 2>&-").returncode == 2


def test_a_reader_that_stops_early_ends_bp_quietly_with_141(tmp_path):
    data = tmp_path / "p.csv"
    data.write_text("x\n" + "".join(f"{i}\n" for i in range(200_000)))
    r = subprocess.run(f"{sys.executable} -m bpcli grad 'x*2' --at {data} | head -1; "
                       "echo status ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", cwd=ROOT,
                       capture_output=True, text=True)
    assert r.stdout == "x,value,grad_x\nstatus 141\n" and r.stderr == ""


# -- terminal escapes --------------------------------------------------------------------------
EVIL = "\x1b[2J\x1b[31mEVIL\x1b]0;PWNED\x07\u202e"


def shows_no_control_characters(output: str) -> None:
    assert not any(c in output for c in "\x1b\x07\u202e"), repr(output)


def test_a_formula_comment_is_echoed_with_its_control_characters_escaped(bp):
    r = bp("grad", f"x # {EVIL}", "--x", "1", "--no-check")
    assert r.exit_code == 0
    shows_no_control_characters(r.stdout)
    assert "\\x1b[2J\\x1b[31mEVIL\\x1b]0;PWNED\\x07\\u202e" in r.stdout


def test_a_formula_comment_is_never_read_as_rich_markup(bp):
    r = bp("grad", "x # [/oops] [bold]B", "--x", "1", "--no-check")
    assert r.exit_code == 0 and "[/oops] [bold]B" in r.stdout


def test_a_csv_header_in_an_error_is_escaped(bp, tmp_path):
    data = tmp_path / "evil.csv"
    data.write_text(f"x,{EVIL}\n1,2\n")
    r = bp("train", "w*x", str(data), "--target", "x")
    assert r.exit_code == 2 and "\\x1b[31mEVIL" in r.stderr
    shows_no_control_characters(r.stderr)


def test_an_unknown_values_key_in_a_note_is_escaped(bp, tmp_path):
    values = tmp_path / "v.json"
    values.write_text('{"x": 1, "\\u001b]0;PWNED\\u0007": 2}')
    r = bp("grad", "x*2", "--values", str(values), "--no-check")
    assert r.exit_code == 0 and "\\x1b]0;PWNED\\x07" in r.stdout
    shows_no_control_characters(r.stdout)
