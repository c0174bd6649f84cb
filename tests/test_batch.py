"""Many points at once: arrays through the compiled tape, and `bp grad --at`."""

import json
import math

import numpy as np
import pytest

from bpcli import parse
from bpcli.engine.numeric import ArrayMath
from bpcli.engine.ops import ELEMENTWISE, OPS

MANY = ArrayMath("float64")  # arrays as many points of a scalar formula (not one tensor)

ARITHMETIC = ["(x*w-y)^2", "x/y - w*x + -y", "max(x, w) * min(y, x) + abs(x - y) + relu(w)",
              "y_hat = x*w; r = y_hat - y; loss = r*r"]
TRANSCENDENTAL = ["tanh(x*w) + sigmoid(y) * sin(x) - cos(w) + exp(y/4) + softplus(x)",
                  "log(abs(x) + 1) * sqrt(abs(w)) + tan(y/3)"]


def points(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-2, 2, n) for k in "xwy"}


@pytest.mark.parametrize("text", ARITHMETIC)
def test_arrays_equal_one_point_results_bit_for_bit(text):
    f = parse(text)
    pts = {k: v for k, v in points().items() if k in f.inputs}
    batch = f.grad(pts, MANY)
    for row in range(50):
        one = f.grad({k: float(v[row]) for k, v in pts.items()})
        assert batch.value[row] == one.value
        for name, g in one.gradient.items():
            assert np.broadcast_to(batch.gradient[name], (50,))[row] == g


@pytest.mark.parametrize("text", TRANSCENDENTAL)
def test_arrays_match_one_point_results_within_libm_differences(text):
    f = parse(text)
    pts = points()
    batch = f.grad(pts, MANY)
    for row in range(50):
        one = f.grad({k: float(v[row]) for k, v in pts.items()})
        assert batch.value[row] == pytest.approx(one.value, rel=1e-14, abs=1e-15)
        for name, g in one.gradient.items():
            assert batch.gradient[name][row] == pytest.approx(g, rel=1e-13, abs=1e-14)


@pytest.mark.parametrize("op", [OPS[k] for k in ELEMENTWISE], ids=ELEMENTWISE)
def test_compiled_tape_equals_graph_evaluation_on_every_op(op):
    """The tape's passes against the op table's own rules applied by hand, one op at a time."""
    from bpcli.engine.numeric import FLOAT

    call = {"add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b", "neg": "-a",
            "pow": "a ^ b"}.get(op.name, op.syntax.format("a", "b") if op.syntax else
                                f"{op.name}({', '.join('abc'[:op.arity])})")
    f = parse(call)
    for a, b, c in [(0.7, 1.3, 2.0), (2.5, 0.5, 1.0), (1.5, 1.5, 1.5)]:
        args = (a, b, c)[:op.arity]
        r = f.grad(dict(zip("abc", args)))
        out = op.forward(FLOAT, *args)
        assert r.value == out or (math.isnan(r.value) and math.isnan(out))
        for name, p in zip("abc", op.partials):
            g, want = r.gradient[name], p(FLOAT, out, *args)
            assert g == want or (math.isnan(g) and math.isnan(want))


def test_scalars_broadcast_against_columns():
    f = parse("(x*w-y)^2")
    x = np.array([1.0, 2.0, 3.0])
    r = f.grad({"x": x, "w": 1.0, "y": 2.0}, MANY)
    assert r.value.tolist() == [1.0, 0.0, 1.0]
    assert r.gradient["w"].tolist() == [-2.0, 0.0, 6.0]


def test_at_csv_gives_a_row_per_point(bp, tmp_path):
    pts = tmp_path / "points.csv"
    pts.write_text("x,w,y\n2,3,4\n1,1,2\n\n2,1,4\n")
    r = bp("grad", "(x*w-y)^2", "--at", str(pts), "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["value,grad_x,grad_w,grad_y", "4.0,12.0,8.0,-4.0",
                                     "1.0,-2.0,-2.0,2.0", "4.0,-4.0,-8.0,4.0"]


def test_at_jsonl_from_stdin_with_fixed_values(bp):
    r = bp("grad", "(x*w-y)^2", "--at", "-", "--y", "4", "--format", "jsonl",
           input='{"x": 2, "w": 3}\n{"x": 1, "w": 1}\n')
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows == [{"value": 4.0, "gradient": {"x": 12.0, "w": 8.0, "y": -4.0}},
                    {"value": 9.0, "gradient": {"x": -6.0, "w": -6.0, "y": 6.0}}]


def test_at_checks_the_first_rows_with_sympy(bp, tmp_path, monkeypatch):
    pts = tmp_path / "p.csv"
    pts.write_text("x\n0.5\n1.5\n")
    assert bp("grad", "sin(x)", "--at", str(pts)).exit_code == 0
    broken = OPS["sin"].__class__(**{**OPS["sin"].__dict__, "partials": (lambda m, out, a: 2.0 + 0 * a,)})
    monkeypatch.setitem(OPS, "sin", broken)
    r = bp("grad", "sin(x)", "--at", str(pts))
    assert r.exit_code == 3 and "row 1: ∂/∂x" in r.stderr


def test_at_streams_more_rows_than_one_chunk(bp, tmp_path, monkeypatch):
    import bpcli.data.files

    monkeypatch.setattr(bpcli.data.files, "CHUNK_ROWS", 7)
    pts = tmp_path / "p.csv"
    pts.write_text("x\n" + "".join(f"{i}\n" for i in range(30)))
    r = bp("grad", "x^2", "--at", str(pts), "--no-check")
    assert r.stdout.splitlines()[1:] == [f"{float(i * i)},{float(2 * i)}" for i in range(30)]


def test_at_bad_cell_in_a_later_chunk_names_its_row_and_line(bp, tmp_path, monkeypatch):
    import bpcli.data.files

    monkeypatch.setattr(bpcli.data.files, "CHUNK_ROWS", 7)
    rows = [f"{i},1" for i in range(30)]
    rows[19] = "19,oops"
    pts = tmp_path / "p.csv"
    pts.write_text("\n".join(["x,w", ""] + rows[:4] + [""] + rows[4:]) + "\n")  # blank lines 2 and 7
    r = bp("grad", "x*w", "--at", str(pts), "--no-check")
    assert r.exit_code == 2
    assert "row 20 (line 23), column w is not a number: 'oops'" in r.stderr


def test_at_reads_cells_numpy_refuses_as_python_does(bp, tmp_path):
    pts = tmp_path / "p.csv"
    pts.write_text('x,w\n"1.5", 2\n1_000,3\n')
    r = bp("grad", "x*w", "--at", str(pts), "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["3.0,2.0,1.5", "3000.0,3.0,1000.0"]


@pytest.mark.parametrize("header, fragment", [
    ("x,x", "line 1: the column name x appears twice"),
    ("x,", "line 1, column 2: the header has an empty column name"),
])
def test_at_refuses_the_headers_train_refuses(bp, tmp_path, header, fragment):
    pts = tmp_path / "p.csv"
    pts.write_text(f"{header}\n1,2\n")
    r = bp("grad", "x^2", "--at", str(pts), "--no-check")
    assert r.exit_code == 2 and fragment in r.stderr


def test_at_jsonl_across_chunks_with_blank_lines(bp, tmp_path, monkeypatch):
    import bpcli.data.files

    monkeypatch.setattr(bpcli.data.files, "CHUNK_ROWS", 3)
    lines = ["", ""] + [f'{{"x": {i}}}' for i in range(8)] + [""]
    pts = tmp_path / "p.jsonl"
    pts.write_text("\n".join(lines) + '\n{"x": "bad"}\n')
    r = bp("grad", "x^2", "--at", str(pts), "--no-check", "--format", "jsonl")
    assert r.stdout.splitlines()[7] == '{"value": 49.0, "gradient": {"x": 14.0}}'
    assert r.exit_code == 2 and "line 12: the value of x is not a number: \"bad\"" in r.stderr


@pytest.mark.parametrize("content, name, fragment", [
    ("x,w,y\n2,3,4\n1,a,2\n", "p.csv", "row 2 (line 3), column w is not a number: 'a'"),
    ("x,w,y\n2,3\n", "p.csv", "row 1 (line 2) has 2 cells, the header has 3"),
    ("x,w,y\n2,,4\n", "p.csv", "row 1 (line 2), column w: the cell is empty"),
    ("x,w\n2,3\n", "p.csv", "no value for y"),
    ('{"x": 2, "w": 3, "y": 1}\n{"x": [1]}\n', "p.jsonl", "line 2: the value of x is not a number: [1]"),
    ('{"x": 2, "w": 3, "y": 1}\nnot json\n', "p.jsonl", "line 2, column 1: not valid JSON"),
    ("", "p.csv", "the file is empty"),
])
def test_at_bad_rows_name_file_row_and_column(bp, tmp_path, content, name, fragment):
    pts = tmp_path / name
    pts.write_text(content)
    r = bp("grad", "(x*w-y)^2", "--at", str(pts), "--no-check")
    assert r.exit_code == 2
    assert fragment in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("ascii_only", [False, True])
def test_jsonl_rows_are_what_dumps_writes_row_by_row(ascii_only):
    from bpcli.views import documents, settings

    names = ["x", "ω", "w_2"]
    inf, nan = float("inf"), float("nan")
    columns = [[1.0, -0.0, 1e300, 0.1], [inf, 2.5, -inf, nan], [3.0, 1e-320, -7.25, 2.0], [0.0, 1.0, 2.0, 3.0]]
    with settings.using(ascii=ascii_only):
        expected = "".join(
            documents.dumps({"value": documents.json_number(row[0]),
                             "gradient": {n: documents.json_number(g) for n, g in zip(names, row[1:])}}) + "\n"
            for row in zip(*columns))
        assert documents.jsonl_rows(names, columns) == expected


def test_at_jsonl_values_that_are_not_plain_numbers_are_refused_where_they_are(bp, tmp_path):
    for bad, shown in [("true", "true"), ('"2"', '"2"'), ("[1]", "[1]"), ("null", "null")]:
        pts = tmp_path / "p.jsonl"
        pts.write_text('{"x": 2}\n{"x": 3}\n{"x": %s}\n' % bad)
        r = bp("grad", "x^2", "--at", str(pts), "--no-check", "--format", "jsonl")
        assert r.exit_code == 2, bad
        assert f"line 3: the value of x is not a number: {shown}" in r.stderr


def test_at_jsonl_big_integers_and_mixed_numbers_read_as_python_floats(bp, tmp_path):
    pts = tmp_path / "p.jsonl"
    pts.write_text('{"x": 9007199254740993}\n{"x": 1.5}\n{"x": -3}\n')
    r = bp("grad", "x", "--at", str(pts), "--no-check")
    assert r.stdout.splitlines()[1:] == [f"{float(9007199254740993)!r},1.0", "1.5,1.0", "-3.0,1.0"]


def test_jsonl_keys_that_contain_true_or_null_keep_the_fast_reader():
    """Only true/false/null as values send a block to bp's own reader; inside a key they are
    just letters (a column "nullable" once sent every block of its file the slow way)."""
    from bpcli.data.batch import _json_block

    block = ['{"nullable": 1.5, "truex": 2}\n', '\n', '{"nullable": -3, "truex": 0.25}\n']
    assert _json_block(block, ["nullable", "truex"]).tolist() == [[1.5, 2.0], [-3.0, 0.25]]
    for literal in ["true", "false", "null"]:
        assert _json_block(['{"nullable": %s, "truex": 2}\n' % literal], ["nullable", "truex"]) is None


def test_at_has_a_table_for_people_with_each_rows_inputs_beside_its_gradient(bp, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("x,y\n2,4\n1,2\n")
    r = bp("grad", "(x*w-y)^2", "--at", str(points), "--w", "3", "--format", "table", "--no-check")
    assert (r.exit_code, r.stderr) == (0, "")
    lines = r.stdout.splitlines()
    assert lines[0].strip() == "Rows 1 to 2"
    assert [c.strip() for c in lines[2].split("┃")[1:-1]] == ["row", "x", "w", "y", "value", "∂/∂x", "∂/∂w", "∂/∂y"]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    assert rows == [["1", "2.0", "3.0", "4.0", "4.0", "12.0", "8.0", "-4.0"],
                    ["2", "1.0", "3.0", "2.0", "1.0", "6.0", "2.0", "-2.0"]]
    r = bp("grad", "x^2", "--at", str(points), "--format", "html")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "bp: usage error: --format must be csv, jsonl or table, not 'html'\n"
