"""Tensors with an axis of length 0, made inside a formula (a slice past the end): bp computes
what PyTorch computes (values and gradients), and refuses what PyTorch refuses, with a message
and a caret, never a crash (issue 24: "0-size axes where PyTorch allows them")."""

import numpy as np
import pytest

import bpcli
from bpcli.errors import BPError

torch = pytest.importorskip("torch", reason="the reference numbers are PyTorch's")
F = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")  # PyTorch's, on var of nothing

rng = np.random.default_rng(0)
POINT = {"X": rng.uniform(-1, 1, (2, 1, 4, 4)), "W": rng.uniform(-1, 1, (2, 1, 2, 2)),
         "Z": rng.uniform(-1, 1, (3, 4)), "y": np.array([0.0, 2.0, 3.0])}

AGREE = [
    ("softmax(Z[:, 4:])", lambda t, X, W, Z, y: t.softmax(Z[:, 4:], -1)),
    ("log_softmax(Z[:, 4:])", lambda t, X, W, Z, y: t.log_softmax(Z[:, 4:], -1)),
    ("softmax(Z[3:])", lambda t, X, W, Z, y: t.softmax(Z[3:], -1)),
    ("logsumexp(Z[:, 4:], 1)", lambda t, X, W, Z, y: t.logsumexp(Z[:, 4:], 1)),
    ("logcumsumexp(Z[3:], 0)", lambda t, X, W, Z, y: t.logcumsumexp(Z[3:], 0)),
    ("amax(Z[:, 4:], 0)", lambda t, X, W, Z, y: t.amax(Z[:, 4:], 0)),
    ("amin(Z[3:], 1)", lambda t, X, W, Z, y: t.amin(Z[3:], 1)),
    ("var(Z[:, 4:], 1)", lambda t, X, W, Z, y: t.var(Z[:, 4:], 1)),  # nan: no degree of freedom
    ("var(Z[3:], 0)", lambda t, X, W, Z, y: t.var(Z[3:], 0)),
    ("std(Z[:, 3:], 1)", lambda t, X, W, Z, y: t.std(Z[:, 3:], 1)),
    ("std(Z[:, 4:])", lambda t, X, W, Z, y: t.std(Z[:, 4:])),
    ("prod(Z[:, 4:])", lambda t, X, W, Z, y: t.prod(Z[:, 4:])),
    ("prod(Z[:, 4:], 1)", lambda t, X, W, Z, y: t.prod(Z[:, 4:], 1)),
    ("cumprod(Z[:, 4:], 1)", lambda t, X, W, Z, y: t.cumprod(Z[:, 4:], 1)),
    ("mean(Z[:, 4:])", lambda t, X, W, Z, y: t.mean(Z[:, 4:])),
    ("mean(Z[3:], 0)", lambda t, X, W, Z, y: t.mean(Z[3:], 0)),
    ("mse_loss(Z[3:], Z[3:])", lambda t, X, W, Z, y: F.mse_loss(Z[3:], Z[3:])),
    ("binary_cross_entropy_with_logits(Z[3:], Z[3:])",
     lambda t, X, W, Z, y: F.binary_cross_entropy_with_logits(Z[3:], Z[3:])),
    ("cross_entropy(Z[3:], y[3:])", lambda t, X, W, Z, y: F.cross_entropy(Z[3:], y[3:].long())),
    ("nll_loss(Z[3:], y[3:])", lambda t, X, W, Z, y: F.nll_loss(Z[3:], y[3:].long())),
    ("Z[3:] @ transpose(Z)", lambda t, X, W, Z, y: Z[3:] @ Z.T),
    ("transpose(Z[:, 4:]) @ Z[:, 4:]", lambda t, X, W, Z, y: Z[:, 4:].T @ Z[:, 4:]),
    ("conv2d(X[2:], W)", lambda t, X, W, Z, y: F.conv2d(X[2:], W)),
    ("conv2d(X[:, 1:], W[:, 1:])", lambda t, X, W, Z, y: F.conv2d(X[:, 1:], W[:, 1:])),  # no input channel: zeros
    ("max_pool2d(X[2:], 2)", lambda t, X, W, Z, y: F.max_pool2d(X[2:], 2)),
    ("avg_pool2d(X[2:], 2)", lambda t, X, W, Z, y: F.avg_pool2d(X[2:], 2)),
    ("gather(Z[3:], 0, reshape(y, 3, 1)[3:])", lambda t, X, W, Z, y: t.gather(Z[3:], 0, y.reshape(3, 1)[3:].long())),
    ("Z[y[3:]]", lambda t, X, W, Z, y: Z[y[3:].long()]),
    ("pad(Z[3:], 1)", lambda t, X, W, Z, y: F.pad(Z[3:], (1, 1, 1, 1))),
    ("cat(Z[3:], Z)", lambda t, X, W, Z, y: t.cat((Z[3:], Z))),
    ("reshape(Z[3:], 0, 8)", lambda t, X, W, Z, y: Z[3:].reshape(0, 8)),
]

REFUSED = [
    ("conv2d(X, W[2:])", "conv2d needs at least one filter"),
    ("conv2d(X, W[:, :, 2:])", "conv2d needs at least one filter and a kernel of at least one entry a side"),
    ("max_pool2d(X[:, 1:], 2)", "max_pool2d of a 2×0×4×4 input: its channels, height and width need entries"),
    ("avg_pool2d(X[:, :, 4:], 1)", "avg_pool2d of a 2×1×0×4 input"),
    ("cross_entropy(Z[:, 4:], y)", "cross_entropy of 3×0 scores: there is no class to label"),
    ("amax(Z[:, 4:], 1)", "amax over axis 1 of a 3×0 tensor: the axis has no entries"),
    ("pad(Z[0, 0], 1)", "pad of a number: it has no axis to pad"),
]


def formula(text: str) -> str:
    return f"sum({text}) + sum(X) + sum(W) + sum(Z)"  # every input read, so each has a gradient


def point(text: str) -> dict:
    """The values of the inputs the formula reads (y only where it is written)."""
    return {n: v for n, v in POINT.items() if n in bpcli.parse(formula(text)).inputs}


@pytest.mark.parametrize("text, fn", AGREE, ids=[t for t, _ in AGREE])
def test_an_empty_axis_gives_pytorchs_value_and_gradients(text, fn):
    r = bpcli.grad(formula(text), point(text))
    leaves = {n: torch.tensor(v, requires_grad=n != "y") for n, v in POINT.items()}
    out = fn(torch, **leaves).sum() + leaves["X"].sum() + leaves["W"].sum() + leaves["Z"].sum()
    out.backward()
    assert np.allclose(float(r.value), out.item(), equal_nan=True, rtol=1e-12)
    for n in "XWZ":
        assert np.allclose(r.gradient[n], leaves[n].grad.numpy(), equal_nan=True, rtol=1e-12), n


@pytest.mark.parametrize("text, message", REFUSED, ids=[t for t, _ in REFUSED])
def test_what_pytorch_refuses_over_an_empty_axis_bp_refuses_at_its_place(bp, text, message):
    with pytest.raises(BPError, match=message):  # (PyTorch raises too: tested beside)
        bpcli.grad(formula(text), point(text))
    args = [a for n, v in point(text).items() for a in (f"--{n}", str(v.tolist()))]
    r = bp("grad", formula(text), *args)
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert message in lines[0] and " at column " in lines[0] and lines[2].strip() == "^"


@pytest.mark.parametrize("text", [t for t, _ in REFUSED])
def test_pytorch_refuses_them_too(text):
    fns = {"conv2d(X, W[2:])": lambda X, W, Z, y: F.conv2d(X, W[2:]),
           "conv2d(X, W[:, :, 2:])": lambda X, W, Z, y: F.conv2d(X, W[:, :, 2:]),
           "max_pool2d(X[:, 1:], 2)": lambda X, W, Z, y: F.max_pool2d(X[:, 1:], 2),
           "avg_pool2d(X[:, :, 4:], 1)": lambda X, W, Z, y: F.avg_pool2d(X[:, :, 4:], 1),
           "cross_entropy(Z[:, 4:], y)": lambda X, W, Z, y: F.cross_entropy(Z[:, 4:], y.long()),
           "amax(Z[:, 4:], 1)": lambda X, W, Z, y: torch.amax(Z[:, 4:], 1),
           "pad(Z[0, 0], 1)": lambda X, W, Z, y: F.pad(Z[0, 0], (1, 1))}
    with pytest.raises((RuntimeError, IndexError)):
        fns[text](*(torch.tensor(v) for v in POINT.values()))


def test_an_index_into_an_empty_axis_says_so():
    with pytest.raises(BPError, match=r"the index picks along an axis with no entries; entry \[0\] is 0"):
        bpcli.grad("sum(Z[3:][y])", {"Z": POINT["Z"], "y": POINT["y"]})
