"""The lecture's numbers (../shared/LECTURE.md), reproduced exactly."""

from bpcli import grad
from bpcli.views import labels as view


def test_exercise_1_linear_model_gradient_is_minus_8():
    r = grad("y_hat = x*w; r = y_hat - y; loss = r^2", {"x": 2, "w": 1, "y": 4})
    assert r.value == 4.0
    assert r.gradient["w"] == -8.0


def test_exercise_1_intermediate_values_match_the_lecture():
    r = grad("y_hat = x*w; r = y_hat - y; loss = r^2", {"x": 2, "w": 1, "y": 4})
    by_label = {n.label: n.value for n in view.nodes(r)}
    assert by_label["y_hat"] == 2.0 and by_label["r"] == -2.0 and by_label["loss"] == 4.0


def test_exercise_2_affine_model_gradients_are_2_and_2():
    r = grad("y_hat = x*w + b; r = y_hat - y; loss = r^2", {"x": 1, "w": 1, "b": 2, "y": 2})
    assert (r.value, r.gradient["w"], r.gradient["b"]) == (1.0, 2.0, 2.0)


def test_local_gradients_of_a_product_are_the_other_operand():
    # Section 3: z = x·ω with x = 2, ω = 3 gives z = 6, ∂z/∂x = ω, ∂z/∂ω = x.
    r = grad("z = x*ω", {"x": 2, "ω": 3})
    assert r.value == 6.0
    assert [(e.child, e.local) for e in view.edges(r)] == [("n0", 3.0), ("n1", 2.0)]


def test_card_example_value_and_gradient():
    r = grad("(x*w-y)^2", {"x": 2, "w": 3, "y": 4})
    assert r.value == 4.0
    assert r.gradient == {"x": 12.0, "w": 8.0, "y": -4.0}
