"""The two loops of differentiation, each one for numbers, arrays and tensors.

Backward (`reverse`): from the output back, each node sends its operands their contributions
(its adjoint times a partial, or a tensor rule's vector-Jacobian product), and each
operand's adjoint accumulates them (`accumulate`). Forward mode (`tangents`): along the
tape, each node's tangent is the total of its operands' terms, summed the same way.

The float pass of bpcli.engine.tape (`float_adjoints`) is this loop specialised for floats
(sums started from -0.0, no test for a first term or a factor of one); a property test holds
the two equal bit for bit.
"""

from __future__ import annotations

from bpcli.engine.numeric import ONE


def scaled(g, p):
    """g · p, skipping the multiplication by one (a pass over a batch's arrays each)."""
    return p if g is ONE else g if p is ONE else g * p


def accumulate(adj: list, a: int, c) -> None:
    """Add the contribution c into operand a's adjoint; the first term is kept as it is (no
    0 + c, and nothing is added in place: an adjoint may be a caller's array)."""
    total = adj[a]
    adj[a] = c if total is None else total + c


def total(terms: list):
    """A node's terms summed the way `accumulate` sums them, the first kept as it is (forward
    mode's tangent: one term per operand that carries one)."""
    return terms[0] if len(terms) == 1 else sum(terms[1:], terms[0])


def tangents(args: list, tan: list, term, finish=None) -> list:
    """Forward mode's loop, one for numbers, arrays and tensors: along the tape, every node
    an operand's tangent reaches gets the `total` of its terms, `term(i, slot, a)` for each
    operand a that carries one (a term None: that slot has no rule and sends nothing);
    `finish(i, t)` may shape the total. `tan` holds the inputs' tangents and None elsewhere;
    nodes no tangent reaches stay None (their partials are never evaluated)."""
    for i, operands in enumerate(args):
        if not operands:
            continue
        terms = [t for slot, a in enumerate(operands) if tan[a] is not None
                 and (t := term(i, slot, a)) is not None]
        if terms:
            tan[i] = total(terms) if finish is None else finish(i, total(terms))
    return tan


def reverse(adj: list, steps, send) -> list:
    """The backward loop: for each step (its node first; output first) whose node has an
    adjoint g, `send(step, g, adj)` sends the node's contributions to its operands, each
    through `accumulate`. `adj` holds the seed at the output and None elsewhere; nodes no
    contribution reaches stay None. (The sender calls accumulate rather than yielding
    pairs: a generator per step cost 8% of a 2,000-node backward pass over 1,000-point arrays.)"""
    for step in steps:
        g = adj[step[0]]
        if g is not None:
            send(step, g, adj)
    return adj


def tape_sender(vals: list, m):
    """`send` for the tape's steps (node, a, b, ∂/∂a, ∂/∂b, constant?): the elementwise pass,
    partials numbers where they are constants, else functions of the operands' values."""
    def send(step, g, adj):
        i, a, b, pa, pb, constant = step
        if constant:  # pa and pb are numbers
            if pa is not None:
                accumulate(adj, a, scaled(g, pa))
            if pb is not None:
                accumulate(adj, b, scaled(g, pb))
            return
        out, x = vals[i], vals[a]
        if b < 0:
            accumulate(adj, a, scaled(g, pa(m, out, x)))
            return
        y = vals[b]
        if pa is not None:
            accumulate(adj, a, scaled(g, pa(m, out, x, y)))
        if pb is not None:
            accumulate(adj, b, scaled(g, pb(m, out, x, y)))
    return send
