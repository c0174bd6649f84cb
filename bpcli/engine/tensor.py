"""The tensor pass: shape inference, forward and backward over numpy arrays, by integer ids.

Used when a value is a tensor, the formula has a non-elementwise operation (@, sum, softmax,
indexing, …) or a batch is asked for. Elementwise rows of the op table apply with NumPy
broadcasting and their partials are multiplied into the upstream gradient, which is then
summed back to the operand's shape (`unbroadcast`); the other rows give their own
vector-Jacobian rule. Batches follow vmap: each batched input's axis 0 is the batch, the
others are shared by every row; results carry the batch axis first.
"""

from __future__ import annotations

from functools import cached_property

from bpcli.engine import entries as bound
from bpcli.engine.numeric import ONE, ArrayMath
from bpcli.engine.ops import CONST, INPUT, OPS, carries_gradient, shape_text, site
from bpcli.engine.result import Result
from bpcli.engine.sweep import accumulate, reverse
from bpcli.engine.sweep import tangents as tangents_loop
from bpcli.errors import InputValueError, LimitError, ShapeError, TensorOutputError

_VERBS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "pow": "raise",
          "max": "take the max of", "min": "take the min of"}


MAX_JACOBIAN = 100  # output entries: one backward pass each, a table row each


class JacobianLimitError(LimitError):
    """The output has more entries than the Jacobian bound; carries the count and the bound."""

    def __init__(self, message: str, entries: int, limit: int, shape: tuple, hint: str | None = None):
        super().__init__(message, hint)
        self.entries = entries
        self.limit = limit
        self.shape = shape


class Jacobian:
    """∂output/∂input for every input that gets a gradient: arrays of shape
    output_shape + input_shape, the output's value beside them."""

    def __init__(self, formula, value, output_shape: tuple, input_shapes: dict, matrices: dict):
        self.formula = formula
        self.value = value
        self.output_shape = output_shape
        self.input_shapes = input_shapes
        self.matrices = matrices


def broadcast(name: str, shapes: list) -> tuple:
    """NumPy's broadcasting rule for shapes, or a ShapeError saying which sizes clash."""
    rank = max(map(len, shapes))
    out = []
    for k in range(-rank, 0):
        sizes = [s[k] for s in shapes if len(s) >= -k]
        big = [n for n in sizes if n != 1]
        if big and any(n != big[0] for n in big):
            verb = _VERBS.get(name, f"apply {name} to")
            shown = " and ".join(shape_text(s) for s in shapes)
            raise ShapeError(f"cannot {verb} {shown} (broadcasting needs {big[0]} = {big[-1]} "
                             f"or 1 on axis {k})")
        out.append(big[0] if big else 1)
    return tuple(out)


def node_name(formula, i: int) -> str:
    """A node as an error names it: an input by its name, another by its number and operation."""
    kind = formula.kinds[i]
    return formula.names[i] if kind == INPUT else f"n{i} ({OPS[kind].name})"


def shapes(formula, input_shapes: dict, batch: int | None = None) -> list[tuple]:
    """Every node's shape for one example, in tape order; ShapeError names the node, and
    EntriesError a node (`batch` rows of it) past the bound on entries, before any is made."""
    f = formula
    out: list[tuple] = []
    for i, kind in enumerate(f.kinds):
        if kind == INPUT:
            out.append(tuple(input_shapes[f.names[i]]))
            bound.check(out[-1], node_name(f, i), batch or 1, node=i)
            continue
        if kind == CONST:
            out.append(())
            continue
        op = OPS[kind]
        operand_shapes = [out[a] for a in f.args[i]]
        try:
            if op.elementwise:
                out.append(broadcast(kind, operand_shapes) if any(operand_shapes) else ())
            else:
                params = f.params.get(i, ())
                out.append(tuple(op.shape(tuple(operand_shapes), op.bound(params) if op.signature else params)))
        except ShapeError as e:
            raise ShapeError(e.reason, e.hint, node=i, op=kind, shapes=tuple(operand_shapes)) from None
        bound.check(out[-1], node_name(f, i), batch or 1, node=i)
    return out


def unbroadcast(np, c, shape: tuple):
    """Sum a contribution back to an operand's shape: over the axes broadcasting added and
    the axes of length 1 it stretched."""
    if c.shape == shape:
        return c
    extra = c.ndim - len(shape)
    if extra > 0:
        c = c.sum(axis=tuple(range(extra)))
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and c.shape[k] != 1)
    if stretched:
        c = c.sum(axis=stretched, keepdims=True)
    return np.broadcast_to(c, shape) if c.shape != shape else c


class TensorResult(Result):
    """A forward and backward pass over tensors; `shapes` are per example, `batch` the
    number of rows (None: one example)."""

    def __init__(self, formula, values, adjoints, m, shapes, batch, wanted):
        super().__init__(formula, values, adjoints, m)
        self.shapes = shapes
        self.batch = batch
        self._wanted = wanted

    @property
    def is_tensor(self) -> bool:
        return True

    def adjoint(self, i: int):
        """The adjoint, or None where no gradient flows: constants, class labels."""
        if not self._wanted[i] or i in self._label_ids:
            return None
        return self.adjoints[i]

    @cached_property
    def hits(self) -> list[tuple[str, int]]:
        """(kind, node) as for floats: a kink hit by any entry, entries that left the reals."""
        np = self.m.np
        out = []
        with np.errstate(all="ignore"):
            for i, kind in enumerate(self.formula.kinds):
                op = OPS.get(kind)
                if op is not None and not op.elementwise and op.kink and np.any(self._tensor_kink(i)):
                    out.append(("kink", i))  # amax's ties: the gradient is split, PyTorch's way
                if op is None or not op.elementwise:
                    continue
                xs = self.operands(i)
                if op.kink and np.any(op.kink(*xs)):
                    out.append(("kink", i))
                finite_in = np.all([np.isfinite(x) for x in np.broadcast_arrays(*xs)], axis=0)
                bad = ~np.isfinite(self.values[i]) & finite_in
                if np.any(bad):
                    out.append(("domain" if np.any(np.isnan(self.values[i])[bad]) else "overflow", i))
        return out

    def entries(self, i: int, kind: str) -> int:
        """How many entries of node i a hit of this kind concerns."""
        np = self.m.np
        xs = self.operands(i)
        with np.errstate(all="ignore"):
            if kind == "kink" and not OPS[self.formula.kinds[i]].elementwise:
                return int(np.count_nonzero(self._tensor_kink(i)))
            if kind == "kink":
                return int(np.count_nonzero(np.broadcast_to(OPS[self.formula.kinds[i]].kink(*xs),
                                                            np.shape(self.values[i]))))
            return int(np.count_nonzero(~np.isfinite(self.values[i])))

    def _tensor_kink(self, i: int):
        """Where a non-elementwise node's rule meets its convention (an amax tie), per entry."""
        f = self.formula
        at = site(f.kinds[i], f.params.get(i, ()), tuple(len(self.shapes[a]) for a in f.args[i]))
        return OPS[f.kinds[i]].kink(self.m, self.values[i], *self.operands(i), at)

    @cached_property
    def _label_ids(self) -> frozenset[int]:
        """The input nodes used only as class labels (p[y]'s y, cross_entropy's y, …)."""
        f = self.formula
        uses: dict[int, list[bool]] = {}
        for i, args in enumerate(f.args):
            for slot, a in enumerate(args):
                uses.setdefault(a, []).append(f.kinds[i] in OPS and slot in OPS[f.kinds[i]].labels)
        return frozenset(i for i in f.inputs.values() if uses.get(i) and all(uses[i]))

    def labels(self) -> list[str]:
        """Inputs used only as class labels (p[y]): they get no gradient."""
        return [n for n, i in self.formula.inputs.items() if i in self._label_ids]

    @property
    def gradient(self) -> dict:
        return {name: self.adjoints[i] for name, i in self.formula.inputs.items() if self._wanted[i]}

    def operands(self, i: int) -> list:
        """Node i's operands as its rule sees them (batched ones aligned to its rank)."""
        return _operands(self.formula, self.values, self.shapes, self.batch, i)

    def local(self, i: int) -> tuple:
        """∂node/∂operand per slot for an elementwise node (arrays); None for the others."""
        op = OPS.get(self.formula.kinds[i])
        if op is None:
            return ()
        if not op.elementwise:
            return (None,) * len(self.formula.args[i])
        xs = self.operands(i)
        with self.m.np.errstate(all="ignore"):
            return tuple(p(self.m, self.values[i], *xs) for p in op.partials)

    @cached_property
    def carrying(self) -> list[bool]:
        """Per node, whether a gradient reaches it (not constants, class labels, a comparison's operands)."""
        return [self.adjoint(i) is not None for i in range(len(self.formula))]

    def carries(self, v: int, slot: int, a: int) -> bool:
        """Between nodes a gradient reaches, through a slot that carries one (not amax's operand
        read only by a comparison)."""
        live = self.carrying
        return live[v] and live[a] and carries_gradient(OPS[self.formula.kinds[v]], slot)

    def zero_adjoint(self, i: int):
        return self.m.np.zeros_like(self.adjoints[i])

    def sends(self, i: int, g) -> list:
        """What a gradient `g` at node i sends its operands, by the rules of the right pass
        (`sends`, below): (slot, operand, contribution) for each operand a gradient reaches."""
        with self.m.np.errstate(all="ignore"):
            return sends(self.formula, self.values, self.shapes, self.batch, self.m, self._edges, i, g)

    @cached_property
    def _edges(self) -> list:
        return carried(self.formula, self._wanted)

    def contribution(self, i: int, slot: int):
        """What node i's adjoint sends to its operand `slot`, in that operand's shape."""
        return self.pull(i, slot, self.adjoints[i])

    def pull(self, i: int, slot: int, g):
        """What a gradient `g` at node i sends to its operand `slot` (the edge's vector-Jacobian
        product), in that operand's shape."""
        with self.m.np.errstate(all="ignore"):
            return _contribution(self.formula, self.values, self.shapes, self.batch, self.m, i, slot, g)

    def broadcast_axes(self, i: int, slot: int) -> int:
        """How many entries of node i each entry of operand `slot` feeds by broadcasting."""
        parent, child = self.shapes[i], self.shapes[self.formula.args[i][slot]]
        if not OPS[self.formula.kinds[i]].elementwise or parent == child:
            return 1
        n = 1
        for k in range(1, len(parent) + 1):
            if k > len(child) or (child[-k] == 1 and parent[-k] != 1):
                n *= parent[-k]
        return n


def _operands(f, vals, shapes, batch, i) -> list:
    xs = [vals[a] for a in f.args[i]]
    op = OPS[f.kinds[i]]
    if batch is None or not op.elementwise:
        return xs
    rank = len(shapes[i])
    out = []
    for a, x in zip(f.args[i], xs):
        r = len(shapes[a])
        if r < rank and x.ndim == r + 1:  # a batched operand of lower rank: axes after the batch
            x = x.reshape((x.shape[0],) + (1,) * (rank - r) + x.shape[1:])
        out.append(x)
    return out


def _contribution(f, vals, shapes, batch, m, i, slot, g, convention=None, xs=None):
    """What g at node i sends to operand `slot`; `xs`: the node's aligned operands, if the
    caller has them already (backward aligns them once per node, not once per slot)."""
    op = OPS[f.kinds[i]]
    a = f.args[i][slot]
    xs = _operands(f, vals, shapes, batch, i) if xs is None else xs
    if op.elementwise:
        p = op.partials[slot](m, vals[i], *xs)
        if convention == "jax" and op.jax_partials:  # JAX's own partial where the kink is hit
            p = m.np.where(op.kink(*xs), op.jax_partials[slot](m, vals[i], *xs), 1.0 if p is ONE else p)
        c = g if p is ONE else g * p
        return _fit(m.np, c, xs[slot], vals[a])
    at = site(f.kinds[i], f.params.get(i, ()), tuple(len(shapes[b]) for b in f.args[i]))
    vjp = op.jax_partials if convention == "jax" and op.jax_partials else op.vjp
    c = vjp[slot](m, g, vals[i], *xs, at)
    return _fit(m.np, m.np.asarray(c, dtype=m.dtype), vals[a], vals[a])


def _fit(np, c, aligned, value):
    """The contribution unbroadcast to the aligned operand, then in the operand's own shape."""
    c = unbroadcast(np, np.asarray(c), np.shape(aligned))
    return c.reshape(np.shape(value)) if c.shape != np.shape(value) else c


def _wanted(f, wrt) -> list[bool]:
    """Nodes that depend on an input whose gradient is wanted (all inputs: wrt None) and that
    a gradient from the output reaches: not those seen only through a comparison or where's
    condition, which PyTorch leaves without a .grad."""
    depends = f.depends_on(set(f.inputs) if wrt is None else set(wrt), gradients=True)
    return [d and r for d, r in zip(depends, f.reached)]


def prepare(formula, values: dict, m, batched) -> tuple:
    """Values as arrays of m's dtype, per-example shapes of every node, the batch size."""
    np = m.np
    batch = None
    example = {}
    for name, v in values.items():
        shape = np.shape(v)
        if batched is not None and name in batched:
            if not shape:
                raise InputValueError(f"{name} is batched but holds one number: a batch needs an axis of rows")
            if batch is not None and shape[0] != batch:
                raise InputValueError(f"{name} has {shape[0]} rows, another batched input {batch}")
            batch = shape[0]
            example[name] = shape[1:]
        else:
            example[name] = shape
    node_shapes = shapes(formula, example, batch)  # before any array is made
    arrays = {name: np.asarray(v, dtype=m.dtype) for name, v in values.items()}
    return arrays, node_shapes, batch


def forward(formula, arrays: dict, node_shapes: list, batch, m) -> list:
    """The value of every node (arrays), in tape order."""
    f = formula
    vals: list = [None] * len(f)
    for i, kind in enumerate(f.kinds):
        if kind == INPUT:
            vals[i] = arrays[f.names[i]]
        elif kind == CONST:
            vals[i] = m.np.asarray(f.consts[i], dtype=m.dtype)
        else:
            op = OPS[kind]
            xs = _operands(f, vals, node_shapes, batch, i)
            if op.elementwise:
                vals[i] = m.np.asarray(op.forward(m, *xs), dtype=m.dtype)
                continue
            at = site(kind, f.params.get(i, ()), tuple(len(node_shapes[a]) for a in f.args[i]))
            try:
                vals[i] = m.np.asarray(op.forward(m, *xs, at), dtype=m.dtype)
            except ShapeError as e:  # a kernel's refusal of its operands' values (an index out of range)
                if e.node is None:
                    e.node, e.op, e.shapes = i, kind, tuple(node_shapes[a] for a in f.args[i])
                raise
    return vals


def carried(f, wanted: list) -> list[list[tuple[int, int]]]:
    """Per node, the (slot, operand) edges a backward step sends along: to each operand whose
    gradient is wanted, through a slot that carries one (not a comparison's, not a class label's)."""
    return [[(slot, a) for slot, a in enumerate(args) if wanted[a] and carries_gradient(OPS[f.kinds[i]], slot)]
            if args else [] for i, args in enumerate(f.args)]


def sends(f, vals: list, node_shapes: list, batch, m, edges: list, i: int, g, convention=None) -> list:
    """One step of the backward pass: what a gradient `g` at node i sends along its `edges`
    (`carried`), as (slot, operand, contribution) in that operand's shape. `backward` adds
    each into its operand's adjoint as it comes; bp grad --mistake's wrong passes
    (engine/mistakes.py) do something else with the same contributions."""
    xs = _operands(f, vals, node_shapes, batch, i)
    return [(slot, a, _contribution(f, vals, node_shapes, batch, m, i, slot, g, convention, xs))
            for slot, a in edges[i]]


def backward(formula, vals: list, node_shapes: list, batch, m, wanted: list, seed, lean: bool = False,
             convention=None) -> list:
    """The adjoint of every node from `seed` at the output (zeros where none reaches);
    `convention` "jax": JAX's partials at the kinks where its convention differs from bp's.

    `lean` (a trainer's step): each node's adjoint and value are dropped from the lists as soon
    as they have been sent on (inputs' adjoints stay, None where none reaches), so memory holds
    the forward values and little more."""
    f = formula
    np = m.np
    adj: list = [None] * len(f)
    adj[f.output] = seed

    edges = carried(f, wanted)

    def send(step, g, adj):  # sends(…), each contribution added as it comes (no list: the trainer's hot loop)
        i = step[0]
        xs = _operands(f, vals, node_shapes, batch, i)
        for slot, a in edges[i]:
            accumulate(adj, a, _contribution(f, vals, node_shapes, batch, m, i, slot, g, convention, xs))
        if lean:  # node i's parents are done (they come later on the tape): nothing reads it again
            adj[i] = vals[i] = None

    reverse(adj, [(i,) for i in range(len(f) - 1, -1, -1) if f.args[i]], send)
    if lean:
        return adj
    return [np.zeros(np.shape(v), dtype=m.dtype) if a is None else a for a, v in zip(adj, vals)]


def step(formula, values: dict, m, batched, wrt, keep: list[int]) -> tuple[dict, dict]:
    """A trainer's forward and backward over a batch: the values of the `keep` nodes and the
    gradients of the `wrt` inputs (shared ones summed over the rows), holding little more
    than the forward values at any time (backward's `lean`)."""
    np = m.np
    with np.errstate(all="ignore"):
        arrays, node_shapes, batch = prepare(formula, values, m, tuple(batched))
        vals = forward(formula, arrays, node_shapes, batch, m)
        kept = {i: vals[i] for i in keep}
        del arrays
        seed = np.ones(() if batch is None else (batch,), dtype=m.dtype)
        adj = backward(formula, vals, node_shapes, batch, m, _wanted(formula, wrt), seed, lean=True)
    shape = {n: values[n].shape if n in batched else np.shape(values[n]) for n in wrt}
    grads = {n: adj[formula.inputs[n]] if adj[formula.inputs[n]] is not None else np.zeros(shape[n], dtype=m.dtype)
             for n in wrt}
    return kept, grads


def grad(formula, values: dict, m=None, batched=None, wrt=None, convention=None) -> TensorResult:
    """Forward and backward over tensors: one example, or a batch (vmap semantics);
    `convention` "jax": with JAX's partials where its convention at a kink differs (export)."""
    m = m or ArrayMath("float64")
    batched = tuple(batched) if batched is not None else None
    if batched is not None:
        unknown = [n for n in batched if n not in formula.inputs]
        if unknown:
            raise InputValueError(f"batched names that are not inputs: {', '.join(unknown)}")
    with m.np.errstate(all="ignore"):
        arrays, node_shapes, batch = prepare(formula, values, m, batched)
        out_shape = node_shapes[formula.output]
        if out_shape:
            raise TensorOutputError(
                f"the output is a tensor of shape {shape_text(out_shape)}: a gradient needs a scalar output",
                node=formula.output, op=formula.kinds[formula.output], shapes=(out_shape,))
        vals = forward(formula, arrays, node_shapes, batch, m)
        wanted = _wanted(formula, wrt)
        seed = m.np.ones(() if batch is None else (batch,), dtype=m.dtype)
        adjoints = backward(formula, vals, node_shapes, batch, m, wanted, seed, convention=convention)
    return TensorResult(formula, vals, adjoints, m, node_shapes, batch, wanted)


def evaluate(formula, values: dict, m=None, batched=None) -> TensorResult:
    """Forward only (any output shape): values and shapes, no adjoints (None: none is wanted)."""
    m = m or ArrayMath("float64")
    with m.np.errstate(all="ignore"):
        arrays, node_shapes, batch = prepare(formula, values, m, batched)
        vals = forward(formula, arrays, node_shapes, batch, m)
    return TensorResult(formula, vals, [None] * len(vals), m, node_shapes, batch, [False] * len(vals))



def jacobian(formula, values: dict, m=None, wrt=None, limit: int | None = None) -> Jacobian:
    """The full Jacobian of the output: one backward pass per output entry, seeded one-hot
    (a scalar output: one pass, the gradient as one row). Class labels get none."""
    m = m or ArrayMath("float64")
    np = m.np
    limit = MAX_JACOBIAN if limit is None else limit
    with np.errstate(all="ignore"):
        arrays, node_shapes, _ = prepare(formula, values, m, None)
        out_shape = node_shapes[formula.output]
        entries = bound.count(out_shape)
        if limit and entries > limit:
            raise JacobianLimitError(
                f"the output has {entries:,} entries (shape {shape_text(out_shape)}): a Jacobian is "
                f"shown for at most {limit:,}", entries, limit, out_shape)
        for n, i in formula.inputs.items():  # the matrices: an input's entries for each output entry
            bound.check(out_shape + node_shapes[i], f"the Jacobian of the output by {n}")
        vals = forward(formula, arrays, node_shapes, None, m)
        wanted = _wanted(formula, wrt)
        probe = TensorResult(formula, vals, vals, m, node_shapes, None, wanted)
        names = [n for n, i in formula.inputs.items() if wanted[i] and n not in probe.labels()]
        rows: dict = {n: [] for n in names}
        for k in range(entries):
            seed = np.zeros(entries, dtype=m.dtype)
            seed[k] = 1
            adjoints = backward(formula, vals, node_shapes, None, m, wanted, seed.reshape(out_shape))
            for n in names:
                rows[n].append(adjoints[formula.inputs[n]])
    matrices = {n: np.stack(rows[n]).reshape(out_shape + node_shapes[formula.inputs[n]]) for n in names}
    return Jacobian(formula, vals[formula.output], out_shape,
                    {n: node_shapes[formula.inputs[n]] for n in names}, matrices)


def jvp(formula, values: dict, tangents: dict, m=None) -> tuple[list, list]:
    """Forward mode over tensors: every node's value and its tangent along `tangents` (input
    name → an array of the input's shape, or a number for every entry), along the tape; nodes
    no tangent reaches get zeros. Elementwise rows multiply their partials in, the others
    apply their `jvp` rule (a class label carries none)."""
    f = formula
    m = m or ArrayMath("float64")
    np = m.np
    with np.errstate(all="ignore"):
        arrays, node_shapes, _ = prepare(f, values, m, None)
        vals = forward(f, arrays, node_shapes, None, m)
        tan: list = [None] * len(f)
        for name, t in tangents.items():
            i = f.inputs[name]
            t = np.asarray(t, dtype=m.dtype)
            if t.shape != node_shapes[i] and t.shape:
                raise InputValueError(f"the tangent of {name} has shape {shape_text(t.shape)}, "
                                      f"{name} has shape {shape_text(node_shapes[i])}")
            tan[i] = np.broadcast_to(t, node_shapes[i])

        def term(i, slot, a):
            op = OPS[f.kinds[i]]
            xs = [vals[b] for b in f.args[i]]
            if op.elementwise:
                p = op.partials[slot](m, vals[i], *xs)
                return tan[a] if p is ONE else p * tan[a]
            if op.jvp[slot] is None:
                return None
            at = site(f.kinds[i], f.params.get(i, ()), tuple(len(node_shapes[b]) for b in f.args[i]))
            return op.jvp[slot](m, tan[a], vals[i], *xs, at)

        tangents_loop(f.args, tan, term,
                      lambda i, t: np.broadcast_to(np.asarray(t, dtype=m.dtype), node_shapes[i]))
    return vals, [np.zeros(s, dtype=m.dtype) if t is None else np.array(t) for t, s in zip(tan, node_shapes)]
