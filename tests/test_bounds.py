"""Every input bp cannot serve gets a clear refusal (exit 2) in bounded time and memory."""

from __future__ import annotations

import pytest

from bpcli.cli.exits import FLAGS
from bpcli.errors import worded


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e308", "-1", "0.01"])
def test_a_check_timeout_no_clock_can_wait_for_is_refused(bp, seconds):
    r = bp("grad", "x^2", "--x", "1", "--check-timeout", seconds)
    assert r.exit_code == 2 and "--check-timeout must be a number of seconds" in r.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--shuffle", "--seed", "-1"], "--seed"),
    (["--batch-size", "²"], "--batch-size must be a whole number"),
    (["--batch-size", "٣"], "--batch-size must be a whole number"),
])
def test_training_options_out_of_range_are_refused(bp, tmp_path, args, fragment):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    r = bp("train", "linear", str(data), "--epochs", "2", *args)
    assert r.exit_code == 2 and fragment in r.stderr and "internal error" not in r.stderr


# -- --explain -----------------------------------------------------------------------------------
def _explained(text: str, point: dict, steps: int, max_paths: int = 4):
    from bpcli import parse
    from bpcli.views.explain import Budget, explain, path_counts

    f = parse(text)
    r = f.grad(point)
    budget, counts = Budget(steps), path_counts(f)
    return r, budget, [explain(r, n, max_paths, budget, counts) for n in f.inputs]


def test_explain_on_a_long_sum_lists_paths_within_its_step_budget_and_says_so():
    from bpcli.views import results

    n = 5000
    r, budget, found = _explained("+".join(f"x{i}" for i in range(n)), {f"x{i}": 1.0 for i in range(n)}, 50_000)
    listed = [e for e in found if e.paths]
    assert 0 < len(listed) < n and budget.left <= 0
    assert all(e.total_paths == 1 and e.adjoint == 1.0 for e in found)
    assert sum(len(p.edges) for e in found for p in e.paths) <= 50_000  # work and memory bounded
    with worded(FLAGS):  # as bp grad --explain shows it: the view names the setting as the face in force does
        text = results.explain_text(r, found).plain
    assert f"… and {n - len(listed):,} more inputs, whose paths were not listed" in text
    assert "--explain-steps raises it" in text and len(text) < 100_000
    assert "(explain_steps= raises it)" in results.explain_text(r, found).plain  # the library's words


def test_explain_on_a_rebound_chain_walks_each_path_once_without_copies():
    from bpcli.views import results

    lines = 20_000
    text = "a = x\n" + "a = a + x\n" * lines + "a"
    r, budget, (e,) = _explained(text, {"x": 1.0}, 10**7)
    assert e.total_paths == lines + 1 and len(e.paths) == 4 and e.complete
    assert [len(p.edges) for p in e.paths] == [lines, lines, lines - 1, lines - 2]
    shown = results.explain_text(r, [e]).plain
    assert "… 19,988 more factors …" in shown and len(shown) < 5_000  # long paths show their ends


@pytest.mark.slow
def test_an_astronomical_path_count_prints_in_scientific_form(bp):
    squarings = 15_000  # 2^15000 paths: an integer of 4,516 digits, past Python's 4,300
    text = "a = x\n" + "a = a * a\n" * squarings + "a"
    r = bp("grad", text, "--x", "1", "--explain", "--no-check", "--max-paths", "1")
    assert r.exit_code == 0, r.stderr
    assert "∂a/∂x: 2.82e+4515 paths from a to x" in r.stdout
    from bpcli.views.numbers import count_json, count_text

    assert count_text(10**15) == "1.00e+15" and count_text(999_999_999_999_999) == "999,999,999,999,999"
    assert count_json(2**53) == 2**53 and count_json(2**53 + 1) == "9.01e+15"


# -- pictures ------------------------------------------------------------------------------------
SQUARINGS = "a = x\n" + "a = a*a\n" * 31 + "a"


@pytest.mark.parametrize("args, fragment, hint", [
    ([SQUARINGS, "--no-fold"], "the tree would draw 4,294,967,295 lines, more than the limit of 5,000",
     "drop --no-fold"),
    (["0+" + "-" * 100_000 + "x"], "the tree would draw 100,003 lines", "--format dot"),
    (["0+" + "-" * 300 + "x"], "the tree would be 301 levels deep (1,204 columns), more than the limit of 100",
     "--max-depth N"),
    (["+".join(f"x{i}" for i in range(3000)), "--format", "svg"],
     "the graph has 5,999 nodes, more than the 5,000 a --format svg picture draws", "--max-nodes N"),
])
def test_a_picture_past_its_node_bound_is_refused_at_once(bp, args, fragment, hint):
    r = bp("graph", *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert f"bp: too large: {fragment}" in r.stderr and hint in r.stderr


def test_the_bounds_can_be_raised(bp):
    r = bp("graph", "0+" + "-" * 300 + "x", "--max-depth", "0")
    assert r.exit_code == 0 and "303 nodes" in r.stdout
    r = bp("graph", "a = x\n" + "a = a*a\n" * 5 + "a", "--no-fold", "--max-nodes", "63")
    assert r.exit_code == 0 and r.stdout.count("x = a\n") == 32


def test_a_shared_node_is_drawn_where_it_first_appears_and_referred_to_below(bp):
    r = bp("graph", "a=x*y; b=a*a+sin(a); b*x+a")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        "n7: n6 + a", "├── n6: b · x", "│   ├── b = n5: n3 + n4", "│   │   ├── n3: a · a",
        "│   │   │   ├── a = n2: x · y", "│   │   │   │   ├── x", "│   │   │   │   └── y",
        "│   │   │   └── a = n2: x · y  (shown above)", "│   │   └── n4: sin(a)",
        "│   │       └── a = n2: x · y  (shown above)", "│   └── x", "└── a = n2: x · y  (shown above)",
        "8 nodes, 11 edges"]


CHAIN = "0" + "-(0" * 1500 + "-x" + ")" * 1500  # 1,503 nodes, a tree 1,501 levels deep


@pytest.mark.slow
def test_a_tree_wider_than_the_terminal_is_cut_and_the_cut_is_said(bp, monkeypatch):
    from rich.console import Console

    from bpcli.cli import output

    monkeypatch.setattr(output, "stdout_console", lambda: Console(force_terminal=True, width=80, color_system=None))
    r = bp("graph", CHAIN, "--max-depth", "0")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 3004 and lines[-1] == "1,503 nodes, 3,002 edges"  # every line, none dropped
    assert max(map(len, lines)) == 80 and lines[-2].endswith("…")
    assert ("bp: note: 2,967 of the tree's 3,003 lines are wider than this terminal's 80 columns and were "
            "cut at the right (the widest needs 6,009)") in r.stderr
    assert "-o tree.txt" in r.stderr and "--format svg" in r.stderr


@pytest.mark.slow
def test_a_wide_tree_is_whole_in_a_pipe_and_in_a_file(bp, tmp_path):
    piped = bp("graph", CHAIN, "--max-depth", "0")
    assert piped.exit_code == 0 and piped.stderr == ""
    lines = piped.stdout.splitlines()
    assert len(lines) == 3004 and lines[-2] == " " * 6000 + "└── x"
    out = tmp_path / "tree.txt"
    assert bp("graph", CHAIN, "--max-depth", "0", "-o", str(out)).exit_code == 0
    assert out.read_text().splitlines() == lines[:-1]


# -- documents that list every node ------------------------------------------------------------
@pytest.mark.parametrize("option", ["--json", "--all"])
def test_listing_every_node_is_refused_past_the_node_bound_before_any_work(bp, option):
    r = bp("grad", "+".join(["x"] * 10), "--x", "1", option, "--max-nodes", "9")
    assert r.exit_code == 2 and r.stdout == ""
    assert f"bp: too large: {option} lists every node and edge: the formula has 10 nodes, more than the " \
           "limit of 9" in r.stderr and "--max-nodes N" in r.stderr
    assert bp("grad", "+".join(["x"] * 10), "--x", "1", option, "--max-nodes", "10").exit_code == 0


def test_the_default_node_bound_keeps_a_formula_at_the_size_limit_from_listing_gigabytes(bp):
    from bpcli.cli import LISTED_NODES, MAX_SIZE

    # 'x+x+…' at the size limit has a node per two characters: 1,000,000, four times the bound.
    assert MAX_SIZE // 2 >= 4 * LISTED_NODES
    r = bp("grad", "+".join(["x"] * (LISTED_NODES + 1)), "--x", "1", "--json", "--no-check")
    assert r.exit_code == 2 and "more than the limit of 250,000" in r.stderr
