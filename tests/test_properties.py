"""Properties: bp's gradients equal SymPy's derivatives and finite differences, the printer
round-trips, and training follows the closed-form gradient. Run deeper with
`pytest --hypothesis-profile=deep`."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, example, given
from hypothesis import strategies as st
from strategies import points, programs

from bpcli import parse
from bpcli.check.verify import (
    FD_ABS,
    FD_REL,
    SYMPY_ABS,
    SYMPY_REL,
    close,
    finite_differences,
    sympy_derivatives,
)
from bpcli.language.printer import to_text


def well_behaved(result) -> bool:
    """Away from kinks and outside-domain points, with moderate magnitudes: skipped, not loosened."""
    if result.hits:  # a kink hit, a value outside its domain, an overflow
        return False
    # A local gradient outside its domain (x^t at x < 0 and t = 0: log(x) in ∂/∂t) is nan while
    # every value is finite; forward and reverse mode then differ as PyTorch's do (nan · 0 in the
    # tangent, a zero-gradient op's 0 in the adjoint), so such a point is no test of either.
    locals_ = [g for i in range(len(result.values)) for g in result.local(i)]
    return all(math.isfinite(v) and abs(v) < 1e6 for v in result.values) and all(map(math.isfinite, locals_))


@given(programs(), points)
def test_backprop_equals_sympy(text, point):
    f = parse(text)
    point = {n: v for n, v in point.items() if n in f.inputs}
    r = f.grad(point)
    assume(well_behaved(r) and all(abs(g) < 1e6 for g in r.gradient.values()))
    symbolic = sympy_derivatives(f, point)
    for name, g in r.gradient.items():
        value = symbolic[name][1]
        if value is None or (math.isnan(value) and not math.isnan(g)):
            continue  # SymPy has no number here (undone, or its formula is 0/0): as the check does

        assert close(g, symbolic[name][1], SYMPY_REL, SYMPY_ABS), (text, point, name)


# Ops whose partials, given the forward values, are arithmetic alone: there numpy and the
# float pass must agree to the bit (sin's partial calls cos, whose libm and numpy may not).
ARITHMETIC_PARTIALS = ("add", "sub", "mul", "div", "neg", "abs", "relu", "max", "min", "step", "sign",
                       "exp", "sqrt", "tanh", "sigmoid")
signed = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, -2.0]), st.floats(-3, 3, allow_nan=False))


@given(programs(ops=ARITHMETIC_PARTIALS), st.fixed_dictionaries({n: signed for n in "xwy"}))
@example("t0 = (x) * (y)", {"x": 3.0, "w": 1.0, "y": -0.0})
@example("t0 = relu(x)\nt1 = (t0) * (y)", {"x": -1.0, "w": 1.0, "y": -2.0})
def test_float_and_array_backward_passes_agree_bit_for_bit(text, point):
    """The float pass (sums from -0.0, every partial multiplied in) and the array pass (first
    terms kept, ×1 skipped) are written apart for speed; from the same forward values they
    give the same adjoint, sign of zero and nan included."""
    from bpcli.engine.numeric import ArrayMath

    f = parse(text)
    vals = f.forward({n: v for n, v in point.items() if n in f.inputs})
    floats = f.backward(vals)
    with np.errstate(all="ignore"):
        arrays = f.backward([np.array([v]) for v in vals], ArrayMath("float64"))
    for i, (a, b) in enumerate(zip(floats, arrays)):
        b = float(np.reshape(b, -1)[0])
        same = (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
        assert same, (text, point, f"n{i}", a, b)


@given(programs(ops=ARITHMETIC_PARTIALS), st.fixed_dictionaries({n: signed for n in "xwy"}))
@example("t0 = (x) * (y)", {"x": 3.0, "w": 1.0, "y": -0.0})
def test_the_float_fast_path_is_the_backward_loop_specialised(text, point):
    """tape.float_adjoints is sweep.reverse specialised for floats: run over the same float
    values with another instance of bp's float math (which takes the general loop), every
    adjoint is the same bit for bit, sign of zero and nan included."""
    from bpcli.engine.numeric import FloatMath

    f = parse(text)
    vals = f.forward({n: v for n, v in point.items() if n in f.inputs})
    fast = f.backward(vals)
    general = f.backward(vals, FloatMath())
    assert [repr(v) for v in fast] == [repr(v) for v in general], (text, point)


@given(programs(ops=ARITHMETIC_PARTIALS), st.fixed_dictionaries({n: signed for n in "xwy"}), st.data())
def test_float_gradient_is_the_backward_pass_read_at_the_inputs(text, point, data):
    """The training loop's lean gradient (adjoints of the asked inputs only) is bit for bit
    what the full backward pass gives those inputs, an input no term reaches included."""
    f = parse(text)
    assume(f.inputs)
    vals = f.forward({n: v for n, v in point.items() if n in f.inputs})
    wrt = tuple(data.draw(st.lists(st.sampled_from(list(f.inputs)), min_size=1, unique=True)))
    full = f.backward(vals, wrt=wrt)
    for name, g in zip(wrt, f.float_gradient(vals, wrt)):
        want = full[f.inputs[name]]
        assert repr(g) == repr(want), (text, point, name, g, want)


# Piecewise-constant ops: their derivative is 0 between jumps, and a central difference that
# straddles a jump measures the jump. The integer that counts the jumps of each:
_JUMPS = {"floor": lambda out, *xs: out, "ceil": lambda out, *xs: out, "round": lambda out, *xs: out,
          "step": lambda out, *xs: out, "sign": lambda out, *xs: out,
          "mod": lambda out, a, b: round((a - out) / b) if b else out}
# cbrt's tangent is vertical at 0: a difference that straddles 0 measures a chord, not the slope.
_JUMPS["cbrt"] = lambda out, a: a > 0


def jumps(f, result) -> list:
    """Which side of each jump every piecewise-constant node is on at this point."""
    return [_JUMPS[k](result.values[i], *(result.values[a] for a in f.args[i]))
            for i, k in enumerate(f.kinds) if k in _JUMPS]


@example("t0 = floor(w)\nt0", {"w": 1.9999999999999996})
@example("t0 = log2(x)\nt1 = -(x)\nt2 = -(x)\nt3 = cbrt(t0)", {"x": 0.99999})
@given(programs(max_ops=5), points)
def test_backprop_equals_finite_differences(text, point):
    f = parse(text)
    point = {n: v for n, v in point.items() if n in f.inputs}
    r = f.grad(point)
    assume(well_behaved(r) and all(abs(g) < 1e3 for g in r.gradient.values()))
    # At a kink bp takes PyTorch's one-sided convention (clamp with lo = hi), which central
    # differences cannot judge: bp's own check calls such a difference a convention.
    assume(not any(kind == "kink" for kind, _ in r.hits))
    # Finite differences need the function smooth around the point, not just at it.
    sides = jumps(f, r)
    for name in point:
        h = 1e-3 * max(1.0, abs(point[name]))
        for shifted in (point[name] - h, point[name] + h):
            near = f.grad({**point, name: shifted})
            assume(well_behaved(near) and jumps(f, near) == sides)
    fd = finite_differences(f, point)
    for name, g in r.gradient.items():
        assert close(g, fd[name], FD_REL * 100, FD_ABS * 100) or close(g, fd[name], FD_REL, FD_ABS), (
            text, point, name, g, fd[name])


@given(programs(), points)
def test_printer_round_trips(text, point):
    f = parse(text)
    g = parse(to_text(f))
    # The same graph: inputs may be numbered in another order (the text names them in
    # order of use), so compare sizes, operations, the value and the gradient.
    assert len(g) == len(f) and sorted(g.kinds) == sorted(f.kinds)
    point = {n: v for n, v in point.items() if n in f.inputs}
    a, b = f.grad(point), g.grad(point)
    same = lambda u, v: u == v or (u != u and v != v)  # noqa: E731
    assert same(a.value, b.value)
    assert all(same(a.gradient[n], b.gradient[n]) for n in a.gradient)


@given(st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2)), min_size=2, max_size=20),
       st.floats(-2, 2))
def test_full_batch_gradient_is_the_least_squares_gradient(rows, w):
    from bpcli.data.files import Table
    from bpcli.training.loop import Settings, Trainer, build_model

    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    model = build_model("linear", ["x", "y"], "y", "data")
    lr = 0.01
    run = Trainer(model, Table("data", ["x", "y"], {"x": x, "y": y}, len(rows)),
                  Settings(lr=lr, epochs=1, batch_size=None, init={"w": w})).run()
    closed_form = 2 / len(rows) * float(x @ (x * w - y))  # d/dw mean((xw - y)^2)
    assert math.isclose(run.params["w"], w - lr * closed_form, rel_tol=1e-12, abs_tol=1e-12)


@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5), st.floats(0.001, 0.5))
def test_one_per_sample_step_is_the_hand_computed_update(x, y, w, b, lr):
    from bpcli.data.files import Table
    from bpcli.training.loop import Settings, Trainer, build_model

    model = build_model("affine", ["x", "y"], "y", "data")
    data = Table("data", ["x", "y"], {"x": np.array([x]), "y": np.array([y])}, 1)
    run = Trainer(model, data, Settings(lr=lr, epochs=1, init={"w": w, "b": b})).run()
    r = w * x + b - y
    assert run.params == {"w": w - lr * (2 * r * x), "b": b - lr * (2 * r)}
