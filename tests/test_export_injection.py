"""bp export attacked: user text reaches a script only as data (a string literal or a comment),
and user names never collide with the script's own (issue 21). Every generated script compiles,
runs under PyTorch (and JAX), verifies ("ok") and creates no file."""

from __future__ import annotations

import ast
import builtins
import json
import keyword
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from bpcli import parse
from bpcli.errors import BPError
from bpcli.views import export

torch = pytest.importorskip("torch", reason="the exported scripts are run with torch")

HERE = Path(__file__).parent
DOCSTRINGS = {"torch": "bp export --torch: the formula below, checked against PyTorch at one point.",
              "jax": "bp export --jax: the formula below, checked against JAX at one point.",
              "loop": "bp export --loop: the lecture's training loop in PyTorch, for the bp train run below."}

# Text that would end a docstring, a string or a comment, or make an escape the compiler refuses.
HOSTILE_TEXT = [
    '"""; open("PWNED", "w").write("ran"); """',
    "'''; open('PWNED', 'w').write('ran'); '''",
    '\\N', '\\N{', '\\', '\\"""', 'a quote at the end "', "a quote at the end '", 'f"{open(\'PWNED\', \'w\')}"',
    "\\x", "\\u12", "{0}{}%s", "-*- coding: latin-1 -*-", "coding=utf-16",
    'line\rbreak open("PWNED", "w")', "vertical\x0btab", "form\x0cfeed", "file\x1cseparator", "next\x85line",
    "line\u2028separator", "paragraph\u2029separator", "escape\x1b[31m", "delete\x7f", "bidi\u202eoverride",
    "zero\u200bwidth", "ð þ ſ ŋ ω 𝐱 ℌ ﬁ ½",
]


def comment(text: str) -> str:
    """A bp comment holding `text` (bp's comments end at a newline)."""
    return "# " + text


def run_scripts(scripts: dict[str, str], tmp_path: Path, jax: bool = False) -> dict:
    """Compile each script here (its docstring bp's own words), then run them all in one child
    Python, each in a directory of its own: {name: {code, stdout, created}}."""
    tmp_path.mkdir(exist_ok=True)
    before = set(os.listdir(tmp_path))
    folder = tmp_path / "scripts"
    folder.mkdir()
    for name, text in scripts.items():
        tree = ast.parse(text)  # a SyntaxError fails here, naming the script
        assert ast.get_docstring(tree) is not None and ast.get_docstring(tree).split("\n")[0] in DOCSTRINGS.values()
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
    (tmp_path / "work").mkdir()
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    done = subprocess.run([sys.executable, str(HERE / "export_runner.py"), str(folder), str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path / "work", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(os.listdir(tmp_path)) == before | {"scripts", "work"}
    return json.loads(done.stdout)


def assert_all_ok(results: dict, expected: int) -> None:
    assert len(results) == expected
    wrong = {name: r for name, r in results.items()
             if r["code"] != 0 or r["stdout"].splitlines()[-1:] != ["ok"] or r["created"]}
    assert not wrong, json.dumps(wrong, ensure_ascii=False)[:3000]


def point_scripts(text: str, point: dict, key: str, jax: bool) -> dict[str, str]:
    result = parse(text).grad(point)
    out = {f"{key}_torch": export.torch_script(result, point)}
    if jax:
        out[f"{key}_jax"] = export.jax_script(result, point)
    return out


def has_jax() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("jax") is not None
    except ValueError:
        return False


JAX = has_jax()


# -- the attacks of issue 21, through the CLI ------------------------------------------------
PWNED = '# """; open("PWNED","w").write("ran"); """\nx*w\n'


@pytest.mark.slow
@pytest.mark.parametrize("library", ["torch", "jax"])
def test_a_comment_that_closes_the_docstring_runs_nothing_and_the_script_still_verifies(bp, tmp_path, library):
    if library == "jax" and not JAX:
        pytest.skip("jax is not installed")
    model = tmp_path / "model.bp"
    model.write_text(PWNED)
    r = bp("export", "-f", str(model), "--x", "2", "--w", "3", f"--{library}")
    assert (r.exit_code, r.stderr) == (0, "")
    assert '# # """; open("PWNED","w").write("ran"); """\n# x*w\n' in r.stdout
    results = run_scripts({"pwned": r.stdout}, tmp_path)
    assert results["pwned"] == {"code": 0, "stdout": "ok\n", "created": []}


@pytest.mark.slow
def test_a_backslash_n_comment_and_a_loss_ending_in_a_quote_compile(bp, tmp_path):
    scripts = {}
    r = bp("export", "# a \\N in a comment\nx*w", "--x", "2", "--w", "3")
    assert (r.exit_code, r.stderr) == (0, "")
    scripts["comment"] = r.stdout
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    r = bp("export", "--loop", "linear", str(data), "--loss", '(yhat - y)^2 # "', "--epochs", "3")
    assert (r.exit_code, r.stderr) == (0, "")
    assert '# loss = (yhat - y)^2 # "\n' in r.stdout
    scripts["loss"] = r.stdout
    assert_all_ok(run_scripts(scripts, tmp_path), 2)


@pytest.mark.slow
def test_a_data_file_named_to_close_the_docstring_runs_nothing(bp, tmp_path):
    data = tmp_path / 'd""";open("PWNED","w");""".csv'
    data.write_text("x,y\n1,2\n2,4\n")
    r = bp("export", "--loop", "linear", str(data), "--epochs", "3")
    assert (r.exit_code, r.stderr) == (0, "")
    assert f'# on {data} (2 rows), lr 0.01, 3 epochs, float64.\n' in r.stdout
    results = run_scripts({"loop": r.stdout}, tmp_path)
    assert results["loop"]["code"] == 0 and results["loop"]["created"] == []
    assert results["loop"]["stdout"].endswith("\nok\n")


@pytest.mark.slow
@pytest.mark.skipif(not JAX, reason="jax is not installed")
def test_a_jax_input_named_as_a_pullback_keeps_its_value(bp, tmp_path):
    r = bp("export", "--jax", "sin(w)*d_w", "--w", "2", "--d_w", "3")
    assert (r.exit_code, r.stderr) == (0, "")
    assert "n2 = jnp.float64(3.0)  # n2: d_w" in r.stdout and '("n2", "d_w", 3.0, ' in r.stdout
    assert run_scripts({"d_w": r.stdout}, tmp_path)["d_w"] == {"code": 0, "stdout": "ok\n", "created": []}


@pytest.mark.slow
def test_tensor_inputs_named_as_the_scripts_helpers(bp, tmp_path):
    r = bp("export", "sum(entries * zip * list)", "--entries", "[1,2]", "--zip", "[3,4]", "--list", "[5,6]")
    assert (r.exit_code, r.stderr) == (0, "")
    assert run_scripts({"helpers": r.stdout}, tmp_path)["helpers"] == {"code": 0, "stdout": "ok\n", "created": []}


@pytest.mark.slow
@pytest.mark.parametrize("batch", ["1", "2"])
def test_loop_columns_and_parameters_named_as_python_and_the_script(bp, tmp_path, batch):
    columns = ["print", "torch", "float", "loss", "epoch", "lambda", "None"]
    data = tmp_path / "d.csv"
    data.write_text(",".join(columns + ["y"]) + "\n1,2,3,4,5,6,7,2\n2,4,1,2,3,4,5,4\n0.5,1,2,1,0,1,2,1\n")
    model = " + ".join(f"{p}*{c}" for p, c in zip(["x½", "forward", "l", "TRACE", "expected", "w_data", "v1"],
                                                   columns))
    r = bp("export", "--loop", model, str(data), "--epochs", "3", "--lr", "0.001", "--batch-size", batch)
    assert (r.exit_code, r.stderr) == (0, "")
    assert "def forward(v8, v9, v10, v11, v12, v13, v14):" in r.stdout  # the columns, renamed
    assert "    n2 = v1 * v8  # n2: v1 · v8" in r.stdout  # x½ (v1) times print (v8)
    result = run_scripts({"loop": r.stdout}, tmp_path)["loop"]
    assert (result["code"], result["created"], result["stdout"].splitlines()[-1]) == (0, [], "ok")
    assert "params (after training): x1⁄2 = " in result["stdout"] or batch == "2"


# -- the corpus: hostile text in every place a script carries user text ------------------------
def text_scripts(tmp_path: Path, bp) -> dict[str, str]:
    """A script per place and payload: the formula's comments (torch, jax, number and tensor),
    the model's and the loss's comments and the data file's name (the loop, numbers and tensors),
    the class labels (a softmax loop)."""
    scripts = {}
    for k, payload in enumerate(HOSTILE_TEXT):
        note = comment(payload)
        scripts |= point_scripts(f"{note}\nt = tanh(x*w) {note}\nt + w", {"x": 0.5, "w": 1.5}, f"p{k}", JAX)
        scripts |= point_scripts(f"{note}\nsum(tanh(W @ x)) {note}", {"W": np.array([[0.5, 1.0], [2.0, -1.0]]),
                                                                      "x": np.array([0.3, 0.7])}, f"t{k}", JAX)
        folder = tmp_path / "data" / f"{k}{payload.replace('/', '|')}"[:60]
        folder.mkdir(parents=True)
        data = folder / "d.csv"
        data.write_text("x,y\n1,2\n2,4\n")
        labels = folder / "c.csv"
        safe = payload.replace(",", ";").replace("\r", "|").strip() or "blank"
        labels.write_text(f"a,b,kind\n0.1,0.2,{safe}\n0.3,-0.2,dog\n0.5,0.1,{safe}\n-0.4,0.2,dog\n")
        for name, args in {"loop": ["--loop", f"w*x {note}", str(data), "--loss", f"(yhat - y)^2 {note}"],
                           "tloop": ["--loop", "sum(W * features)", str(data), "--param", "W=1",
                                     "--loss", f"(yhat - y)^2 {note}"],
                           "classes": ["--loop", "softmax", str(labels), "--hidden", "2", "--seed", "1"]}.items():
            r = bp("export", *args, "--epochs", "2")
            assert (r.exit_code, r.stderr) == (0, ""), (payload, name)
            scripts[f"{name}{k}"] = r.stdout
    return scripts


@pytest.mark.slow
def test_hostile_text_anywhere_is_data(bp, tmp_path):
    scripts = text_scripts(tmp_path, bp)
    assert_all_ok(run_scripts(scripts, tmp_path / "run", jax=JAX), len(scripts))


def test_hostile_text_becomes_literals_and_comments():
    """Without running: the user's text is in the script only inside a string or a comment."""
    for payload in HOSTILE_TEXT:
        note = comment(payload)
        for text in point_scripts(f"{note}\nt = tanh(x*w) {note}\nt + w", {"x": 0.5, "w": 1.5}, "p", True).values():
            tree = ast.parse(text)
            assert not {"open", "PWNED", "ran"} & {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            assert all(line.isprintable() for line in text.split("\n")), payload
            assert ast.get_docstring(tree).split("\n")[0] == DOCSTRINGS["torch" if "torch" in text else "jax"]


def test_one_function_writes_python_strings_and_comments():
    for payload in HOSTILE_TEXT + ['"', "'", "'\"", "\ud800", "\x00"]:
        assert eval(export.python_string(payload)) == payload  # noqa: S307 - the point of the test
        lines = export.comment_lines(payload)
        assert all(line.startswith("#") and line.isprintable() for line in lines)
        assert ast.parse("\n".join(lines)).body == []
    assert export.python_string("w") == '"w"' and export.python_string('say "hi"') == "'say \"hi\"'"


# -- the corpus: every name the script uses, Python's keywords and builtins, NFKC -------------
def script_names() -> set[str]:
    """Every name the scripts themselves bind or read (their variables and functions included)."""
    point = {"W": np.array([[0.5, 1.0], [2.0, -1.0]]), "x": np.array([0.0, 0.7]), "u": 0.0}
    texts = [*point_scripts("h = tanh(W @ x); sum(abs(h) + abs(x)) + abs(u)", point, "t", True).values(),
             *point_scripts("r = x*w - y; r^2 + abs(x)", {"x": 0.0, "w": 2.0, "y": 1.0}, "p", True).values()]
    names = set()
    for text in texts:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def bp_names(candidates) -> list[str]:
    """The candidates bp accepts as an input's name (sum, abs, ... are its functions)."""
    out = []
    for name in sorted(set(candidates)):
        try:
            f = parse(f"{name} * 1.5")
        except BPError:
            continue
        out.append(name)
        assert list(f.inputs), name
    return out


NFKC = ["ℌ", "H", "ﬁ", "fi", "𝐱", "x²", "x2", "x½", "Ω", "Ω"]  # Ω: U+2126 OHM SIGN
FAMILIES = ["n0", "n1", "n17", "v1", "v2", "g_x", "d_x", "pull_x", "x_data", "_", "_x", "__name__",
            "__builtins__", "nodes", "node", "name", "value", "adjoint", "ours", "bps", "scale", "shape", "grad"]


def hostile_names() -> list[str]:
    return bp_names([*keyword.kwlist, *keyword.softkwlist, *dir(builtins), *script_names(), *export._LOOP,
                     *NFKC, *FAMILIES])


@pytest.mark.slow
def test_hostile_names_never_collide(tmp_path):
    names = hostile_names()
    assert {"print", "torch", "float", "loss", "epoch", "lambda", "None", "entries", "zip", "list", "close",
            "check", "found", "expected", "first_difference", "jnp", "DTYPE", "d_x", "H", "x2"} <= set(names)
    scripts = {}
    rng = np.random.default_rng(0)
    # Every name an input: numbers, and vectors.
    text = " + ".join(f"tanh({n})*{k % 7 + 1}" for k, n in enumerate(names))
    point = {n: float(v) for n, v in zip(parse(text).inputs, rng.uniform(-1, 1, len(names)))}
    scripts |= point_scripts(text, point, "inputs", JAX)
    text = " + ".join(f"sum(tanh({n}))*{k % 7 + 1}" for k, n in enumerate(names))
    point = {n: rng.uniform(-1, 1, 2) for n in parse(text).inputs}
    scripts |= point_scripts(text, point, "vectors", JAX)
    # Every name a bound label, the last one the output.
    text = "; ".join(f"{n} = {'x' if k == 0 else names[k - 1]} * 1.01 + x" for k, n in enumerate(names))
    scripts |= point_scripts(text + "; " + names[-1] + " * x", {"x": 0.5}, "labels", JAX)
    assert_all_ok(run_scripts(scripts, tmp_path, jax=JAX), len(scripts))


@pytest.mark.slow
def test_hostile_names_in_the_training_loop(bp, tmp_path):
    # One name per NFKC form (bp reads ℌ and H as one column), those NFKC changes first.
    by_form = {}
    for name in sorted(hostile_names(), key=lambda n: unicodedata.normalize("NFKC", n) == n):
        by_form.setdefault(unicodedata.normalize("NFKC", name), name)
    names = sorted(n for n in by_form.values() if n.isidentifier() and n not in {"features", "y"})
    assert {"ℌ", "ﬁ", "𝐱", "Ω", "print", "lambda", "l", "v1", "x_data"} <= set(names)
    half = len(names) // 2
    params, columns = names[:half], names[half:2 * half]
    rows = np.random.default_rng(1).uniform(-1, 1, (4, len(columns) + 1))
    data = tmp_path / "d.csv"
    data.write_text(",".join(columns + ["y"]) + "\n" + "".join(",".join(f"{v:.3f}" for v in row) + "\n"
                                                                for row in rows))
    model = " + ".join(f"{p}*{c}" for p, c in zip(params, columns))
    scripts = {}
    for batch in ["1", "2"]:
        r = bp("export", "--loop", model, str(data), "--epochs", "2", "--lr", "0.001", "--batch-size", batch,
               "--predict", ",".join(f"{c}=0.5" for c in columns))
        assert (r.exit_code, r.stderr) == (0, "")
        scripts[f"numbers{batch}"] = r.stdout
        r = bp("export", "--loop", f"sum({params[0]} * features) + {params[1]}", str(data), "--target", columns[0],
               "--param", f"{params[0]}={len(columns)}", "--epochs", "2", "--lr", "0.001", "--batch-size", batch)
        assert (r.exit_code, r.stderr) == (0, "")
        scripts[f"tensors{batch}"] = r.stdout
    assert_all_ok(run_scripts(scripts, tmp_path / "run"), 4)
