"""bp grad's output assembled from its parts: the point's gradient and what was asked beside it
(--explain, --hessian, --forward, --jacobian), as one JSON document or as the tables to print."""

from __future__ import annotations

from bpcli.views import render


class Extras:
    """What bp grad computes beside the gradient when asked (None: not asked). A plain class:
    a dataclass costs bp's start-up half a millisecond to build."""

    def __init__(self, explanations: list | None = None, hessian=None, forward=None, jacobian=None,
                 output_name: str = "out"):
        self.explanations = explanations  # --explain: the paths of each input
        self.hessian = hessian  # --hessian: the checked second derivatives
        self.forward = forward  # --forward: forward mode beside reverse mode
        self.jacobian = jacobian  # --jacobian of a scalar output
        self.output_name = output_name  # what Jacobian tables call the output


def grad_document(result, point: dict, checked, notes: list, extras: Extras) -> dict:
    """bp grad --json: the bp.grad document, with a member per extra asked for."""
    doc = render.grad_document(result, point, checked, notes)
    if extras.explanations is not None:
        doc["explain"] = render.explain_document(result, extras.explanations)
    if extras.hessian is not None:
        doc.update(render.hessian_document(extras.hessian))
        doc["ok"] = doc["ok"] and extras.hessian.status != "mismatch"
    if extras.forward is not None:
        doc["forward_mode"] = render.forward_document(extras.forward)
        doc["ok"] = doc["ok"] and extras.forward.agrees
    if extras.jacobian is not None:
        doc["jacobian"] = render.jacobian_document(extras.jacobian)
    return doc


def grad_tables(result, checked, extras: Extras, limit: int | None) -> list:
    """bp grad's tables and texts, in the order printed (notes apart: they end the output)."""
    shown = list(render.grad_tables(result, checked, limit=limit))
    if extras.explanations is not None:
        shown.append(render.explain_text(result, extras.explanations))
    if extras.hessian is not None:
        shown.append(render.hessian_table(extras.hessian))
    if extras.forward is not None:
        shown.extend(render.forward_tables(result, extras.forward, limit=limit))
    if extras.jacobian is not None:
        shown.extend(render.jacobian_tables(extras.jacobian, extras.output_name))
    return shown


def jacobian_tables(f, jac, checked, out: str) -> list:
    """bp grad --jacobian of a tensor output: its summary, a table per input, the check's table."""
    shown = [render.jacobian_summary(f, jac, out)] + list(render.jacobian_tables(jac, out))
    if checked is not None:
        shown.append(render.jacobian_check_table(jac, checked, out))
    return shown
