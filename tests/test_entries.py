"""One bound on tensor entries (--max-entries, the library's max_entries=) and on tensor rank:
every array is counted from its shape before it is made, and past the bound bp refuses at once
(exit 2, the array and its shape named), in bounded time and memory."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
from numpy.lib import format as npy

from bpcli.engine.entries import MAX_ENTRIES, MAX_RANK

HINT = "hint: --max-entries N raises the bound (0: none)"
# Runs the bp script in a child that reports, after bp's own exit, the seconds bp's main() took
# and the child's peak memory (VmHWM: ru_maxrss would count the pytest process it was forked
# from): the refusals must come at once and allocate nothing large.
MEASURED = """
import sys, time
from bpcli.cli import main
sys.argv = ["bp", *sys.argv[1:]]
start = time.perf_counter()
try:
    main()
    code = 0
except SystemExit as e:
    code = e.code
seconds = time.perf_counter() - start
peak = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
sys.stderr.write(f"\\nMEASURED {seconds} {peak}\\n")
sys.exit(code)
"""


def measured(*args: str):
    """(exit code, stdout, stderr without the measurement, seconds, peak MiB) of `bp ARGS`."""
    r = subprocess.run([sys.executable, "-c", MEASURED, *args], capture_output=True, text=True, timeout=120)
    err, _, stats = r.stderr.rpartition("\nMEASURED ")
    seconds, kib = stats.split()
    return r.returncode, r.stdout, err.strip(), float(seconds), int(kib) / 1024


def refused_at_once(*args: str, fragment: str) -> str:
    """Assert `bp ARGS` exits 2 in under a second with `fragment` in its message and a peak
    memory far below the refused array's (under 200 MiB: bp and numpy take about 60)."""
    code, out, err, seconds, mib = measured(*args)
    assert code == 2, err
    assert out == ""
    assert err.startswith("bp: too large: ") and fragment in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert seconds < 1.0, seconds
    assert mib < 200, mib
    return err


def _values(tmp_path, **values) -> str:
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values))
    return str(path)


def _outer_three(n: int) -> dict:
    """x, y, z shaped n×1×1, 1×n×1, 1×1×n: their product broadcasts to n×n×n."""
    return {"x": [[[1.0]] for _ in range(n)], "y": [[[1.0]] * n], "z": [[[1.0] * n]]}


# -- broadcasting and command-line values ---------------------------------------------------
def test_a_broadcast_to_a_billion_entries_is_refused_before_it_is_made(tmp_path):
    err = refused_at_once("grad", "sum(x*y*z)", "--values", _values(tmp_path, **_outer_three(1000)),
                          fragment="n4 (mul) would hold 1,000,000,000 entries (shape 1000×1000×1000), "
                                   "past the bound of 10,000,000")
    assert err.endswith(HINT)


def test_the_bound_names_the_first_node_past_it_and_is_raised_by_the_flag(bp, tmp_path):
    path = _values(tmp_path, **_outer_three(20))
    r = bp("grad", "sum(x*y*z)", "--values", path, "--max-entries", "300", "--no-check")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: too large: n2 (mul) would hold 400 entries (shape 20×20×1), past the bound of 300\n"
                        f"{HINT}\n")
    r = bp("grad", "sum(x*y*z)", "--values", path, "--max-entries", "8000", "--no-check", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["value"] == 8000.0
    r = bp("grad", "sum(x*y*z)", "--values", path, "--max-entries", "0", "--no-check", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["value"] == 8000.0


def test_a_command_line_value_past_the_bound_is_refused_naming_the_input(bp):
    r = bp("grad", "sum(x)", "--x", "[1, 2, 3, 4]", "--max-entries", "3")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"bp: too large: x would hold 4 entries (shape 4), past the bound of 3\n{HINT}\n"


def test_the_default_bound_is_ten_million_and_the_help_says_so(bp):
    assert MAX_ENTRIES == 10_000_000
    r = bp("grad", "--help")
    assert r.exit_code == 0 and "--max-entries" in r.stdout and "10000000" in r.stdout


@pytest.mark.parametrize("command", [
    ["grad", "sum(x)"], ["view", "sum(x)", "-o", "-"], ["export", "sum(x)"], ["graph", "sum(x)"],
    ["quiz", "--formula", "sum(x)"],
])
def test_every_command_that_evaluates_values_takes_the_bound(bp, command):
    r = bp(*command, "--x", "[1, 2, 3]", "--max-entries", "2")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"bp: too large: x would hold 3 entries (shape 3), past the bound of 2\n{HINT}\n"


def test_the_jacobian_matrices_are_bounded_too(bp):
    # a 10-entry output by a 10-entry input: 100 entries of matrix, each node only 10
    r = bp("grad", "x*2", "--x", json.dumps([1.0] * 10), "--jacobian", "--max-entries", "50")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: too large: the Jacobian of the output by x would hold 100 entries (shape 10×10), "
                        f"past the bound of 50\n{HINT}\n")
    assert bp("grad", "x*2", "--x", json.dumps([1.0] * 10), "--jacobian", "--max-entries", "100").exit_code == 0


def test_forward_mode_works_within_the_bound(bp):
    r = bp("grad", "sum(x*y)", "--x", "[1, 2, 3]", "--y", "[[1], [2]]", "--forward", "--max-entries", "5")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: too large: n2 (mul) would hold 6 entries (shape 2×3), past the bound of 5\n"
                        f"{HINT}\n")


# -- .npy and .npz --------------------------------------------------------------------------------
def test_a_npy_header_claiming_ten_billion_entries_is_refused_before_its_data(tmp_path):
    path = tmp_path / "W.npy"
    with open(path, "wb") as f:
        npy.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
        f.write(bytes(16))
    assert path.stat().st_size == 144
    fragment = "W would hold 10,000,000,000 entries (shape 100000×100000), past the bound of 10,000,000"
    refused_at_once("grad", "sum(W)", "--W", str(path), fragment=fragment)
    refused_at_once("grad", "sum(W)", "--values", str(path), fragment=fragment)


def _npz_bomb(path, members: dict) -> None:
    """A .npz whose member x.npy decompresses to 2 GiB of zeros (2**28 float64) from about 2 MB,
    written by hand (the deflate stream of a zero block repeats after a full flush), and small
    members beside it."""
    header = io_bytes(lambda f: npy.write_array_header_1_0(
        f, {"descr": "<f8", "fortran_order": False, "shape": (2**28,)}))
    block = bytes(1 << 24)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush()
    count = (2 << 30) // len(block)
    crc = zlib.crc32(header)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    size = len(header) + count * len(block)
    entries = [(b"x.npy", 8, crc, head + body * count + tail, size)]
    for name, array in members.items():
        data = io_bytes(lambda f, a=array: np.save(f, a))
        entries.append((f"{name}.npy".encode(), 0, zlib.crc32(data), data, len(data)))
    with open(path, "wb") as f:
        directory = b""
        for name, method, crc, data, size in entries:
            offset = f.tell()
            f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size,
                                len(name), 0) + name)
            f.write(data)
            directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(data),
                                     size, len(name), 0, 0, 0, 0, 0, offset) + name
        start = f.tell()
        f.write(directory)
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory),
                            start, 0))


def io_bytes(write) -> bytes:
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("npz") / "bomb.npz"
    _npz_bomb(path, {"y": np.arange(1.0, 4.0)})
    assert path.stat().st_size < 3 << 20
    with zipfile.ZipFile(path) as archive:  # a well-formed archive, as numpy reads it
        assert archive.getinfo("x.npy").file_size == 2**31 + 128
        with archive.open("x.npy") as stream:
            assert npy.read_magic(stream) == (1, 0)
            assert npy.read_array_header_1_0(stream)[0] == (2**28,)
    return str(path)


def test_a_npz_member_past_max_values_is_refused_from_the_zip_directory(bomb):
    err = refused_at_once("grad", "sum(x)", "--values", bomb,
                          fragment="bomb.npz: the arrays used decompress to 2,147,483,776 bytes, past the "
                                   "bound of 134,217,728")
    assert err.endswith("hint: --max-values SIZE raises the bound (0: none)")


def test_a_npz_member_past_the_entries_bound_is_refused_from_its_header(bomb):
    err = refused_at_once("grad", "sum(x)", "--values", bomb, "--max-values", "0",
                          fragment="bomb.npz: x would hold 268,435,456 entries (shape 268435456), past the "
                                   "bound of 10,000,000")
    assert err.endswith(HINT)


def test_only_the_members_a_formula_uses_are_read(bomb):
    code, out, err, seconds, mib = measured("grad", "sum(y)", "--values", bomb, "--no-check", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["gradient"]["y"] == [1.0, 1.0, 1.0] and err == ""
    assert [n["message"] for n in doc["notes"]] == [f"{bomb}: x is not an input of the formula; ignored"]
    assert seconds < 1.0 and mib < 200


def test_an_ordinary_npz_still_reads(bp, tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, w=np.array([1.0, 2.0]), b=np.array(3.0))
    r = bp("grad", "sum(w)*b", "--values", str(path), "--no-check", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["value"] == 9.0 and doc["gradient"]["w"] == [3.0, 3.0]


# -- bp train: --param and --hidden ---------------------------------------------------------------
@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2\n2,4\n")
    return str(path)


def test_a_param_shape_past_the_bound_is_refused_before_it_is_made(csv):
    refused_at_once("train", "sum(W)*x", csv, "--param", "W=100000x100000", "--epochs", "1",
                    fragment="the parameter W would hold 10,000,000,000 entries (shape 100000×100000), "
                             "past the bound of 10,000,000")


def test_hidden_sizes_past_the_bound_are_refused_before_they_are_made(csv):
    refused_at_once("train", "mlp", csv, "--hidden", "100000,100000", "--epochs", "1",
                    fragment="the parameter W2 would hold 10,000,000,000 entries (shape 100000×100000), "
                             "past the bound of 10,000,000")


def test_train_takes_the_bound(bp, csv):
    r = bp("train", "mlp", csv, "--hidden", "4", "--epochs", "1", "--max-entries", "3")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: too large: the parameter W1 would hold 4 entries (shape 4×1), past the bound "
                        f"of 3\n{HINT}\n")
    # a row a step: the whole batch (a network's default) would make nodes of rows × 4 entries
    assert bp("train", "mlp", csv, "--hidden", "4", "--epochs", "1", "--batch-size", "1",
              "--max-entries", "4").exit_code == 0


# -- nesting and rank -----------------------------------------------------------------------------
def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_a_command_line_value_nested_30000_deep_is_refused_before_json_recurses():
    code, out, err, seconds, mib = measured("grad", "sum(x*x)", "--x", _nested(30_000))
    assert code == 2 and out == ""
    assert err == "bp: value error: the value of x: JSON nested more than 100 levels deep"
    assert seconds < 1.0


def test_a_values_file_70_deep_is_refused_within_numpys_axes(bp, tmp_path):
    path = tmp_path / "v.json"
    path.write_text('{"x": ' + _nested(70) + "}")
    r = bp("grad", "sum(x*x)", "--values", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (f"bp: too large: {path}: x is nested more than {MAX_RANK} levels deep: bp's tensors "
                        f"have at most {MAX_RANK} axes\n")


def test_a_value_40_deep_under_a_broadcast_is_refused_within_numpys_axes(bp):
    r = bp("grad", "sum(x*x)", "--x", _nested(40))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == "bp: too large: x is nested more than 32 levels deep: bp's tensors have at most 32 axes\n"


def test_a_32_axis_value_still_works(bp):
    r = bp("grad", "sum(x*x)", "--x", _nested(32), "--no-check", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["value"] == 1.0


def test_a_npy_with_more_axes_than_bp_takes_is_refused(bp, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((1,) * 40))
    r = bp("grad", "sum(x*x)", "--x", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (f"bp: too large: {path}: x would have 40 axes: bp's tensors have at most 32\n")


# -- the library ----------------------------------------------------------------------------------
def test_the_library_takes_max_entries_and_its_error_carries_the_data():
    import bpcli

    x, y = np.ones((300, 1)), np.ones((1, 300))
    assert bpcli.grad("sum(x*y)", x=x, y=y).value == 90_000.0
    with pytest.raises(bpcli.EntriesError) as caught:
        bpcli.grad("sum(x*y)", x=x, y=y, max_entries=1000)
    e = caught.value
    assert (e.what, e.shape, e.entries, e.limit, e.hint) == ("n2 (mul)", (300, 300), 90_000, 1000, None)
    assert e.node == 2  # the graph's node, so a face can point at where the formula writes it
    assert str(e) == "n2 (mul) would hold 90,000 entries (shape 300×300), past the bound of 1,000"
    assert bpcli.grad("sum(x*y)", x=x, y=y, max_entries=0).value == 90_000.0
    assert bpcli.grad("sum(x*y)", x=x, y=y).value == 90_000.0  # the bound was the call's alone
    with pytest.raises(bpcli.EntriesError):
        bpcli.jacobian("x*2", x=[1.0] * 10, max_entries=50)
    with pytest.raises(bpcli.EntriesError):
        bpcli.train("mlp", {"x": [1.0, 2.0], "y": [2.0, 4.0]}, hidden=[4], epochs=1, max_entries=3)
