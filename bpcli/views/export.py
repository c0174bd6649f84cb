"""bp export: the same graph as a standalone PyTorch or JAX script that checks bp's numbers.

Generated code is data: user text (the formula and its comments, the loss, the data file's
name, class labels) reaches a script only as a string literal (python_string) or as comment
lines (comment_lines), and every user name is the script's variable only where readable() says
it cannot meet the script's own names; else it becomes n<id> (v<k> in a loop) and the user's
name stays in a literal for messages.

A script rebuilds the formula one tensor per bp node, runs the library's own backward pass
(PyTorch's `backward()`, or JAX's `jax.vjp` pullbacks node by node, as bp's reverse pass
does) and compares every value and adjoint with bp's, embedded as exact numbers. The
training loop (`loop_script`) is the lecture's PyTorch loop for a `bp train` setting.
Everything is generated along the tape: no recursion.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
import unicodedata

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.ops import OPS, shape_text
from bpcli.engine.tensor import grad as tensor_grad
from bpcli.engine.tensor import shapes as node_shapes
from bpcli.engine.values import is_number, shape_of
from bpcli.errors import UsageError, setting
from bpcli.language.parser import parse
from bpcli.training.nets import FEATURES
from bpcli.views import labels as view

LIBRARIES = {"torch": "PyTorch", "jax": "JAX"}
# Equal to rounding: the libraries' exp, tanh, … may differ from C's libm in the last bit.
REL, ABS = 1e-12, 1e-14
MAX_LOOP_ROWS = 10_000  # the loop embeds its data in the script
# The scripts' own names, a namespace no user name can reach: Python's keywords and builtins,
# the module-level names and globals the scripts use, and the families they derive names in
# (n<id> per node, v<k> per renamed loop name, g_/d_/pull_ in JAX's backward pass, <name>_data
# in the loop, anything private). A user name outside it is kept as written; one inside it
# becomes n<id> (or v<k> in a loop) and is kept in a string literal for messages.
_SCRIPT = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {
    "torch", "jax", "jnp", "DTYPE", "close", "check", "expected", "expected_under_jax", "found",
    "difference", "by_bp", "convention", "JAX_CONVENTIONS", "entries", "first_difference"}
_LOOP = _SCRIPT | {"TRACE", "epoch", "start", "l", "losses", "forward", "loss", "row_loss", "predicted",
                   "predictions", "differences", "trained", "optimizer"}
_FAMILIES = re.compile(r"_.*|[nv]\d+|(?:g|d|pull)_.*|.*_data", re.DOTALL)


MAX_NUMBERS = 1_000_000  # numbers a tensor script embeds (values and adjoints): a readable file
# A vector's transpose is the vector (bp, as NumPy); these spell it as a node of its own.
_VECTOR_TRANSPOSE = {"torch": "torch.t({0})", "jax": "jnp.transpose({0})"}


def unsupported(formula, library: str) -> list[str]:
    """The ops of the formula that the library has no differentiable counterpart for."""
    return [k for k in dict.fromkeys(formula.kinds) if k in OPS and getattr(OPS[k], library) is None]


def require(formula, library: str) -> None:
    missing = unsupported(formula, library)
    if missing:
        raise UsageError(f"{LIBRARIES[library]} has no differentiable counterpart of "
                         f"{', '.join(missing)}, which the formula uses; nothing was exported")


def number(v: float) -> str:
    """A float as Python source that reads back exactly."""
    if math.isnan(v):
        return 'float("nan")'
    if math.isinf(v):
        return 'float("inf")' if v > 0 else '-float("inf")'
    return repr(float(v))


def literal(v) -> str:
    """A number or an array (as nested lists) as Python source that reads back exactly."""
    if is_number(v):
        return number(float(v))
    return re.sub(r"\b(nan|inf)\b", r'float("\1")', repr(v.tolist()))


def spell(f, i: int, library: str, names: list[str], shapes=None) -> str:
    """Node i as the library writes it, over its operands' variable names."""
    op = OPS[f.kinds[i]]
    args = [names[a] for a in f.args[i]]
    params = f.params.get(i, ())
    if op.name == "transpose" and len(shapes[f.args[i][0]]) < 2:
        return _VECTOR_TRANSPOSE[library].format(*args)
    named = op.bound(params) if op.signature else {}
    if op.name == "transpose" and named["dim0"] is None:  # transpose(A): the last two axes
        named.update(dim0=-2, dim1=-1)
    if shapes is not None:
        named["out_shape"] = tuple(shapes[i])
    if op.name == "pad":
        from bpcli.engine.shapes import widths  # deferred: numpy (engine/shapes.py), for a pad node only

        rank = len(shapes[f.args[i][0]])
        pad = tuple(named["pad"])
        named["torch_pad"] = pad * (2 * rank) if len(pad) == 1 else pad
        named["jax_pad"] = widths(pad, rank)
    scalar_axis = library == "jax" and op.arity == 1 and "axis=" in op.jax and shapes is not None \
        and not shapes[f.args[i][0]]
    if scalar_axis:  # PyTorch reads a 0-d tensor along dim 0 or -1 as one entry; jnp refuses the axis
        args[0] = f"jnp.reshape({args[0]}, (1,))"
    text = getattr(op, library).format(*args, **named, index=", ".join(map(str, params)))
    if library == "jax" and op.name in ("var", "std"):
        text = _no_degree_of_freedom(text, op.name, args[0], named, shapes[f.args[i][0]] if shapes else ())
    if scalar_axis:
        text = f"jnp.reshape({text}, ())"
    if library == "torch" and op.name == "prod" and named.get("dim") is None and named.get("keepdim"):
        text = f"torch.prod({args[0]}).reshape([1] * {args[0]}.dim())"  # torch.prod takes no dim=None
    text = re.sub(r", keepdims?=False\b", "", text)  # the default, left unsaid
    return re.sub(r", (?:dim|axis)=None\)$", ")", text)


def _no_degree_of_freedom(text: str, name: str, x: str, named: dict, operand: tuple) -> str:
    """var or std with no more entries than the correction: PyTorch divides the squared deviations
    by max(0, n - correction), 0 (inf, or nan for none), where jnp.var answers nan."""
    n = math.prod(operand) if named["dim"] is None or not operand else operand[named["dim"]]
    if named["correction"] < n:
        return text
    axis = "" if named["dim"] is None else f", axis={named['dim']}"
    var = (f"jnp.sum(jnp.square({x} - jnp.mean({x}{axis}, keepdims=True)){axis}, "
           f"keepdims={named['keepdim']}) / 0.0")
    return var if name == "var" else f"jnp.sqrt({var})"


def readable(name: str, script=_SCRIPT) -> bool:
    """Whether a user's name can be the script's variable as written: a Python identifier that
    NFKC leaves alone (Python folds 𝐱 into x), outside the script's own namespace."""
    return (name.isidentifier() and unicodedata.normalize("NFKC", name) == name
            and name not in script and not _FAMILIES.fullmatch(name))


def python_string(text: str) -> str:
    """User text as a Python string literal (repr: quotes, backslashes, newlines and every
    unprintable character escaped), in double quotes where repr would not need single ones."""
    r = repr(str(text))
    return f'"{r[1:-1]}"' if r[0] == "'" and '"' not in text else r


def _neutral(line: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def comment_lines(text: str, indent: str = "") -> list[str]:
    """User text as `#` comment lines: a line per line of it, every unprintable character
    (control characters, line and paragraph separators) written as its escape."""
    return [f"{indent}# {_neutral(line)}".rstrip() for line in str(text).split("\n")]


def variable_names(formula, fixed: dict | None = None, script=_SCRIPT) -> list[str]:
    """A Python name per node: an input's or bound name where readable(), else n<id> (an
    input's from `fixed` where given); never a name the script uses, nor one taken twice."""
    fixed = fixed or {}
    inputs = {i: fixed.get(formula.names[i]) or (formula.names[i] if readable(formula.names[i], script)
                                                 else f"n{i}")
              for i in formula.inputs.values()}
    taken = set(inputs.values())
    out = []
    for i in range(len(formula.kinds)):
        if i in inputs:
            out.append(inputs[i])
            continue
        name = f"n{i}"
        for candidate in formula.labels.get(i, [])[::-1]:
            if readable(candidate, script) and candidate not in taken:
                name = candidate
                break
        taken.add(name)
        out.append(name)
    return out


def user_name(formula, i: int, names: list[str]) -> str:
    """The name a message gives node i: the user's (an input's, or the bound name it goes by), else
    its variable."""
    if formula.kinds[i] == INPUT:
        return formula.names[i]
    bound = formula.labels.get(i, [])
    return names[i] if names[i] in bound or not bound else bound[-1]


def loop_names(names: list[str]) -> dict[str, str]:
    """A loop script's variable for each user name (parameters and data): as written where
    readable(), else v1, v2, ... in order."""
    out: dict[str, str] = {}
    renamed = 0
    for name in dict.fromkeys(names):
        if not readable(name, _LOOP):
            renamed += 1
        out[name] = name if readable(name, _LOOP) else f"v{renamed}"
    return out


def _comment(formula, i: int, names: list[str], shapes=None) -> str:
    what = view.show(formula, i, lambda j: names[j])
    lab = view.label(formula, i)
    shape = f", {shape_text(shapes[i])}" if shapes is not None else ""
    return _neutral(f"n{i}: {what}" + (f" ({lab})" if lab and lab != names[i] else "") + shape)


def _header(title: str, lines: list[str], about: list[str]) -> list[str]:
    """The docstring (bp's own words only), then what the script is about (user text) as comments."""
    return ['"""' + title, "", *lines, '"""', "", *about, ""]


def _check_helper(rel: float = REL) -> list[str]:
    return [
        "",
        "",
        "def close(ours, bps):",
        f'    """Equal to rounding (relative {rel:g}); inf and nan only equal themselves."""',
        "    if ours != ours or bps != bps:",
        "        return ours != ours and bps != bps",
        '    if abs(ours) == float("inf") or abs(bps) == float("inf"):',
        "        return ours == bps",
        f"    return abs(ours - bps) <= {ABS!r} + {rel!r} * max(abs(ours), abs(bps))",
        "",
        "",
    ]


def _expected_table(result, names: list[str], adjoints=None, variable: str = "expected") -> list[str]:
    """bp's numbers per node: (node, Python name, value, adjoint or None); a tensor formula's
    rows also carry each node's shape, and its numbers are nested lists."""
    f = result.formula
    adjoints = adjoints or [result.adjoint(i) for i in range(len(f))]
    if result.is_tensor:
        lines = ["# bp's numbers, exact: (node, name, shape, value, adjoint; None where no",
                 "# gradient flows). Tensors are nested lists, row by row."]
        rows = [[f'    ("n{i}", {python_string(user_name(f, i, names))}, {list(result.shapes[i])},',
                  f"     {literal(result.values[i])},",
                 f"     {'None' if adjoint is None else literal(adjoint)}),"] for i, adjoint in enumerate(adjoints)]
    else:
        lines = ["# bp's numbers, exact: (node, name, value, adjoint; None where no gradient flows)"]
        rows = [[f'    ("n{i}", {python_string(user_name(f, i, names))}, {number(result.values[i])}, '
                 f"{'None' if adjoint is None else number(adjoint)}),"] for i, adjoint in enumerate(adjoints)]
    return lines + [f"{variable} = ["] + [line for row in rows for line in row] + ["]"]


def _compare_loop(value_of: str, adjoint_of: str, conventions: bool = False) -> list[str]:
    return [
        "",
        "",
        "def check(nodes):",
        '    """The first number that differs from bp\'s, or None."""',
        "    for node, name, value, adjoint in expected:",
        f"        ours = {value_of}",
        "        if not close(ours, value):",
        '            return f"{node} ({name}): value {ours!r}, bp {value!r}"',
        "        if adjoint is not None:",
        f"            ours = {adjoint_of}",
        "            if not close(ours, adjoint):",
        '                return f"{node} ({name}): adjoint {ours!r}, bp {adjoint!r}"',
        "    return None",
        "",
        "",
        *_verdict(conventions),
    ]


def _verdict(conventions: bool = False) -> list[str]:
    if not conventions:
        return ["difference = check(found)",
                'print("ok" if difference is None else "differs: " + difference)',
                "raise SystemExit(0 if difference is None else 1)"]
    return ["difference = check(found)",
            "if difference is not None:",
            "    # At a kink where JAX's convention differs from bp's, check JAX against bp's",
            "    # numbers under JAX's convention: equal there, only the convention differs.",
            "    by_bp, expected = difference, expected_under_jax",
            "    difference = check(found)",
            "    if difference is None:",
            """        print("ok under JAX's convention at a kink, where it differs from bp's and PyTorch's:")""",
            "        for convention in JAX_CONVENTIONS:",
            '            print("  " + convention)',
            """        print("  (against bp's own numbers: " + by_bp + ")")""",
            "        raise SystemExit(0)",
            'print("ok" if difference is None else "differs: " + difference)',
            "raise SystemExit(0 if difference is None else 1)"]


def _jax_conventions(result, point: dict, names: list[str]) -> list[str]:
    """Where JAX's convention at a kink differs from bp's: what it does, in words, and bp's
    numbers under it (JAX_CONVENTIONS and expected_under_jax); nothing where none is hit."""
    f = result.formula
    hit = [i for kind, i in result.hits if kind == "kink" and OPS[f.kinds[i]].jax_partials]
    if not hit:
        return []
    other = tensor_grad(f, point, convention="jax")
    adjoints = [other.adjoint(i) for i in range(len(f))]
    notes = [f"n{i} {_comment(f, i, names).split(': ', 1)[1]}: {OPS[f.kinds[i]].jax_convention}" for i in hit]
    table = _expected_table(result, names, adjoints, "expected_under_jax")
    return ["", "# JAX's convention differs from bp's (and PyTorch's) at a kink this point hits:",
            "JAX_CONVENTIONS = [", *(f"    {n!r}," for n in notes), "]",
            "# ... so here are bp's numbers under JAX's convention too:", *table[1:]]


# -- tensors: arrays embedded as nested lists, compared entry by entry ----------------------
def _tensor_check_helper(entries: str, rel: float = REL) -> list[str]:
    """close() relative to the node's largest entry too (a sum may cancel), entries(), and
    the check that names the first entry that differs."""
    return [
        "",
        "",
        "def close(ours, bps, scale):",
        f'    """Equal to rounding (relative {rel:g} of the entry or of the node\'s largest entry);',
        '    inf and nan only equal themselves."""',
        "    if ours != ours or bps != bps:",
        "        return ours != ours and bps != bps",
        '    if abs(ours) == float("inf") or abs(bps) == float("inf"):',
        "        return ours == bps",
        f"    return abs(ours - bps) <= {ABS!r} + {rel!r} * max(abs(ours), abs(bps), scale)",
        "",
        "",
        "def entries(x):",
        '    """A node\'s numbers in row-major order (a scalar: one)."""',
        f"    return {entries}",
        "",
        "",
        "def first_difference(what, ours, bps, shape):",
        '    """"value[1, 0] ours, bp theirs" at the first entry that differs, or None."""',
        "    ours, bps = entries(ours), entries(bps)",
        '    scale = max([abs(b) for b in bps if abs(b) < float("inf")], default=0.0)',
        "    for k, (a, b) in enumerate(zip(ours, bps)):",
        "        if not close(a, b, scale):",
        "            at = []",
        "            for n in reversed(shape):  # the entry's index, from its place in the row-major order",
        "                at.insert(0, k % n)",
        "                k //= n",
        '            where = "[" + ", ".join(map(str, at)) + "]" if shape else ""',
        '            return f"{what}{where} {a!r}, bp {b!r}"',
        "    return None",
        "",
        "",
    ]


def _tensor_compare(conventions: bool = False) -> list[str]:
    return [
        "",
        "",
        "def check(nodes):",
        '    """The first number that differs from bp\'s, or None."""',
        "    for node, name, shape, value, adjoint in expected:",
        "        ours, grad = nodes[node]",
        "        if list(ours.shape) != shape:",
        '            return f"{node} ({name}): shape {list(ours.shape)}, bp {shape}"',
        '        difference = first_difference("value", ours, value, shape)',
        "        if difference is None and adjoint is not None:",
        '            difference = first_difference("adjoint", grad, adjoint, shape)',
        "        elif difference is None and grad is not None and any(entries(grad)):",
        '            difference = "adjoint: PyTorch has one, bp none reaches it"',
        "        if difference is not None:",
        '            return f"{node} ({name}): {difference}"',
        "    return None",
        "",
        "",
        *_verdict(conventions),
    ]



def _point_text(result, point: dict) -> str:
    f = result.formula
    if not result.is_tensor:
        return ", ".join(f"{n} = {point[n]!r}" for n in f.inputs)
    shapes = result.shapes
    return ", ".join(f"{n} = {float(point[n])!r}" if not shapes[i] else f"{n} ({shape_text(shapes[i])})"
                     for n, i in f.inputs.items())


def _refuse_constant_output(formula) -> None:
    if not formula.differentiable[formula.output]:
        raise UsageError("the formula depends on no input: there is no gradient to export")


def _refuse_large(result, limit: int) -> None:
    """A tensor script embeds every value and adjoint: refused past `limit` numbers."""
    if not result.is_tensor or not limit:
        return
    total = 2 * sum(math.prod(shape) for shape in result.shapes)
    if total > limit:
        raise UsageError(f"the script would embed {total:,} numbers (every node's value and adjoint), "
                         f"more than the limit of {limit:,}",
                         hint=f"raise it with {setting('max_numbers', 'N')} (0: no limit)")


def _torch_nodes(f, names: list[str], indent: str = "", shapes=None) -> list[str]:
    """A line per constant and operation node, in tape order (inputs are the caller's)."""
    out = []
    for i, kind in enumerate(f.kinds):
        if kind == CONST:
            out.append(f"{indent}{names[i]} = torch.tensor({number(f.consts[i])}, dtype=DTYPE)  # n{i}: constant")
        elif kind != INPUT:
            out.append(f"{indent}{names[i]} = {spell(f, i, 'torch', names, shapes)}  # "
                       + _comment(f, i, names, shapes))
    return out


def _start(result, point: dict, library: str, about: list[str], limit: int):
    """The formula, a variable name per node, and the script's docstring."""
    f = result.formula
    require(f, library)
    _refuse_constant_output(f)
    _refuse_large(result, limit)
    title = f"bp export --{library}: the formula below, checked against {LIBRARIES[library]} at one point."
    return f, variable_names(f), _header(title, about, [*comment_lines(f.text.strip()), "#",
                                                        *comment_lines(f"at {_point_text(result, point)}")])


def _input_line(result, i: int, names: list[str], point: dict, library: str) -> str:
    """An input: a leaf that gets a gradient, or a class label (an index, no gradient)."""
    f = result.formula
    value = point[f.names[i]]
    label = result.adjoint(i) is None
    what = "a class label: a whole number, used as an index (no gradient)" if label else None
    if library == "torch":
        tracked = "" if label else ", requires_grad=True"
        line = f"{names[i]} = torch.tensor({literal(value)}, dtype=DTYPE{tracked})"
    elif result.is_tensor:
        line = f"{names[i]} = jnp.asarray({literal(value)}, dtype=jnp.float64)"
    else:
        line = f"{names[i]} = jnp.float64({number(value)})"
    if result.is_tensor:
        what = what or shape_text(result.shapes[i])
    if names[i] != f.names[i]:  # the user's name, renamed for the script
        what = f.names[i] + (f", {what}" if what else "")
    return f"{line}  # n{i}" + (f": {_neutral(what)}" if what else "")


def torch_script(result, point: dict, limit: int = MAX_NUMBERS) -> str:
    """A PyTorch script: one tensor per node, backward(), every value and adjoint checked."""
    f, names, out = _start(result, point, "torch", [
        "Every node of bp's graph is one tensor here, in bp's order (n0, n1, ...). PyTorch",
        "records the graph as the tensors are computed; backward() then walks it from the",
        "output back, as bp's backward pass does. The script checks every value and every",
        "adjoint (.grad) against bp's numbers and prints ok, or the first difference."], limit)
    tensor = result.is_tensor
    out += ["import torch", "", "DTYPE = torch.float64  # bp computes in float64"]
    out += _tensor_check_helper("torch.as_tensor(x, dtype=DTYPE).reshape(-1).tolist()") if tensor \
        else _check_helper()
    out += ["# Forward pass. Inputs are leaves that PyTorch tracks (requires_grad=True);",
            "# constants are plain tensors, so no gradient flows into them."]
    out += [_input_line(result, i, names, point, "torch") for i in f.inputs.values()]
    out += _torch_nodes(f, names, shapes=result.shapes if tensor else None)
    retained = [names[i] for i, kind in enumerate(f.kinds) if kind in OPS and result.adjoint(i) is not None]
    if retained:
        out += ["", "# PyTorch keeps .grad only for leaves; retain_grad() keeps it for these",
                "# intermediate nodes too, so every adjoint can be compared.",
                *(f"{v}.retain_grad()" for v in retained)]
    unreached = [names[i] for i, kind in enumerate(f.kinds) if kind in OPS and result.adjoint(i) is None]
    if tensor and unreached:
        out += ["", "# Nodes no gradient reaches in bp (read only through a comparison, or constant):",
                "# kept as well where PyTorch tracks them, to see that none reaches them there.",
                f"for node in ({', '.join(unreached)},):", "    if node.requires_grad:", "        node.retain_grad()"]
    out += ["", "# Backward pass: d out/d out = 1, then the chain rule from the output back.",
            f"{names[f.output]}.backward()", ""]
    if tensor:
        out += ["# Each node's value and adjoint (.grad; None where no gradient flows)", "found = {",
                *(f'    "n{i}": ({v}.detach(), {v}.grad),' for i, v in enumerate(names)), "}", "",
                *_expected_table(result, names), *_tensor_compare()]
        return "\n".join(out) + "\n"
    out += ["found = {", *(f'    "n{i}": {v},' for i, v in enumerate(names)), "}", "", *_expected_table(result, names)]
    out += _compare_loop("nodes[node].item()", "nodes[node].grad.item()")
    return "\n".join(out) + "\n"


def jax_script(result, point: dict, limit: int = MAX_NUMBERS) -> str:
    """A JAX script: each node through jax.vjp, the pullbacks run from the output back."""
    f, names, out = _start(result, point, "jax", [
        "Every node of bp's graph is one jax.vjp call here, in bp's order (n0, n1, ...):",
        "it returns the node's value and its pullback, the function that turns the node's",
        "adjoint into its operands' contributions (the local gradients times the adjoint).",
        "Running the pullbacks from the output back is bp's backward pass. The script checks",
        "every value and adjoint against bp's numbers and prints ok, or the first difference."], limit)
    tensor = result.is_tensor
    shapes = result.shapes if tensor else None
    out += ["import jax", "", 'jax.config.update("jax_enable_x64", True)  # float64, as bp',
            "import jax.numpy as jnp  # noqa: E402 (after x64 is enabled)"]
    out += _tensor_check_helper("jnp.ravel(jnp.asarray(x, dtype=jnp.float64)).tolist()") if tensor \
        else _check_helper()
    out += ["# Forward pass: a value and a pullback per node that depends on an input."]
    live = [result.adjoint(i) is not None for i in range(len(f))]
    pulls = []
    for i, kind in enumerate(f.kinds):
        v = names[i]
        if kind == INPUT:
            out.append(_input_line(result, i, names, point, "jax"))
        elif kind == CONST:
            out.append(f"{v} = jnp.float64({number(f.consts[i])})  # n{i}: constant")
        elif not live[i]:
            out.append(f"{v} = {spell(f, i, 'jax', names, shapes)}  # " + _comment(f, i, names, shapes)
                       + ", constant")
        else:
            # The lambda's parameters are the operands that carry a gradient (named as they
            # are, so it reads like the formula); constants and class labels are read from outside.
            op = OPS[kind]
            operands = list(dict.fromkeys(a for slot, a in enumerate(f.args[i])
                                          if live[a] and (op.elementwise or op.vjp[slot] is not None)))
            params = ", ".join(names[a] for a in operands)
            out.append(f"# {_comment(f, i, names, shapes)}")
            out.append(f"{v}, pull_{v} = jax.vjp(lambda {params}: {spell(f, i, 'jax', names, shapes)}, {params})")
            pulls.append((i, operands))
    out += ["", "# Backward pass: every adjoint starts at 0, the output's at 1 (d out/d out);",
            "# each pullback adds its node's contributions to its operands' adjoints."]
    for i in range(len(f)):
        if live[i]:
            start = "1.0" if i == f.output else "0.0"
            out.append(f"g_{names[i]} = " + (f"jnp.zeros({tuple(shapes[i])})" if tensor and shapes[i]
                                             else f"jnp.float64({start})"))
    for i, operands in reversed(pulls):
        targets = ", ".join(f"d_{names[a]}" for a in operands) + ("," if len(operands) == 1 else "")
        out.append(f"{targets} = pull_{names[i]}(g_{names[i]})")
        out.extend(f"g_{names[a]} = g_{names[a]} + d_{names[a]}" for a in operands)
    out += ["", "# Each node's value and adjoint (None: a constant, no gradient flows into it)",
            "found = {", *(f'    "n{i}": ({names[i]}, ' + (f"g_{names[i]})," if live[i] else "None),")
                           for i in range(len(f))), "}", ""]
    conventions = _jax_conventions(result, point, names)
    if tensor:
        out += [*_expected_table(result, names), *conventions, *_tensor_compare(bool(conventions))]
        return "\n".join(out) + "\n"
    out += [*_expected_table(result, names), *conventions]
    out += _compare_loop("float(nodes[node][0])", "float(nodes[node][1])", bool(conventions))
    return "\n".join(out) + "\n"


def loop_script(run, table, predictions: list[dict], start=None, columns=None) -> str:
    """The lecture's PyTorch loop for a bp train run (per-sample SGD, file order), checked
    against the parameters (and predictions) bp's own training reached. A model with tensor
    parameters or the feature vector needs the parameters it `start`ed from and the data
    `columns` as training read them (the trainer's)."""
    model, settings = run.model, run.settings
    if settings.shuffle:
        raise UsageError(f"{setting('loop')} goes through the rows in file order: {setting('shuffle', True)} "
                         "is not exported")
    if table.rows > MAX_LOOP_ROWS:
        raise UsageError(f"{setting('loop')} embeds the data in the script: {table.rows:,} rows is more than "
                         f"{MAX_LOOP_ROWS:,}")
    if model.tensor:
        return _tensor_loop_script(run, table, start, columns)
    size = settings.batch_size or table.rows  # None: the whole data set
    yhat, loss = model.yhat, parse(model.loss_text)
    for f, lib in ((yhat, "torch"), (loss, "torch")):
        require(f, lib)
    columns = model.features + [model.target]
    v = loop_names(model.params + columns)
    exact = settings.dtype == "float64"
    # A batch's mean gradient is summed in another order than bp's: equal to rounding, not bit for bit.
    # So is an optimizer's update (torch.optim's own order of operations).
    rel = (REL if size == 1 and settings.optimizer == "sgd" else 1e-9) if exact else 1e-6
    out = _loop_start(run, table, model.text, [
        "Each epoch goes through the samples in order; for each: forward, loss, backward()",
        "(the gradient lands in .grad), the update through .data (kept out of the graph),",
        "then .grad is zeroed, since PyTorch adds gradients up. At the end the script checks",
        "that it reached bp's parameters and prints ok, or the first difference."])
    out += ["# The data, one tensor per column (the last one is the target)."]
    for c in columns:
        out.append(f"{v[c]}_data = torch.tensor([{', '.join(number(x) for x in table.data[c].tolist())}], "
                   "dtype=DTYPE)" + _renamed(c, v))
    out += ["", "# The parameters: tensors that PyTorch tracks (requires_grad=True)."]
    for p in model.params:
        out.append(f"{v[p]} = torch.tensor({number(settings.init.get(p, 1.0))}, dtype=DTYPE, requires_grad=True)"
                   + _renamed(p, v))
    out += _function("forward", yhat, model.features, "yhat, one tensor per bp node.", v, [f"yhat = {model.text}"])
    out += _loss_functions(model, loss, model.features, v)
    row = ", ".join(v[c] for c in columns)
    grads = ", ".join(f"{v[p]}.grad.item()" for p in model.params)
    out += ["", ""]
    out += _optimizer(settings, [v[p] for p in model.params])
    if size == 1:
        out += [f"TRACE = {table.rows * settings.epochs <= 1000}  # the lecture's grad: line for every step", ""]
    for p in predictions:
        out.append(_predict_print("before", p, model.features))
    if len(model.params) > 1:  # bp train --trace's key to the grad: columns
        key = " ".join(model.features + [model.target] + [f"∂loss/∂{p}" for p in model.params])
        out.append(f"print({'# grad: ' + key!r})")
    if size == 1:
        each = ", ".join(v[c] + "_data" for c in columns)
        out += [f"for epoch in range({settings.epochs}):",
                f"    for {row}{',' if len(columns) == 1 else ''} in zip({each}):",
                f"        l = loss({_scored(model)}({', '.join(v[c] for c in model.features)}), {v[model.target]})",
                "        l.backward()  # d l/d parameter into each parameter's .grad",
                "        if TRACE:",
                f'            print("\\tgrad:", {", ".join(v[c] + ".item()" for c in columns)}, {grads})']
    else:  # mini-batches: the rows of a step at once, elementwise, and their mean loss
        out += [f"for epoch in range({settings.epochs}):",
                f"    for start in range(0, {table.rows}, {size}):",
                f"        {row}{',' if len(columns) == 1 else ''} = "
                + ", ".join(f"{v[c]}_data[start:start + {size}]" for c in columns),
                f"        losses = loss({_scored(model)}({', '.join(v[c] for c in model.features)}), "
                f"{v[model.target]})",
                "        losses.mean().backward()  # the mean gradient over the batch into .grad",
                "        l = losses[-1]  # bp train reports the loss of the epoch's last row"]
    out += _updates(settings, [v[p] for p in model.params])
    out += ['    print("progress:", epoch, l.item())']
    reached = " + \", \" + ".join(f'{python_string(p + " = ")} + repr({v[p]}.item())' for p in model.params)
    out.append(f'print("params (after training):", {reached})')
    for p in predictions:
        out.append(_predict_print("after", p, model.features))
    out += ["", "# What bp train reached, exact."]
    out.append("expected = {" + ", ".join(f'{python_string(p)}: {number(x)}' for p, x in run.params.items()) + "}")
    out.append("predicted = [" + ", ".join(number(p["yhat"]) for p in predictions) + "]")
    out += _check_helper(rel)
    out += ["found = {" + ", ".join(f'{python_string(p)}: {v[p]}.item()' for p in model.params) + "}",
            "predictions = [" + ", ".join(f"{_predict_call(p, model.features)}.item()" for p in predictions)
            + "]",
            "differences = [f\"{p}: {found[p]!r}, bp {expected[p]!r}\" for p in expected",
            "               if not close(found[p], expected[p])]",
            "differences += [f\"prediction {k}: {a!r}, bp {b!r}\" "
            "for k, (a, b) in enumerate(zip(predictions, predicted))",
            "                if not close(a, b)]",
            'print("ok" if not differences else "differs: " + differences[0])',
            "raise SystemExit(0 if not differences else 1)"]
    return "\n".join(out) + "\n"


def _loop_start(run, table, text: str, about: list[str]) -> list[str]:
    """A loop script's docstring (the model, its loss, the run's settings), then torch and DTYPE."""
    model, settings = run.model, run.settings
    out = _header("bp export --loop: the lecture's training loop in PyTorch, for the bp train run below.",
                  about, [*comment_lines(f"yhat = {text}"), *comment_lines(f"loss = {model.loss_text}"),
                          *(comment_lines(f"(y: the column {model.target})") if model.target != "y" else []),
                          *comment_lines(f"on {table.source} ({table.rows} rows), lr {settings.lr!r}, "
                                         f"{settings.epochs} epochs, {settings.dtype}"
                                         + (f", --optimizer {settings.optimizer} (torch.optim's, in place of "
                                            "the .data update)." if settings.optimizer != "sgd" else "."))])
    dt = "float64" if settings.dtype == "float64" else "float32"
    return out + ["import torch", "", f"DTYPE = torch.{dt}  # bp train --dtype {settings.dtype}", ""]


def _renamed(name: str, v: dict) -> str:
    """A comment naming the user's name where the script renamed it."""
    return "" if v[name] == name else f"  # {_neutral(name)}"


def _function(name: str, f, params: list[str], doc: str, v: dict, about: list[str], shapes=None) -> list[str]:
    """def name(params): the formula's nodes, one tensor each; globals are the parameters, named
    as `v` names them (the function's own nodes too, so no local shadows a global)."""
    names = variable_names(f, v, _LOOP)
    mapped = v or {n: names[i] for n, i in f.inputs.items()}
    lines = ["", "", f"def {name}({', '.join(mapped.get(p, p) for p in params)}):", f'    """{doc}"""',
             *(text for line in about for text in comment_lines(line, "    "))]
    lines += _torch_nodes(f, names, "    ", shapes)
    return lines + [f"    return {names[f.output]}"]


def _tensor_loop_script(run, table, start: dict, columns: dict) -> str:
    """The loop for a model of tensor parameters (or the feature vector): one row a step, as
    the lecture's loop, or a batch's rows at once through torch.func.vmap (the model is
    written for one row, as bp's is)."""
    model, settings = run.model, run.settings
    if run.diverged:
        raise UsageError("bp train diverged on this setting: there are no trained parameters to check")
    yhat, loss = model.yhat, parse(model.loss_text)
    for f in (yhat, loss):
        require(f, "torch")
    size = settings.batch_size or table.rows
    data = [n for n in yhat.inputs if n not in model.params]
    example = {n: tuple(columns[n].shape[1:]) for n in data}
    example.update({p: shape_of(start[p]) for p in model.params})
    yhat_shapes = node_shapes(yhat, example)
    scored = model.logit if model.logit is not None else yhat
    loss_shapes = node_shapes(loss, {"yhat": yhat_shapes[yhat.output], "y": (),
                                     "z": node_shapes(scored, example)[scored.output]})
    exact = settings.dtype == "float64"
    rel = 1e-9 if exact else 1e-4  # another summation order than bp's, step after step
    target = model.target
    v = loop_names(model.params + data + [target])
    what = {FEATURES: f"the row's feature vector (columns {', '.join(model.vector)})"}
    classes = f" (class indices: {', '.join(f'{k} = {c}' for k, c in enumerate(model.classes))})" \
        if model.classes else ""
    how = (["One row per step, as the lecture's loop."] if size == 1 else
           [f"{size} rows per step at once: torch.func.vmap runs the one-row model on each row,",
            "and backward() goes from their mean loss."])
    text = "; ".join(line.strip() for line in model.text.splitlines() if line.strip())
    out = _loop_start(run, table, text, [
        *how,
        "Each step: forward, loss, backward() (the gradient lands in .grad), the update",
        "through .data (kept out of the graph), then .grad is zeroed, since PyTorch adds",
        "gradients up. At the end the script checks that it reached bp's parameters and",
        "prints ok, or the first difference."])
    out += ["# The data: a tensor per input the model reads, a row per sample (the last: the target)."]
    for n in data + [target]:
        about = what.get(n, f"the column {n}") + (classes if n == target else "")
        out.append(f"{v[n]}_data = torch.tensor({literal(columns[n])}, dtype=DTYPE)  # {_neutral(about)}")
    scheme = f"--init-scheme {settings.init_scheme}, --seed {settings.seed}"
    out += ["", f"# The parameters as bp train started them ({scheme}), tracked by PyTorch."]
    for p in model.params:
        shape = shape_of(start[p])
        out.append(f"{v[p]} = torch.tensor({literal(start[p])}, dtype=DTYPE, requires_grad=True)  # "
                   + shape_text(shape) + ("" if v[p] == p else f", {_neutral(p)}"))
    out += _function("forward", yhat, data, "yhat, one tensor per bp node (one row).", v, [f"yhat = {text}"],
                     yhat_shapes)
    out += _loss_functions(model, loss, data, v, example, loss_shapes)
    rows = ", ".join(v[n] for n in data + [target])
    each = ", ".join(f"{v[n]}_data" for n in data + [target])
    inputs = ", ".join(v[n] for n in data)
    out += ["", ""] + _optimizer(settings, [v[p] for p in model.params])
    if size == 1:
        out += [f"for epoch in range({settings.epochs}):",
                f"    for {rows} in zip({each}):",
                f"        l = loss({_scored(model)}({inputs}), {v[target]})",
                "        l.backward()  # d l/d parameter into each parameter's .grad"]
    else:
        out += ["def row_loss(" + rows + "):",
                '    """One row\'s loss: the model is written for one row."""',
                f"    return loss({_scored(model)}({inputs}), {v[target]})", "", "",
                f"for epoch in range({settings.epochs}):",
                f"    for start in range(0, {table.rows}, {size}):",
                "        losses = torch.func.vmap(row_loss)("
                + ", ".join(f"{v[n]}_data[start:start + {size}]" for n in data + [target]) + ")",
                "        losses.mean().backward()  # the mean gradient over the batch into .grad",
                "        l = losses[-1]  # bp train reports the loss of the epoch's last row"]
    out += _updates(settings, [v[p] for p in model.params])
    out += ['    print("progress:", epoch, l.item())', "", "",
            "# What bp train reached, exact.",
            "expected = {", *(f'    {python_string(p)}: {literal(_array(x))},' for p, x in run.params.items()), "}",
            "trained = {" + ", ".join(f"{python_string(p)}: {v[p]}" for p in model.params) + "}"]
    out += _tensor_check_helper("torch.as_tensor(x, dtype=torch.float64).reshape(-1).tolist()", rel)
    out += ["differences = [first_difference(p, trained[p].detach(), value, list(trained[p].shape))",
            "               for p, value in expected.items()]",
            "differences = [d for d in differences if d is not None]",
            'print("ok" if not differences else "differs: " + differences[0])',
            "raise SystemExit(0 if not differences else 1)"]
    return "\n".join(out) + "\n"


def _scored(model) -> str:
    """The function whose output the loss takes: forward (ŷ), or logit (z) for bce on a sigmoid."""
    return "forward" if model.logit is None else "logit"


def _loss_functions(model, loss, data: list[str], v: dict, example=None, loss_shapes=None) -> list[str]:
    """def loss(yhat, y), and for bce on a sigmoid first def logit(…): the model's z, which the
    loss takes in its stable form, as bp train computes it."""
    if model.logit is None:
        return _function("loss", loss, ["yhat", "y"], "The loss of a prediction yhat against y.", {},
                         [f"loss = {model.loss_text}"], loss_shapes)
    shapes = None if example is None else node_shapes(model.logit, example)
    return [*_function("logit", model.logit, data, "z, where yhat = sigmoid(z): the loss takes z.", v, [],
                       shapes),
            *_function("loss", loss, ["z", "y"], "Binary cross-entropy on the logit z, as "
                       "torch.nn.BCEWithLogitsLoss.", {}, [f"loss = {model.loss_text}"], loss_shapes)]


def _optimizer(settings, params: list[str]) -> list[str]:
    """bp train's --optimizer momentum or adam as torch.optim's, which bp's compute as (sgd: none,
    the lecture's update through .data is written out)."""
    if settings.optimizer == "sgd":
        return []
    listed = ", ".join(params)
    make = {"momentum": f"torch.optim.SGD([{listed}], lr={settings.lr!r}, momentum=0.9)",
            "adam": f"torch.optim.Adam([{listed}], lr={settings.lr!r})"}[settings.optimizer]
    return [f"optimizer = {make}  # bp train --optimizer {settings.optimizer}", ""]


def _updates(settings, params: list[str]) -> list[str]:
    """A step's update of the parameters, then their .grad zeroed (PyTorch adds gradients up)."""
    if settings.optimizer != "sgd":
        return ["        optimizer.step()", "        optimizer.zero_grad()"]
    return ([f"        {p}.data = {p}.data - {settings.lr!r} * {p}.grad.data" for p in params]
            + [f"        {p}.grad.data.zero_()" for p in params])


def _array(v):
    """A parameter bp train reports (a number or nested lists) as something literal() writes."""
    import numpy as np

    return np.asarray(v, dtype=np.float64)


def _predict_print(when: str, point: dict, features: list[str]) -> str:
    """The lecture's `predict (after training) 4 7.99…` line, the features as bp train prints them."""
    shown = ", ".join(str(int(point[c])) if float(point[c]).is_integer() else repr(float(point[c]))
                      for c in features)
    return f'print("predict ({when} training)", {shown}, {_predict_call(point, features)}.item())'


def _predict_call(point: dict, features: list[str]) -> str:
    args = ", ".join(f"torch.tensor({number(point[c])}, dtype=DTYPE)" for c in features)
    return f"forward({args})"
