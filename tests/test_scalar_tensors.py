"""0-d tensors (issue 22, item 5): softmax, log_softmax, logsumexp of a scalar and sum over
its axis 0 or -1, as PyTorch takes them (values, gradients, tangents), against PyTorch float64."""

import json

import numpy as np
import pytest

import bpcli

torch = pytest.importorskip("torch")

CASES = [
    ("softmax(x)", lambda x, v: torch.softmax(x, dim=-1)),
    ("log_softmax(x)", lambda x, v: torch.log_softmax(x, dim=-1)),
    ("logsumexp(x)", lambda x, v: torch.logsumexp(x, dim=-1)),
    ("sum(x, 0)", lambda x, v: torch.sum(x, dim=0)),
    ("sum(x, -1)", lambda x, v: torch.sum(x, dim=-1)),
    ("mean(x, 0)", lambda x, v: torch.mean(x, dim=0)),
    ("logsumexp(x) * sum(v) + softmax(2*x)", lambda x, v: torch.logsumexp(x, -1) * torch.sum(v)
     + torch.softmax(2 * x, -1)),
    ("sum(exp(log_softmax(x*v[0])) * v) + logsumexp(sum(x, 0) + 1)",
     lambda x, v: torch.sum(torch.exp(torch.log_softmax(x * v[0], -1)) * v) + torch.logsumexp(torch.sum(x, 0) + 1, -1)),
]


def _torch(fn, x, v):
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tv = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    out = fn(tx, tv)
    gx, gv = torch.autograd.grad(out, (tx, tv), allow_unused=True)
    zero = np.zeros(np.shape(v))
    return out.item(), (0.0 if gx is None else gx.item()), (zero if gv is None else gv.numpy())


@pytest.mark.parametrize("text, fn", CASES, ids=[t for t, _ in CASES])
@pytest.mark.parametrize("x", [2.0, -0.5])
def test_a_scalar_through_a_last_axis_op_is_pytorchs_0d_tensor(text, fn, x):
    v = [0.5, -1.5]
    value, gx, gv = _torch(fn, x, v)
    uses_v = "v" in bpcli.parse(text).inputs
    point, tangents = ({"x": x, "v": v}, {"x": 1.0, "v": [0.0, 0.0]}) if uses_v else ({"x": x}, {"x": 1.0})
    r = bpcli.grad(text, point)
    assert float(r.value) == pytest.approx(value, rel=1e-14, abs=1e-15)
    assert float(r.gradient["x"]) == pytest.approx(gx, rel=1e-14, abs=1e-15)
    if uses_v:
        assert np.asarray(r.gradient["v"]) == pytest.approx(gv, rel=1e-14, abs=1e-15)
    # forward mode: the tangent in x alone is ∂/∂x
    _, tangent = bpcli.jvp(text, point, tangents)
    assert float(tangent) == pytest.approx(gx, rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("text", ["softmax(x)", "log_softmax(x)", "logsumexp(x)", "sum(x, 0)", "sum(x, -1)"])
def test_bp_grad_of_a_scalar_through_a_last_axis_op_is_checked_and_ok(bp, text):
    fn = dict(CASES)[text]
    value, gx, _ = _torch(fn, 2.0, [0.0])
    r = bp("grad", text, "--x", "2.0", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    doc = json.loads(r.stdout)
    assert doc["value"] == value and doc["gradient"] == {"x": gx}
    assert doc["check"]["x"]["status"] == "ok" and doc["ok"]


def test_an_axis_a_scalar_has_not_is_still_refused(bp):
    r = bp("grad", "sum(x, 1)", "--x", "2.0")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("bp: shape error: sum over axis 1 of a scalar tensor: a scalar has no axes")
