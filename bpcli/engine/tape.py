"""A frozen formula: a flat, integer-indexed tape with a forward and a reverse pass."""

from __future__ import annotations

import math
from functools import cached_property

from bpcli.engine.numeric import FLOAT, ONE, ArrayMath
from bpcli.engine.ops import INPUT, OPS, carries_gradient
from bpcli.engine.result import Result
from bpcli.engine.sweep import reverse, tape_sender
from bpcli.engine.sweep import tangents as tangents_loop
from bpcli.engine.values import raise_problems, value_problems


class Formula:
    """A parsed formula, compiled once; `grad` can be called at many points."""

    def __init__(self, text, kinds, args, consts, names, labels, params=None):
        self.text = text
        self.kinds: list[str] = kinds
        self.args: list[tuple[int, ...]] = args
        self.consts: dict[int, float] = consts
        self.names: dict[int, str] = names
        self.labels: dict[int, list[str]] = labels
        self.params: dict[int, tuple] = params or {}  # static parameters: an axis, indices
        self.output = len(kinds) - 1
        self.source_notes: list[str] = []  # notes on the text, e.g. a constant shadowed by a name
        self.inputs: dict[str, int] = {
            names[i]: i for i, kind in enumerate(kinds) if kind == INPUT
        }
        # The forward loop reads flat tuples: (node, forward, a, b), b = -1 if unary.
        # The operand indices are fresh ints (+ 0), made here in tape order: the parser's lie
        # wherever their nodes were made, so on a large graph reading b's index alone was a
        # random memory access per step.
        self._steps = [
            (i, OPS[k].forward, a[0] + 0, a[1] + 0 if len(a) > 1 else -1)
            for i, (k, a) in enumerate(zip(kinds, args))
            if k in OPS
        ]
        # Ops of three operands (clamp) are rare: their steps name two operands like the
        # others and get the third through a closure bound to each pass's values, so the
        # loops stay as lean as they are for arity <= 2. (position in _steps, node, third operand)
        self._wide = [(pos, i, args[i][2]) for pos, (i, _, _, _) in enumerate(self._steps) if len(args[i]) > 2]
        self._template = [consts.get(i) for i in range(len(kinds))]
        # Only nodes that depend on an input get adjoints (as requires_grad in PyTorch):
        # the exponent in r^2 is a constant and nothing flows back into it.
        self.differentiable = self.depends_on(set(self.inputs))
        used = dict.fromkeys(kinds)
        # Formulas with @, sum, softmax, … run only in the tensor pass (bpcli/tensor.py).
        self.elementwise = all(OPS[k].elementwise for k in used if k in OPS)
        self._back_steps = self._backward_steps(self.differentiable, used) if self.elementwise else None
        self._wrt_steps: dict[tuple, list] = {}

    @cached_property
    def reached(self) -> list[bool]:
        """For every node: does a gradient from the output reach it? Not through a comparison
        nor where's condition (PyTorch's bool tensors), which leave it no .grad; p[y]'s label and
        gather's index are reached (the tensor pass says it is a class label)."""
        reached = [False] * len(self.kinds)
        reached[self.output] = True
        for i in range(len(self.kinds) - 1, -1, -1):
            if reached[i] and self.args[i]:
                op = OPS[self.kinds[i]]
                for slot, a in enumerate(self.args[i]):
                    reached[a] = reached[a] or carries_gradient(op, slot) or op.name in ("take", "gather")
        return reached

    @cached_property
    def gets_gradient(self) -> list[bool]:
        """For every node: does it carry a gradient (PyTorch's requires_grad and a .grad)? It
        depends on an input through slots a gradient flows back into, and the output's
        gradient reaches it; a comparison's value, for one, does not."""
        return [d and r for d, r in zip(self.depends_on(set(self.inputs), gradients=True), self.reached)]

    def depends_on(self, names: set, gradients: bool = False) -> list[bool]:
        """For every node: does it depend on one of these inputs? With `gradients`, only
        through the operand slots a gradient flows back into (the tensor pass's rule: p[y]
        sends none to its class label y)."""
        flags = [self.names.get(i) in names if k == INPUT else False for i, k in enumerate(self.kinds)]
        if gradients:
            for i, args in enumerate(self.args):
                if args:
                    op = OPS[self.kinds[i]]
                    flags[i] = any(flags[a] for slot, a in enumerate(args) if carries_gradient(op, slot))
            return flags
        for i, _, a, b in self._steps:
            flags[i] = flags[a] or (b >= 0 and flags[b])
        if self._wide:  # again with every operand: a node's flag comes after its operands'
            for i, _, _, _ in self._steps:
                flags[i] = any(flags[a] for a in self.args[i])
        return flags

    def _backward_steps(self, wanted: list[bool], used: dict | None = None) -> list:
        """(node, a, b, ∂/∂a, ∂/∂b, constant?) in tape order, a partial None where no gradient
        is wanted (the constant exponent of r^2 never needs its a^b·ln a). Where the partials
        are constants (+, -, neg, step, sign) they are numbers, and the pass neither reads the
        operands' values nor calls a function: a third of a typical graph's steps."""
        kinds = self.kinds
        # Only the ops this formula uses: reading all the table's derivative formulas costs
        # as much as parsing a small formula. Read from OPS each time, so the
        # table stays the one place an op's rules live (tests swap a rule in it).
        rules = {k: _partials_of(OPS[k]) for k in (used or dict.fromkeys(kinds)) if k in OPS}
        steps = _Steps()
        for i, _, a, b in self._steps:
            if wanted[i]:
                da, db, constant = rules[kinds[i]]
                steps.append((i, a, b, da if wanted[a] else None, db if b >= 0 and wanted[b] else None,
                              constant))
                if len(self.args[i]) > 2:
                    self._wide_backward_steps(steps, i, wanted)
        return steps

    def _wide_backward_steps(self, steps: _Steps, i: int, wanted: list[bool]) -> None:
        """A three-operand node's backward as two steps: (a, b), then c alone; their partials
        are bound to each pass's values (see _bound), which supply the missing operands."""
        a, b, c = self.args[i]
        partials = OPS[self.kinds[i]].partials
        i_ab, (_, _, _, da, db, _) = len(steps) - 1, steps[-1]
        steps[i_ab] = (i, a, b, None, None, False)
        steps.wide.append((i_ab, "ab", partials[0] if da else None, partials[1] if db else None))
        if wanted[c]:
            steps.append((i, c, -1, None, None, False))
            steps.wide.append((len(steps) - 1, "c", partials[2], None))

    def __len__(self) -> int:
        return len(self.kinds)

    def __reduce__(self):
        """Rebuilt from its plain data (its steps hold the op table's functions): how a
        formula reaches SymPy's worker process."""
        state = {"source_notes": self.source_notes} if self.source_notes else None
        return Formula, (self.text, self.kinds, self.args, self.consts, self.names, self.labels,
                         self.params), state

    def __repr__(self) -> str:
        return f"<Formula {len(self)} nodes, inputs {list(self.inputs)}>"

    # -- values -----------------------------------------------------------------
    def check_values(self, values: dict, complete: bool = True) -> None:
        """Raise one error naming every missing (if `complete`), unknown or non-finite value."""
        raise_problems(*value_problems(list(self.inputs), values, complete))

    # -- the two passes -----------------------------------------------------------
    def forward(self, values: dict, m=FLOAT) -> list:
        """The value of every node, in topological order."""
        vals = list(self._template)
        for name, i in self.inputs.items():
            vals[i] = values[name]
        steps = self._steps if not self._wide else self._bound_forward(vals)
        for i, f, a, b in steps:
            vals[i] = f(m, vals[a]) if b < 0 else f(m, vals[a], vals[b])
        return vals

    def backward(self, vals: list, m=FLOAT, wrt: tuple | None = None) -> list:
        """The adjoint ∂output/∂node of every node, accumulated from the output back.

        With `wrt` (input names), only what those inputs' gradients need is computed.
        A node no gradient reaches keeps the adjoint 0.0.
        """
        steps = self._back_steps if wrt is None else self._steps_for(wrt)
        if steps.wide:
            steps = self._bound_backward(steps, vals)
        if m is FLOAT:
            return float_adjoints(steps, vals, self.output)
        return array_adjoints(steps, vals, self.output, m)

    def float_gradient(self, vals: list, wrt: tuple) -> list:
        """∂output/∂input for each name of `wrt`, over floats: the backward pass keeping only
        those adjoints (the training loop's step, where the others are never read)."""
        steps = self._steps_for(wrt)
        if steps.wide:
            steps = self._bound_backward(steps, vals)
        adj = float_adjoints(steps, vals, self.output, raw=True)
        return [0.0 if adj[i] is _START else adj[i] for i in map(self.inputs.__getitem__, wrt)]

    def _bound_forward(self, vals: list) -> list:
        """The forward steps, those of three-operand nodes reading their third operand from `vals`."""
        steps = list(self._steps)
        for pos, _, c in self._wide:
            f = steps[pos][1]
            steps[pos] = steps[pos][:1] + (lambda m, x, y, f=f, c=c: f(m, x, y, vals[c]),) + steps[pos][2:]
        return steps

    def _bound_backward(self, steps: _Steps, vals: list) -> list:
        """The backward steps, three-operand nodes' partials given all their operands from `vals`."""
        bound = list(steps)
        for pos, which, p, q in steps.wide:
            i, a, b, _, _, _ = bound[pos]
            if which == "ab":
                c = self.args[i][2]
                p = p and (lambda m, out, x, y, p=p, c=c: p(m, out, x, y, vals[c]))
                q = q and (lambda m, out, x, y, q=q, c=c: q(m, out, x, y, vals[c]))
            else:
                x, y, _ = self.args[i]
                p = lambda m, out, z, p=p, x=x, y=y: p(m, out, vals[x], vals[y], z)  # noqa: E731
            bound[pos] = (i, a, b, p, q, False)
        return bound

    def _steps_for(self, wrt: tuple) -> list:
        steps = self._wrt_steps.get(wrt)
        if steps is None:
            steps = self._wrt_steps[wrt] = self._backward_steps(self.depends_on(set(wrt)))
        return steps

    def jvp(self, values: dict, tangents: dict, m=None) -> tuple[list, list]:
        """Forward mode: every node's value and its tangent (∂node along `tangents`, an input
        name → number dict; arrays of the inputs' shapes for a tensor formula): the forward
        pass, then forward mode's loop (sweep.tangents) along the tape.

        An input missing from `tangents` has tangent 0, and so has every node that depends
        on no input given one; their partials are never evaluated (as in PyTorch's forward
        AD, a constant carries no tangent, so r^2 never needs its exponent's a^b·ln a).
        """
        self.check_values(values)
        self.check_values(tangents, complete=False)
        if not self.elementwise:  # @, sum, softmax, …: the tensor pass and the rows' jvp rules
            from bpcli.engine import tensor  # deferred: the tensor pass (numpy when run), off the scalar start-up path

            return tensor.jvp(self, values, tangents, None if m is FLOAT else m)
        if m is None:
            m = _namespace_for(dict(enumerate([*values.values(), *tangents.values()])))
        if m is FLOAT:
            return self._jvp_sweep({k: float(v) for k, v in values.items()},
                                   {k: float(v) for k, v in tangents.items()}, m)
        with m.np.errstate(all="ignore"):
            return self._jvp_sweep({k: m.np.asarray(v, dtype=m.dtype) for k, v in values.items()},
                                   {k: m.np.asarray(v, dtype=m.dtype) for k, v in tangents.items()}, m)

    def _jvp_sweep(self, values: dict, tangents: dict, m) -> tuple[list, list]:
        vals = self.forward(values, m)
        tan: list = [None] * len(vals)  # None: no tangent reaches the node
        for name in tangents:
            tan[self.inputs[name]] = tangents[name]
        kinds, args = self.kinds, self.args

        def term(i, slot, a):
            return OPS[kinds[i]].partials[slot](m, vals[i], *[vals[j] for j in args[i]]) * tan[a]

        return vals, [0.0 if t is None else t for t in tangents_loop(args, tan, term)]

    def local_gradients(self, vals: list, i: int, m=FLOAT) -> tuple:
        """∂node/∂operand for each operand slot of node i, at the forward values."""
        kind = self.kinds[i]
        if kind not in OPS:
            return ()
        operands = [vals[a] for a in self.args[i]]
        return tuple(p(m, vals[i], *operands) for p in OPS[kind].partials)

    def evaluate(self, values: dict, m=FLOAT):
        """The output's value alone."""
        return self.forward(values, m)[self.output]

    def grad(self, values: dict, m=None, batched=None, wrt=None, checked: bool = False) -> Result:
        """Forward and backward at a point (floats), at many points of a scalar formula (`m`
        an ArrayMath: numpy arrays, elementwise), or over tensors: one example, or a batch
        whose `batched` inputs have the rows on axis 0 (vmap: gradients of batched inputs
        per row, of the others summed over the rows). `wrt`: only these inputs' gradients;
        `checked`: the caller has already run check_values on these values."""
        if not checked:
            self.check_values(values)
        if m is None and _all_numbers(values):
            m = FLOAT
        if m is None or batched is not None or not self.elementwise:
            from bpcli.engine import tensor  # deferred: the tensor pass (numpy when run), off the scalar start-up path

            return tensor.grad(self, values, None if m is FLOAT else m, batched, wrt)
        if m is FLOAT:
            values = {k: float(v) for k, v in values.items()}
            vals = self.forward(values, m)
            return Result(self, vals, self.backward(vals, m), m)
        with m.np.errstate(all="ignore"):
            values = {k: m.np.asarray(v, dtype=m.dtype) for k, v in values.items()}
            vals = self.forward(values, m)
            return Result(self, vals, self.backward(vals, m), m)

    def jacobian(self, values: dict, m=None, wrt=None, limit: int | None = None, checked: bool = False):
        """∂output/∂input for a tensor (or scalar) output, one backward pass per output entry;
        refused past `limit` output entries (None: tensor.MAX_JACOBIAN, 0: no limit)."""
        if not checked:
            self.check_values(values)
        from bpcli.engine import tensor  # deferred: the tensor pass (numpy when run), off the scalar start-up path

        return tensor.jacobian(self, values, m, wrt, limit)

    def hits(self, vals: list) -> list[tuple[str, int]]:
        """What a reader must know about a point, as (kind, node): "kink" (a non-differentiable
        point hit), "domain" (nan from finite operands), "overflow" (inf from finite ones)."""
        if not all(isinstance(v, float) for v in vals):
            return []  # many points at once: notes are for single points
        hits = []
        for i, kind in enumerate(self.kinds):
            op = OPS.get(kind)
            if op is None:
                continue
            operands = [vals[a] for a in self.args[i]]
            if op.kink and op.kink(*operands):
                hits.append(("kink", i))
            if not math.isfinite(vals[i]) and all(math.isfinite(v) for v in operands):
                hits.append(("domain" if math.isnan(vals[i]) else "overflow", i))
        return hits


class _Steps(list):
    """Backward steps; `wide` lists those of three-operand nodes, bound to values per pass."""

    def __init__(self):
        super().__init__()
        self.wide: list = []


def _partials_of(op) -> tuple:
    """(∂/∂a, ∂/∂b or None, constant?) as a backward step holds them. A constant 0 partial
    (step, sign) sends nothing, as PyTorch's sign backward gives zeros: an infinite adjoint
    times 0 would send nan (the masks in pow's derivative formulas, differentiated again)."""
    fixed = op.constant_partials
    if fixed is not None:
        fixed = tuple(None if p == 0 else p for p in fixed)
    return ((fixed or op.partials) + (None,))[:2] + (fixed is not None,)


# -0.0 is the one number x with -0.0 + x == x bit for bit (0.0 + -0.0 is 0.0).
_START = -0.0


def float_adjoints(steps: list, vals: list, output: int, raw: bool = False) -> list:
    """The backward pass over floats: the loop of sweep.reverse with tape_sender, specialised
    (the measured fast path; tests/test_properties.py holds it bit for bit equal to
    array_adjoints). Each sum starts from -0.0 (-0.0 + c is c: sweep.accumulate's first
    term) and every partial is multiplied in (g · 1.0 is g: sweep.scaled), as tests cost
    more than they save on floats. A node no term reached (only through a constant 0 partial,
    which sends nothing: step, sign) sends nothing either, as the array pass's None.
    With `raw`, adjoints no term reached are left -0.0 (_START) for the caller to read."""
    m = FLOAT
    adj: list = [_START] * len(vals)
    adj[output] = ONE
    for i, a, b, pa, pb, constant in reversed(steps):
        g = adj[i]
        if g is _START:
            continue
        if constant:  # pa and pb are numbers
            if pa is not None:
                adj[a] += g * pa
            if pb is not None:
                adj[b] += g * pb
            continue
        out, x = vals[i], vals[a]
        if b < 0:
            adj[a] += g * pa(m, out, x)
            continue
        y = vals[b]
        if pa is not None:
            adj[a] += g * pa(m, out, x, y)
        if pb is not None:
            adj[b] += g * pb(m, out, x, y)
    return adj if raw else [0.0 if v is _START else v for v in adj]


def array_adjoints(steps: list, vals: list, output: int, m) -> list:
    """The backward pass over arrays (or floats): the general loop, sweep.reverse, over the
    tape's steps; nodes no term reaches get 0.0."""
    adj: list = [None] * len(vals)  # None: no contribution yet
    adj[output] = ONE
    reverse(adj, reversed(steps), tape_sender(vals, m))
    return [0.0 if v is None else v for v in adj]


def _all_numbers(values: dict) -> bool:
    return all(isinstance(v, (int, float)) for v in values.values())


def _namespace_for(values: dict):
    """Floats for single points; numpy when any value is an array."""
    if _all_numbers(values):
        return FLOAT
    return ArrayMath("float64")
