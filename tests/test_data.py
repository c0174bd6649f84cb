"""Reading data (bp train's CSV, --at's points, --values files): read once as a stream,
within size bounds, only the columns used checked, and every refusal clear (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args, stdin=None, input=None, timeout=60):
    """bp in a child process (for devices, pipes and FIFOs): (exit code, stdout, stderr)."""
    r = subprocess.run([sys.executable, "-m", "bpcli", *args], stdin=stdin, input=input,
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return str(path)


def refused(r, fragment):
    """Exit 2, the fragment on stderr, nothing that looks like a crash."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert fragment in r.stderr, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


# -- bp train logistic needs a 0/1 target (issue 11, item 9) ------------------------------
@pytest.mark.parametrize("rows, shown", [
    ("1,52\n2,60\n3,86\n", "it has 3 distinct values: 52, 60, 86"),
    ("1,0\n2,1\n3,2\n", "it has 3 distinct values: 0, 1, 2"),
])
def test_logistic_refuses_a_target_that_is_not_0_or_1_naming_the_values(bp, tmp_path, rows, shown):
    r = bp("train", "logistic", write(tmp_path, "s.csv", "hours,score\n" + rows))
    refused(r, "the target score must be 0 or 1 for binary cross-entropy (logistic); " + shown)
    assert "--loss mse" in r.stderr and r.stdout == ""


def test_bce_loss_on_any_model_checks_the_target_too(bp, tmp_path):
    r = bp("train", "sigmoid(w*x)", write(tmp_path, "s.csv", "x,y\n1,0.5\n"), "--loss", "bce")
    refused(r, "the target y must be 0 or 1")


# -- only the columns used must be numbers (item 10) --------------------------------------
def test_train_ignores_a_text_column_the_formula_does_not_use(bp_json, tmp_path):
    data = write(tmp_path, "d.csv", "student,hours,y\nann,1,3\nbob,2,5\n\"c, d\",3,7\n")
    doc = bp_json("train", "w*hours+b", data, "--epochs", "2")
    assert doc["data"]["rows"] == 3 and doc["data"]["features"] == ["hours"]


def test_at_ignores_text_columns_it_does_not_use_in_csv_and_json_lines(bp, tmp_path):
    csv = write(tmp_path, "p.csv", "student,x\nann,2\nbob,3\n")
    r = bp("grad", "x^2", "--at", csv, "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["x,value,grad_x", "2.0,4.0,4.0", "3.0,9.0,6.0"]
    jsonl = write(tmp_path, "p.jsonl", '{"student": "ann", "x": 2}\n{"student": null, "x": 3, "tags": [1]}\n')
    r = bp("grad", "x^2", "--at", jsonl, "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["2.0,4.0,4.0", "3.0,9.0,6.0"]


def test_a_used_column_must_still_be_numbers(bp, tmp_path):
    r = bp("train", "w*hours+b", write(tmp_path, "d.csv", "student,hours,y\nann,1,3\nbob,x,5\n"))
    refused(r, "row 2 (line 3), column hours is not a number: 'x'")


# -- --at: values given win, one-point options refused (item 11) ---------------------------
def test_at_a_value_given_on_the_command_line_wins_for_every_row_and_says_so(bp, tmp_path):
    pts = write(tmp_path, "p.csv", "x,w\n1,10\n2,20\n")
    r = bp("grad", "x*w", "--at", pts, "--w", "5", "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["x,w,value,grad_x,grad_w", "1.0,5.0,5.0,5.0,1.0",
                                     "2.0,5.0,10.0,5.0,2.0"]
    assert "w given as a value: the same in every row, in place of the column" in r.stderr


@pytest.mark.parametrize("flag", ["--json", "--explain", "--hessian"])
def test_at_refuses_options_that_show_one_point(bp, tmp_path, flag):
    pts = write(tmp_path, "p.csv", "x\n1\n")
    r = bp("grad", "x^2", "--at", pts, flag)
    refused(r, f"{flag} shows one point; --at differentiates every row of a file")
    assert "--format jsonl" in r.stderr and r.stdout == ""


# -- --values reads bp's own documents (item 12) ------------------------------------------
def test_values_reads_the_last_document_of_train_jsonl(bp, bp_json, tmp_path):
    data = write(tmp_path, "d.csv", "x,y\n1,2\n2,4\n3,6\n")
    stream = bp("train", "linear", data, "--jsonl", "--epochs", "3").stdout
    assert len(stream.splitlines()) == 4
    w = json.loads(stream.splitlines()[-1])["params"]["w"]
    doc = bp_json("grad", "x*w", "--values", "-", "--x", "2", input=stream)
    assert doc["inputs"] == {"x": 2.0, "w": w}
    cut = stream.splitlines()[0] + "\n" + stream.splitlines()[1][:20]  # training stopped mid-line
    doc = bp_json("grad", "x*w", "--values", "-", "--x", "2", input=cut)
    assert doc["inputs"]["w"] == json.loads(stream.splitlines()[0])["params"]["w"]


def test_values_reads_bp_grad_documents_inputs(bp, bp_json):
    first = bp("grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--json").stdout
    doc = bp_json("grad", "x*w+y", "--values", "-", input=first)
    assert doc["inputs"] == {"x": 2.0, "w": 3.0, "y": 4.0} and doc["value"] == 10.0


def test_values_that_are_not_json_still_say_where(bp):
    refused(bp("grad", "x", "--values", "-", input='{"x": 1,\n"w": }'),
            "not valid JSON at line 2, column 6: Expecting value")


# -- divergence keeps its document (item 13) ----------------------------------------------
@pytest.mark.parametrize("flag", ["--json", "--jsonl"])
def test_divergence_prints_the_document_with_history_and_exits_4(bp, tmp_path, flag):
    data = write(tmp_path, "d.csv", "x,y\n1,52\n2,60\n3,86\n")
    r = bp("train", "linear", data, "--lr", "1", flag)
    assert r.exit_code == 4 and "training diverged in epoch 73" in r.stderr
    doc = json.loads(r.stdout.splitlines()[-1])
    assert doc["diverged"] is True and doc["epochs_run"] == 73 and len(doc["loss"]) == 73
    assert doc["params"]["w"] == 1.659451993898917e+154  # the last finite one


def test_a_run_that_converges_says_diverged_false(bp_json, tmp_path):
    assert bp_json("train", "linear", write(tmp_path, "d.csv", "x,y\n1,2\n"), "--epochs", "2")["diverged"] is False


# -- delimiters and missing cells (item 22) ------------------------------------------------
@pytest.mark.parametrize("text", ["x;y\n1;2\n2;4\n3;6\n", "x\ty\n1\t2\n2\t4\n3\t6\n", "x|y\n1|2\n2|4\n3|6\n"])
def test_semicolon_tab_and_bar_separated_files_are_detected(bp_json, tmp_path, text):
    doc = bp_json("train", "linear", write(tmp_path, "d.csv", text), "--predict", "4")
    assert doc["predictions"][0]["yhat"] == 7.9999999999996945  # the lecture's number


def test_delimiter_option_overrides_detection(bp, tmp_path):
    pts = write(tmp_path, "p.csv", "a;b,c\n1;2,5\n")  # the header has one of each: a comma wins the tie
    r = bp("grad", "a*x", "--at", pts, "--delimiter", ";", "--x", "3", "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1] == "1.0,3.0,3.0,3.0,1.0"
    refused(bp("grad", "x", "--at", pts, "--delimiter", "ab"), "--delimiter must be one character")


@pytest.mark.parametrize("cell, shown", [("", "the cell is empty"), ("NA", "the cell is missing ('NA')"),
                                         ("NaN", "the cell is missing ('NaN')")])
def test_missing_cells_in_a_used_column_hint_at_drop_missing(bp, tmp_path, cell, shown):
    data = write(tmp_path, "d.csv", f"x,y\n1,2\n2,{cell}\n3,6\n")
    r = bp("train", "linear", data)
    refused(r, f"row 2 (line 3), column y: {shown}\nhint: --drop-missing leaves out the rows with missing cells")


def test_drop_missing_drops_those_rows_and_says_how_many(bp, tmp_path):
    data = write(tmp_path, "d.csv", "note,x,y\n,1,2\nx,,4\ny,3,NA\nz,4,8\nw,5,nan\n")
    r = bp("train", "w*x", data, "--drop-missing", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == "bp: note: left out 3 rows with missing cells (rows 2, 3, 5); 2 remain\n"
    assert json.loads(r.stdout)["data"]["rows"] == 2  # the empty note cell is in no used column
    r = bp("train", "linear", write(tmp_path, "e.csv", "x,y\n1,\n"), "--drop-missing")
    refused(r, "every row has a missing cell in x, y")


def test_infinite_cells_are_errors_not_missing(bp, tmp_path):
    refused(bp("train", "linear", write(tmp_path, "d.csv", "x,y\n1,inf\n"), "--drop-missing"),
            "column y must be a finite number, got 'inf'")


# -- long headers, huge cells, line endings (item 26; issue 12) ----------------------------
def test_a_header_longer_than_64_kb_is_read_whole(bp, tmp_path):
    n = 10_000
    text = ",".join(f"column_{i}" for i in range(n)) + "\n" + ",".join(str(i) for i in range(n)) + "\n"
    assert len(text.splitlines()[0]) > 1 << 16
    r = bp("grad", "column_0 + column_9999", "--at", write(tmp_path, "wide.csv", text), "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1] == "0.0,9999.0,9999.0,1.0,1.0"


def test_cells_over_131072_characters_are_read(bp, tmp_path):
    long_number = "0." + "1" * 140_000
    text = f"note,x,y\n{'a' * 200_000},1,{long_number}\n"
    data = write(tmp_path, "d.csv", text)
    r = bp("grad", "x*y", "--at", data, "--no-check")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1] == "1.0,0.1111111111111111,0.1111111111111111,0.1111111111111111,1.0"
    assert bp("train", "w*x", data, "--target", "y", "--epochs", "1").exit_code == 0


@pytest.mark.parametrize("args", [["train", "linear"], ["grad", "x*y", "--no-check", "--at"]])
def test_a_5000_digit_cell_is_refused_briefly(bp, tmp_path, args):
    data = write(tmp_path, "d.csv", "x,y\n1," + "2" * 5000 + "\n")
    r = bp(*args, data)
    refused(r, "column y must be a finite number, got '22222222222222222222…2222222222 (5,000 characters)'")
    assert len(r.stderr) < 300


def test_lone_cr_line_endings(bp, bp_json, tmp_path):
    data = write(tmp_path, "d.csv", b"x,y\r1,2\r2,4\r3,6\r")
    assert bp_json("train", "linear", data, "--predict", "4")["predictions"][0]["yhat"] == 7.9999999999996945
    r = bp("grad", "x*y", "--at", data, "--no-check")
    assert r.stdout.splitlines() == ["x,y,value,grad_x,grad_y", "1.0,2.0,2.0,2.0,1.0", "2.0,4.0,8.0,4.0,2.0",
                                     "3.0,6.0,18.0,6.0,3.0"]


def test_column_names_repeated_far_apart_are_found_quickly(bp, tmp_path):
    names = [f"c{i}" for i in range(200_000)] + ["c7"]
    r = bp("grad", "c0", "--at", write(tmp_path, "p.csv", ",".join(names) + "\n"), "--no-check")
    refused(r, "line 1: the column name c7 appears twice (columns 8 and 200001)")


@pytest.mark.slow
def test_at_with_a_million_columns(tmp_path):
    n = 1_000_000
    text = ",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" for _ in range(n)) + "\n"
    code, out, err = run("grad", "c0*c999999", "--at", write(tmp_path, "p.csv", text), "--no-check", timeout=30)
    assert (code, out, err) == (0, "c0,c999999,value,grad_c0,grad_c999999\n1.0,1.0,1.0,1.0,1.0\n", "")


# -- JSON: huge integers, deep nesting, lone surrogates (issue 12) ---------------------------
def test_a_5000_digit_integer_in_json_is_a_clear_error(bp, tmp_path):
    big = "2" * 5000
    refused(bp("grad", "x", "--values", write(tmp_path, "v.json", '{"x": %s}' % big)),
            "cannot read a number in it: Exceeds the limit (4300 digits)")
    refused(bp("grad", "x", "--at", write(tmp_path, "p.jsonl", '{"x": 1}\n{"x": %s}\n' % big), "--no-check"),
            "line 2: cannot read a number in it")
    refused(bp("grad", "x", "--values", write(tmp_path, "w.json", '{"x": 1%s}' % ("0" * 400))),
            "the value of x must be a finite number, got an integer of 401 digits")


def test_json_nested_100000_deep_is_refused_at_its_bound(bp, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    refused(bp("grad", "x", "--values", write(tmp_path, "v.json", '{"x": %s}' % deep)),
            "line 1: JSON nested more than 100 levels deep")
    pts = write(tmp_path, "p.jsonl", '{"x": 1}\n{"x": %s}\n' % deep)
    refused(bp("grad", "x", "--at", pts, "--no-check"), "p.jsonl: line 2: JSON nested more than 100 levels deep")
    refused(bp("grad", "x", "--values", "-", input=deep), "nested more than 100 levels")


@pytest.mark.slow
def test_lone_surrogates_in_a_values_file_are_shown_escaped(tmp_path):
    values = write(tmp_path, "v.json", '{"x": 2, "\\ud800": 1}')
    for extra in ([], ["--json"]):
        code, out, err = run("grad", "x^2", "--values", values, *extra)
        assert code == 0, err
        assert "\\ud800 is not an input of the formula; ignored" in out + err


def test_unused_keys_of_a_values_file_are_counted_past_a_few(bp, tmp_path):
    keys = {f"k{i}": i for i in range(10_000)}
    r = bp("grad", "x^2", "--values", write(tmp_path, "v.json", json.dumps({"x": 3, **keys})))
    assert r.exit_code == 0, r.stderr
    assert "k0, k1, k2, k3, k4 and 9,995 more are not inputs of the formula; ignored" in " ".join(r.stdout.split())
    assert "k5," not in r.stdout and len(r.stdout) < 5000


def test_unused_keys_of_a_values_file_need_not_be_numbers(bp_json, tmp_path):
    doc = bp_json("grad", "x^2", "--values", write(tmp_path, "v.json", '{"x": 3, "about": "a run"}'))
    assert doc["value"] == 9.0


# -- devices, endless streams, size bounds (issue 12) --------------------------------------
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("args", [["grad", "-f"], ["grad", "x", "--values"], ["grad", "x", "--no-check", "--at"],
                                  ["train", "linear"]])
def test_devices_are_refused_as_not_text_at_once(device, args):
    code, out, err = run(*args, device, timeout=20)
    assert code == 2 and f"{device}: not a text file (it contains NUL bytes)" in err, err
    assert out == ""


@pytest.mark.parametrize("args, flag", [
    (["train", "linear", "-", "--max-data", "1M"], "--max-data"),
    (["grad", "x", "--no-check", "--at", "-", "--max-data", "1M"], "--max-data"),
    (["grad", "x", "--values", "-", "--max-values", "1M"], "--max-values"),
])
def test_an_endless_stream_stops_at_its_size_bound_naming_the_flag(args, flag):
    lines = "x,y\n" + "1,2\n" * 10 if "--values" not in args else '{"x": 1, ' + '"k": 1, ' * 10
    endless = subprocess.Popen([sys.executable, "-c", f"import sys\nwhile True: sys.stdout.write({lines!r})"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        code, out, err = run(*args, stdin=endless.stdout, timeout=30)
    finally:
        endless.kill()
        endless.wait()
    assert code == 2, err
    assert "stdin: more than 1 MiB, the size bound for a" in err
    assert f"hint: raise the bound with {flag} SIZE (0: none)" in err


def test_an_endless_formula_stops_at_max_size():
    endless = subprocess.Popen([sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x+' * 1000)"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        code, out, err = run("grad", "-", "--x", "1", "--max-size", "100000", stdin=endless.stdout)
    finally:
        endless.kill()
        endless.wait()
    assert code == 2 and "the formula is longer than the limit of 100,000" in err


def test_size_bounds_are_checked_for_files_too(bp, tmp_path):
    data = write(tmp_path, "d.csv", "x,y\n" + "1,2\n" * 1000)
    refused(bp("train", "linear", data, "--max-data", "1K"), "d.csv: more than 1 KiB, the size bound for a data file")
    assert bp("train", "linear", data, "--max-data", "0", "--epochs", "1").exit_code == 0
    refused(bp("train", "linear", data, "--max-data", "lots"), "--max-data: 'lots' is not a size such as 500M")


def test_fifo_is_read_once_as_a_stream(tmp_path):
    fifo = tmp_path / "d.csv"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf 'x,y\\n1,2\\n2,4\\n' > {fifo}"])
    code, out, err = run("train", "linear", str(fifo), "--epochs", "1", "--json", timeout=20)
    writer.wait(timeout=5)
    assert code == 0, err
    assert json.loads(out)["data"]["rows"] == 2


def test_process_substitution_and_dev_stdin_are_read_once(tmp_path):
    data = write(tmp_path, "d.csv", "x,y\n1,2\n2,4\n")
    r = subprocess.run(["bash", "-c", f'"$0" -m bpcli train linear <(cat {data}) --epochs 1 --json', sys.executable],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["rows"] == 2
    with open(data, "rb") as f:
        code, out, err = run("train", "linear", "/dev/stdin", "--epochs", "1", "--json", stdin=f)
    assert code == 0 and json.loads(out)["data"]["rows"] == 2, err


def test_invalid_utf8_on_stdin_to_at_names_the_line(bp):
    r = bp("grad", "x", "--at", "-", "--no-check", input=b"x\n1\n2\n\xff\xfe\n")
    refused(r, "stdin: line 4: not UTF-8 text")


def test_per_sample_training_holds_floats_for_a_block_of_rows_not_all(tmp_path):
    """Memory of bp train is that of the float64 columns: the per-sample loop turns a block
    of rows into Python floats at a time (all of them once cost 32 bytes a cell more)."""
    import tracemalloc

    import numpy as np

    from bpcli.data.files import Table
    from bpcli.training.loop import Settings, Trainer, build_model

    rows = 400_000
    x = np.linspace(0, 1, rows)
    table = Table("t", ["x", "y"], {"x": x, "y": 2 * x}, rows)
    model = build_model("linear", table.columns, "y", "t")
    tracemalloc.start()
    steps = Trainer(model, table, Settings(epochs=1))._rows(0)
    for _ in range(100_000):
        next(steps)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 32 * rows  # all rows as floats: 2 * 32 bytes a row
