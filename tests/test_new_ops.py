"""The operations of issue 24 against PyTorch float64: values and gradients at seeded random
points (tests/new_ops_cases.py), and the exported PyTorch and JAX scripts of each formula."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from new_ops_cases import CASES, Index, point, torch_reference

from bpcli import parse

torch = pytest.importorskip("torch", reason="the reference numbers are PyTorch's")

IDS = [text for text, _, _ in CASES]


@pytest.mark.parametrize("text, shapes, fn", CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_gradients_agree_with_pytorch(text, shapes, fn, seed):
    values = point(shapes, seed)
    r = parse(text).grad(values)
    value, grads = torch_reference(fn, values)
    assert np.allclose(float(r.value), value, rtol=1e-12, atol=1e-12)
    for name, g in grads.items():
        if g is None and isinstance(shapes[name], Index):  # an index: bp's gradient there is zero
            assert not r.gradient[name].any()
            continue
        if g is None:  # read only through a comparison: no gradient in either
            assert name not in r.gradient
            continue
        assert np.allclose(r.gradient[name], g, rtol=1e-10, atol=1e-12), name


@pytest.mark.parametrize("text, shapes, fn", CASES, ids=IDS)
def test_the_check_agrees(text, shapes, fn):
    from bpcli.check.tensorcheck import check

    values = point(shapes, 5)
    f = parse(text)
    c = check(f, f.grad(values), values)
    want = {i.name: "skipped" if isinstance(shapes[i.name], Index) else ("ok", "convention") for i in c.inputs}
    assert all(i.status in want[i.name] for i in c.inputs), (c.notes, [i.status for i in c.inputs])


@pytest.mark.parametrize("text, shapes, fn", CASES, ids=IDS)
def test_the_exported_pytorch_script_agrees(text, shapes, fn):
    from test_export import run_inline

    from bpcli.views.export import torch_script

    values = point(shapes, 3)
    assert run_inline(torch_script(parse(text).grad(values), values)) == "0: ok\n"


@pytest.mark.slow
def test_the_exported_jax_scripts_agree():
    pytest.importorskip("jax", reason="the JAX export is checked by running it with jax")
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}
    done = subprocess.run([sys.executable, str(here / "jax_new_ops_check.py")], capture_output=True,
                          text=True, timeout=600, cwd=here.parent, env=env)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr[-3000:] + done.stdout[-3000:]
