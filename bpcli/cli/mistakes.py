"""--mistake on bp grad and bp view: the name read and refused before any work, the wrong pass
run beside the right one (bpcli.views.mistakes), the node of detach:NODE found by id or name."""

from __future__ import annotations

from bpcli.errors import UsageError

MISTAKES = ("recursive", "assign", "detach")  # of one backward pass; no-zero-grad is bp train's


def listing() -> str:
    from bpcli.views import mistakes  # deferred: the mistakes' passes and words, for --mistake only

    return mistakes.listing()


def parsed(text: str) -> tuple[str, str | None]:
    """--mistake NAME or detach:NODE: (name, node or None); an unknown one is a usage error."""
    name, colon, node = text.partition(":")
    if name == "no-zero-grad":
        raise UsageError("--mistake no-zero-grad happens between training steps",
                         hint="run it in training: bp train … --mistake no-zero-grad")
    if name not in MISTAKES or (colon and (name != "detach" or not node)):
        raise UsageError(f"--mistake must be one of {', '.join(MISTAKES)} (detach:NODE names the node cut), "
                         f"or list, not {text!r}", hint="bp grad --mistake list says what each does")
    return name, node if colon else None


def run(result, text: str):
    """The wrong pass beside the right one (views.mistakes.Comparison), on numbers or tensors."""
    from bpcli.engine import mistakes as passes  # deferred: the mistakes' passes, for --mistake only
    from bpcli.views import mistakes  # deferred: the mistakes' words, for --mistake only

    name, node = parsed(text)
    f = result.formula
    if name != "detach":
        return mistakes.run(result, name)
    if node is not None:
        cut = passes.edges_into(f, _node_named(f, node))
        if not cut:
            raise UsageError(f"--mistake detach:{node}: {node} is the output; no edge leads into it",
                             hint="name a node the output uses")
        return mistakes.run(result, name, cut)
    edge = passes.default_cut(result)
    if edge is None:
        inner = [i for i in range(len(f) - 1) if f.args[i] and f.differentiable[i]]
        example = (f.labels.get(inner[-1]) or [f"n{inner[-1]}"])[-1] if inner else "NODE"
        raise UsageError("--mistake detach alone cuts the second use of a reused node, and no node is used twice",
                         hint=f"name the node to cut: --mistake detach:{example} (an id such as n2, or a name)")
    return mistakes.run(result, name, [edge])


def _node_named(f, text: str) -> int:
    """A node by its id (n4) or a name it goes by (an input's, a bound name)."""
    if text.startswith("n") and text[1:].isdigit() and int(text[1:]) < len(f):
        return int(text[1:])
    if text in f.inputs:
        return f.inputs[text]
    for i, names in f.labels.items():
        if text in names:
            return i
    names = list(f.inputs) + [n for names in f.labels.values() for n in names]
    raise UsageError(f"--mistake detach:{text}: no node is called {text!r}",
                     hint=f"name one of {', '.join(dict.fromkeys(names))}, or an id n0 to n{len(f) - 1}")
