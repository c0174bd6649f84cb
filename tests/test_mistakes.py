"""The classic mistakes, run beside the right backward pass: each goes wrong where the graph's
shape lets it (a reused non-leaf node, a node used twice, a cut path) and bp says where the
two passes part and why; on a tree it says the formula is immune."""

import json

import pytest

from bpcli import parse
from bpcli.engine import mistakes

LECTURE = "y_hat = x*w; r = y_hat - y; loss = r^2"  # the lecture's exercise: ∂loss/∂w = -8
LECTURE_SQUARED = "y_hat = x*w; r = y_hat - y; loss = r*r"  # the same loss, r used twice
AT = ["--x", "2", "--w", "1", "--y", "4"]


def run(text, point, name, cut=None):
    r = parse(text).grad(point)
    if name == "recursive":
        return r, mistakes.recursive(r)
    if name == "assign":
        return r, mistakes.assign(r)
    return r, mistakes.detach(r, cut)


# -- the engine's wrong passes ------------------------------------------------------------
def test_recursive_fires_a_reused_non_leaf_before_its_second_contribution():
    r, m = run("b = a + a; c = b + b", {"a": 1}, "recursive")
    assert r.adjoints == [4.0, 2.0, 1.0]
    assert m.adjoints == [2.0, 2.0, 1.0]  # b fired holding 1 of its 2; a got 1 + 1
    assert m.first == 0 and m.early == [(1, 1.0)] and m.reused == [1]
    assert m.visits == (3, 7)  # a call per path: c once, b twice, a four times


def test_a_recursion_passing_each_paths_share_down_costs_a_call_per_path_counted_not_made():
    assert mistakes.recursive(parse("x*x").grad({"x": 3})).visits == (2, 3)
    assert mistakes.recursive(parse(LECTURE).grad({"x": 2, "w": 1, "y": 4})).visits == (6, 6)  # a tree: one each
    levels = "a0 = x\n" + "".join(f"a{i + 1} = a{i} * a{i}\n" for i in range(60))
    assert mistakes.visits(parse(levels).grad({"x": 1.0})) == (61, 2**61 - 1)


def test_recursive_is_right_where_only_a_leaf_is_reused_and_on_a_tree():
    for text, point in [("x*x", {"x": 3}), (LECTURE, {"x": 2, "w": 1, "y": 4})]:
        r, m = run(text, point, "recursive")
        assert m.adjoints == r.adjoints and m.first is None and m.reused == []


def test_assign_keeps_the_last_contribution_of_a_node_used_twice():
    r, m = run("x*x", {"x": 3}, "assign")
    assert r.gradient["x"] == 6.0 and m.adjoints[0] == 3.0
    assert m.first == 0 and m.lost == {0: [3.0]}
    r, m = run(LECTURE, {"x": 2, "w": 1, "y": 4}, "assign")
    assert m.first is None and m.reused == [] and m.adjoints == r.adjoints


def test_detach_cuts_the_named_edges_and_default_cut_is_the_reused_nodes_last_use():
    assert mistakes.default_cut(parse("x*x").grad({"x": 3})) == (1, 1)  # x * x.detach()
    assert mistakes.default_cut(parse(LECTURE).grad({"x": 2, "w": 1, "y": 4})) is None
    r, m = run(LECTURE, {"x": 2, "w": 1, "y": 4}, "detach", mistakes.edges_into(parse(LECTURE), 2))
    assert m.cut == [(4, 0)] and m.first == 2 and m.adjoints[1] == 0.0 and r.adjoints[1] == -8.0


@pytest.mark.slow
def test_recursive_runs_without_python_recursion_on_100000_levels():
    depth = 100_000
    text = "a0 = x\n" + "".join(f"a{i + 1} = a{i} + a{i}\n" for i in range(depth))
    f = parse(text)
    r = f.grad({"x": 1.0})
    m = mistakes.recursive(r)
    assert m.first is not None and len(m.early) > 0  # every level reused: the order matters
    chain = parse("a0 = x\n" + "".join(f"a{i + 1} = sin(a{i})\n" for i in range(depth)))
    r = chain.grad({"x": 0.5})
    m = mistakes.recursive(r)
    assert m.first is None and m.adjoints == r.adjoints


# -- the CLI: tables, verdicts, JSON, exit codes -------------------------------------------
def test_mistake_list_names_each_with_a_line(bp):
    r = bp("grad", "--mistake", "list")
    assert r.exit_code == 0 and r.stderr == ""
    names = [line.split()[0] for line in r.stdout.splitlines() if not line.startswith(" ")]
    assert names == ["recursive", "assign", "detach", "no-zero-grad"]
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_recursive_on_a_reused_non_leaf_says_where_and_why_and_exits_0(bp):
    r = bp("grad", "b = a + a; c = b + b", "--a", "1", "--mistake", "recursive", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    table = r.stdout[r.stdout.index("Mistake: recursive"):]
    assert "│ n0   │ a     │           4.0 │           2.0 │ ✗ first │" in table
    words = " ".join(table.split())
    assert "The passes part at n0 (a): the wrong pass gives 2.0, the right one 4.0." in words
    assert "n1 (b) is used by 2 edges and fired" in words and "holding 1.0 of its 2.0" in words
    assert words.endswith("Passing each path's own share down instead (backward(c, g · local), no visited set) "
                          "gets every number right with a call per path: 7 calls for 3 nodes.")


def test_assign_on_x_times_x_json_names_the_first_node_and_what_was_overwritten(bp_json):
    doc = bp_json("grad", "x*x", "--x", "3", "--mistake", "assign", "--no-check")
    m = doc["mistake"]
    assert doc["gradient"] == {"x": 6.0} and m["gradient"] == {"x": 3.0}
    assert m["first"] == "n0" and m["overwritten"] == {"n0": [3.0]} and m["immune"] is False
    assert m["adjoints"] == {"n0": 3.0, "n1": 1.0} and "overwrote 3.0" in m["verdict"]


@pytest.mark.parametrize("name", ["recursive", "assign"])
def test_the_lecture_exercise_is_a_tree_so_immune(bp, bp_json, name):
    doc = bp_json("grad", LECTURE, *AT, "--mistake", name, "--no-check")
    m = doc["mistake"]
    assert m["first"] is None and m["immune"] is True and m["gradient"]["w"] == -8.0 == doc["gradient"]["w"]
    r = bp("grad", LECTURE, *AT, "--mistake", name, "--no-check")
    assert r.exit_code == 0 and r.stderr == "" and "Immune:" in r.stdout and "✗" not in r.stdout
    assert "calls for" not in r.stdout  # a tree: one path to each node, one call each
    if name == "recursive":
        assert m["visits"] == {"nodes": 6, "per_path": 6}


@pytest.mark.parametrize("name, first", [("recursive", "n3"), ("assign", "n4"), ("detach", "n4")])
def test_the_lecture_exercise_with_r_used_twice_gives_minus_4_instead_of_minus_8(bp_json, name, first):
    doc = bp_json("grad", LECTURE_SQUARED, *AT, "--mistake", name, "--no-check")
    assert doc["gradient"]["w"] == -8.0 and doc["mistake"]["gradient"]["w"] == -4.0
    assert doc["mistake"]["first"] == first and doc["ok"] is True


def test_detach_a_named_node_of_the_lecture_cuts_ws_gradient(bp, bp_json):
    doc = bp_json("grad", LECTURE, *AT, "--mistake", "detach:y_hat", "--no-check")
    m = doc["mistake"]
    assert m["cut"] == [{"parent": "n4", "slot": 0, "child": "n2"}] and m["first"] == "n2"
    assert m["gradient"] == {"x": 0.0, "w": 0.0, "y": 4.0}
    assert bp_json("grad", LECTURE, *AT, "--mistake", "detach:n2", "--no-check")["mistake"] == m
    r = bp("grad", LECTURE, *AT, "--mistake", "detach:y_hat", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    assert "Cut: n4 (r) ← n2 (y_hat)." in " ".join(r.stdout.split())


def test_detach_alone_on_a_tree_asks_which_node_and_bad_names_are_usage_errors(bp):
    r = bp("grad", LECTURE, *AT, "--mistake", "detach")
    assert r.exit_code == 2 and r.stdout == ""
    assert "no node is used twice" in r.stderr and "--mistake detach:r" in r.stderr
    r = bp("grad", LECTURE, *AT, "--mistake", "detach:zz")
    assert r.exit_code == 2 and "no node is called 'zz'" in r.stderr
    r = bp("grad", LECTURE, *AT, "--mistake", "typo")
    assert r.exit_code == 2 and "--mistake must be one of recursive, assign, detach" in r.stderr
    r = bp("grad", LECTURE, *AT, "--mistake", "no-zero-grad")
    assert r.exit_code == 2 and "bp train" in r.stderr


def test_a_tensor_formula_runs_the_mistake_too(bp_json):
    m = bp_json("grad", "sum(v*v)", "--v", "[1, 2]", "--mistake", "assign", "--no-check")["mistake"]
    assert m["gradient"] == {"v": [1.0, 2.0]} and m["first"] == "n0"  # v*v: = kept one of 2·v's two halves


def test_a_mistake_run_keeps_the_right_pass_checked_and_json_valid(bp):
    r = bp("grad", "x*x", "--x", "3", "--mistake", "assign", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["check"]["x"]["ok"] is True and doc["mistake"]["first"] == "n0"


# -- the page ------------------------------------------------------------------------------
def test_bp_view_carries_the_mistake_and_shows_where_the_passes_part(bp, page, tmp_path):
    out = tmp_path / "mistake.html"
    r = bp("view", LECTURE_SQUARED, *AT, "--mistake", "assign", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert not page.is_visible("#bp-mistake")  # its adjoints are answers: shown at the walk's end
    page.keyboard.press("End")
    box = page.inner_text("#bp-mistake")
    assert "Mistake: assign, beside the right pass" in box
    assert "The passes part at n4 (r): the wrong pass gives -2.0, the right one -4.0." in box
    assert page.inner_text("#bp-mistake tr.mistake-first").split("\t")[:4] == ["n4", "r", "-4.0", "-2.0"]
    assert page.eval_on_selector_all(".node.mistake-first", "els => els.map(e => e.dataset.id)") == ["n4"]
    assert "∂(r · r)/∂r = r (product rule, accumulated)" in page.inner_text("#bp-tables")


def test_bp_view_says_a_tree_is_immune(bp, page, tmp_path):
    out = tmp_path / "immune.html"
    assert bp("view", LECTURE, *AT, "--mistake", "recursive", "--reveal", "all", "-o", str(out)).exit_code == 0
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#bp-mistake .immune").startswith("Immune: no non-leaf node is reused")
    assert page.eval_on_selector_all(".node.mistake-first", "els => els.length") == 0


# -- bp train --mistake no-zero-grad ---------------------------------------------------------
LECTURE_DATA = "x,y\n1,2\n2,4\n3,6\n"


@pytest.fixture
def lecture_csv(tmp_path):
    path = tmp_path / "lecture.csv"
    path.write_text(LECTURE_DATA)
    return str(path)


def torch_loop(epochs: int, batch_all: bool) -> tuple[list[float], float]:
    """The lecture's PyTorch loop without w.grad.data.zero_(): the .grad each step uses, the last w."""
    torch = pytest.importorskip("torch")
    xs, ys = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]
    w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    used = []
    for _ in range(epochs):
        batches = [(xs, ys)] if batch_all else [([x], [y]) for x, y in zip(xs, ys)]
        for bx, by in batches:
            x, y = torch.tensor(bx, dtype=torch.float64), torch.tensor(by, dtype=torch.float64)
            loss = ((x * w - y) ** 2).mean()
            loss.backward()  # never zeroed
            used.append(w.grad.item())
            w.data = w.data - 0.01 * w.grad.data
    return used, w.item()


def test_no_zero_grad_doubles_the_second_full_batch_step_as_pytorch_without_zero_grad(bp, lecture_csv):
    r = bp("train", "linear", lecture_csv, "--epochs", "3", "--batch-size", "all", "--mistake", "no-zero-grad",
           "--json")
    assert r.exit_code == 0 and r.stderr == ""
    doc = json.loads(r.stdout)
    m = doc["mistake"]
    used, w = torch_loop(3, batch_all=True)
    first, second = m["first_steps"]
    assert first["own"] == first["used"] == {"w": pytest.approx(used[0], rel=1e-12)}
    assert second["used"]["w"] == pytest.approx(used[1], rel=1e-12)
    assert second["used"]["w"] == pytest.approx(first["used"]["w"] + second["own"]["w"], rel=1e-12)
    assert 2.0 < m["used_over_own"][1] < 2.2  # w barely moved: the second gradient is about twice its own
    assert m["params"]["w"] == pytest.approx(w, rel=1e-12)
    right = bp("train", "linear", lecture_csv, "--epochs", "3", "--batch-size", "all", "--json")
    assert doc["params"] == json.loads(right.stdout)["params"]  # the document's own run is the right one
    assert m["loss"][0] == doc["loss"][0] and m["loss"][1] == doc["loss"][1] and m["loss"][2] != doc["loss"][2]


def test_no_zero_grad_per_epoch_table_and_verdict(bp, lecture_csv):
    r = bp("train", "linear", lecture_csv, "--epochs", "4", "--batch-size", "all", "--mistake", "no-zero-grad")
    assert r.exit_code == 0 and r.stderr == ""
    out = r.stdout[r.stdout.index("Mistake: no-zero-grad"):]
    rows = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    assert [c.strip() for c in rows[0]] == ["0", "4.666666667", "4.666666667", "1×"]
    assert [c.strip() for c in rows[1]][3] == "2.1×"
    words = " ".join(out.split())
    assert "At the second step ∂loss/∂w is -8.462222222 of its own, but the step used -17.79555556: 2.1×" in words


def test_no_zero_grad_trace_prints_the_lectures_lines_with_grad_never_zeroed(bp, lecture_csv):
    r = bp("train", "linear", lecture_csv, "--epochs", "2", "--mistake", "no-zero-grad", "--trace")
    assert r.exit_code == 0 and r.stderr == ""
    grads = [float(line.split()[-1]) for line in r.stdout.splitlines() if line.startswith("\tgrad:")]
    used, w = torch_loop(2, batch_all=False)
    assert grads == pytest.approx(used, rel=1e-12) and grads[1] == pytest.approx(-9.84)  # -2 + -7.84
    assert r.stdout.splitlines()[-1] == f"params (after training): w = {w!r}"


def test_training_mistakes_are_refused_where_they_do_not_belong(bp, lecture_csv):
    r = bp("train", "linear", lecture_csv, "--mistake", "assign")
    assert r.exit_code == 2 and "bp grad FORMULA … --mistake assign" in r.stderr
    r = bp("train", "linear", lecture_csv, "--mistake", "no-zero-grad", "--jsonl")
    assert r.exit_code == 2 and "--mistake does not go with --jsonl" in r.stderr
    r = bp("train", "linear", lecture_csv, "--mistake", "zero")
    assert r.exit_code == 2 and "must be no-zero-grad" in r.stderr


def test_no_zero_grad_table_always_shows_the_second_epoch(bp, lecture_csv):
    r = bp("train", "linear", lecture_csv, "--epochs", "40", "--batch-size", "all", "--mistake", "no-zero-grad")
    assert r.exit_code == 0
    out = r.stdout[r.stdout.index("Mistake: no-zero-grad"):]
    epochs = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert epochs[:3] == ["0", "1", "4"] and epochs[-1] == "39"


def test_a_single_step_is_immune_to_no_zero_grad(bp, lecture_csv):
    r = bp("train", "linear", lecture_csv, "--epochs", "1", "--batch-size", "all", "--mistake", "no-zero-grad",
           "--json")
    assert r.exit_code == 0
    m = json.loads(r.stdout)["mistake"]
    assert len(m["first_steps"]) == 1 and "Immune here: one step only" in m["verdict"]
    assert m["params"] == json.loads(r.stdout)["params"]


def test_no_zero_grad_trains_a_tensor_network_too(bp, tmp_path):
    data = tmp_path / "xor.csv"
    data.write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    r = bp("train", "mlp", str(data), "--hidden", "3", "--epochs", "3", "--batch-size", "all",
           "--mistake", "no-zero-grad", "--json")
    assert r.exit_code == 0, r.stderr
    m = json.loads(r.stdout)["mistake"]
    assert len(m["loss"]) == 3 and m["used_over_own"][0] == 1.0 and m["used_over_own"][1] > 1.5
