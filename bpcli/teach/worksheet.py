"""bp quiz --worksheet: an exercise and, separately, its answer key, as Markdown or LaTeX.

User text (a formula and its comments, a title) reaches a sheet only through one escaping
function per format: tex() for LaTeX; md_text(), md_code() and md_fence() for Markdown (plain
text, a code span, a fenced block), so no comment can end a code span or let raw HTML through.
"""

from __future__ import annotations

import json
import re
import unicodedata

from bpcli.engine.numtext import number_text
from bpcli.errors import UsageError, setting
from bpcli.teach.quiz import Exercise, key_document, operation
from bpcli.views.labels import edge_formula, ref


def rows(ex: Exercise) -> tuple[list, list]:
    """The node rows (node, name, operation, value, adjoint) and edge rows (edge, rule, local),
    a blank written as its number in brackets and what is not asked left empty."""
    f, r = ex.formula, ex.result
    number = {(b.kind, b.node, b.slot): k for k, b in enumerate(ex.blanks, 1)}
    nodes = []
    for i in range(len(f)):
        v = number.get(("value", i, None))
        a = number.get(("adjoint", i, None))
        nodes.append((f"n{i}", ref(f, i), operation(f, i), f"[{v}]" if v else number_text(r.values[i]),
                      f"[{a}]" if a else ("1" if i == f.output else "")))
    edges = []
    for b in ex.blanks:
        if b.kind == "local":
            child = ref(f, f.args[b.node][b.slot])
            edges.append((f"{ref(f, b.node)} ← {child}", edge_formula(f, b.node, b.slot),
                          f"[{number[('local', b.node, b.slot)]}]"))
    return nodes, edges


def _printable(text: str) -> str:
    """Text on one line with no control character: a line break shown as ⏎, a tab as a space,
    other control and format characters removed."""
    text = "\n".join(line.strip() for line in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "".join(" ⏎ " if c == "\n" else " " if c == "\t" else c for c in text
                   if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


def md_text(text: str) -> str:
    """User text as Markdown text: what would start markup or HTML backslash-escaped."""
    return re.sub(r"([\\`*_\[\]<>&|~!])", r"\\\1", _printable(text))


def md_code(text: str) -> str:
    """User text as a Markdown code span, fenced by more backticks than any run inside it
    (so a backtick in a comment cannot end it) and padded where it starts or ends with one."""
    text = _printable(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(text: str, info: str = "") -> list[str]:
    """A fenced block whose fence is longer than any backtick run in the text."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return [fence + info, text, fence]


def markdown(ex: Exercise) -> str:
    nodes, edges = rows(ex)
    values = ", ".join(f"{n} = {number_text(v)}" for n, v in ex.point.items())
    out = [f"# Backpropagation exercise: {md_text(ex.title)}", "", f"Formula: {md_code(ex.formula.text.strip())}  ",
           f"Values: {md_text(values)}  ", f"Output: {md_code(ref(ex.formula, ex.formula.output))}", "",
           "Fill in each numbered blank: forward values, local gradients (∂parent/∂child) and",
           f"adjoints (∂{ref(ex.formula, ex.formula.output)}/∂node).", "",
           "| node | name | operation | value | adjoint |", "|---|---|---|---|---|"]
    out += [f"| {' | '.join(row)} |" for row in nodes]
    if edges:
        out += ["", "| edge | local gradient | value |", "|---|---|---|"]
        out += [f"| {' | '.join(row)} |" for row in edges]
    out += ["", "## Blanks", ""]
    out += [f"{k}. {b.prompt} = ________" for k, b in enumerate(ex.blanks, 1)]
    return "\n".join(out) + f"\n\n<sub>exercise {ex.fingerprint}</sub>\n"


def markdown_key(ex: Exercise) -> str:
    out = [f"# Answer key: {md_text(ex.title)}", "", f"Formula: {md_code(ex.formula.text.strip())}", ""]
    out += [f"{k}. {b.prompt} = **{number_text(b.answer)}**" for k, b in enumerate(ex.blanks, 1)]
    out += ["", "As `bp quiz --answers` reads it:", "", *md_fence(json.dumps(key_document(ex), indent=2), "json")]
    return "\n".join(out) + "\n"


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}", "<": r"\textless{}", ">": r"\textgreater{}",
        "|": r"\textbar{}", "·": r"$\cdot$", "∂": r"$\partial$", "←": r"$\leftarrow$", "−": "-",
        "ŷ": r"$\hat{y}$", "×": r"$\times$", "÷": r"$\div$", "±": r"$\pm$", "°": r"$^\circ$",
        "µ": r"$\mu$", "\n": r"\newline{}"}
_GREEK = ("Alpha Beta Gamma Delta Epsilon Zeta Eta Theta Iota Kappa Lambda Mu Nu Xi Omicron Pi Rho Sigma "
          "Tau Upsilon Phi Chi Psi Omega").split()
# Greek capitals LaTeX has no command for look like Latin ones.
_GREEK_AS_LATIN = {"Alpha": "A", "Beta": "B", "Epsilon": "E", "Zeta": "Z", "Eta": "H", "Iota": "I",
                   "Kappa": "K", "Mu": "M", "Nu": "N", "Omicron": "O", "Rho": "P", "Tau": "T", "Chi": "X"}


# The letters of Latin-1 and Latin Extended-A that T1's fonts lack: spelled by _unicode_tex.
_NOT_T1 = frozenset("ĦħĸĿŀŉŦŧſ")


def tex(text: str) -> str:
    """Text for pdflatex with no package beyond the base (T1 encoding, whose fonts have the
    letters of Latin-1 and Latin Extended-A): its special characters escaped, control and
    format characters removed (a tab is a space), Greek letters and sub- and superscript
    digits as math, other characters the fonts lack (ħ, CJK, …) spelled by their compatibility
    form or as their code point, so a worksheet always compiles."""
    return "".join(_tex_char(c) for c in text)


def _tex_char(c: str) -> str:
    if c in _TEX:
        return _TEX[c]
    if c == "\t":
        return " "
    if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return ""
    if c.isascii() or (0xA0 <= ord(c) < 0x180 and c not in _NOT_T1):
        return c
    return _unicode_tex(c)


def _unicode_tex(c: str) -> str:
    name = unicodedata.name(c, "")
    if name.startswith("GREEK ") and " LETTER " in name and " WITH " not in name:
        letter = name.rsplit(" ", 1)[1].capitalize().replace("Lamda", "Lambda")
        if letter in _GREEK and " SMALL " in name:
            return "o" if letter == "Omicron" else rf"$\{letter.lower()}$"
        if letter in _GREEK:
            return _GREEK_AS_LATIN.get(letter) or rf"$\{letter}$"
    kind, _, code = unicodedata.decomposition(c).partition(" ")
    if kind in ("<sub>", "<super>") and code:
        letters = "".join(chr(int(h, 16)) for h in code.split())  # ™ is <super> T M
        return f"${'_' if kind == '<sub>' else '^'}{{{tex(letters)}}}$"
    if kind == "<compat>" and code:  # ſ is s, ŀ is l·
        return tex(unicodedata.normalize("NFKC", c))
    return rf"\texttt{{[U+{ord(c):04X}]}}"


def latex(ex: Exercise) -> str:
    nodes, edges = rows(ex)
    values = ", ".join(f"{n} = {number_text(v)}" for n, v in ex.point.items())
    out = [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
           r"\begin{document}",
           rf"\section*{{Backpropagation exercise: {tex(ex.title)}}}",
           rf"Formula: \texttt{{{tex(ex.formula.text.strip())}}}\\", rf"Values: {tex(values)}\\",
           "Fill in each numbered blank: forward values, local gradients and adjoints.", "",
           r"\begin{tabular}{lllll}", r"node & name & operation & value & adjoint \\ \hline"]
    out += [" & ".join(tex(c) for c in row) + r" \\" for row in nodes]
    out.append(r"\end{tabular}")
    if edges:
        out += ["", r"\begin{tabular}{lll}", r"edge & local gradient & value \\ \hline"]
        out += [" & ".join(tex(c) for c in row) + r" \\" for row in edges]
        out.append(r"\end{tabular}")
    out += ["", r"\begin{enumerate}"]
    out += [rf"\item {tex(b.prompt)} = \underline{{\hspace{{3em}}}}" for b in ex.blanks]
    out += [r"\end{enumerate}", rf"{{\small exercise {ex.fingerprint}}}", r"\end{document}"]
    return "\n".join(out) + "\n"


def latex_key(ex: Exercise) -> str:
    out = [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
           r"\begin{document}",
           rf"\section*{{Answer key: {tex(ex.title)}}}", r"\begin{enumerate}"]
    out += [rf"\item {tex(b.prompt)} = \textbf{{{number_text(b.answer)}}}" for b in ex.blanks]
    out += [r"\end{enumerate}", rf"{{\small exercise {ex.fingerprint}}}", r"\end{document}"]
    return "\n".join(out) + "\n"


def sheets(ex: Exercise, path: str) -> list[tuple[str, str]]:
    """(path, text) of the worksheet and of its key, by the extension: .md or .tex."""
    stem, dot, ext = path.rpartition(".")
    if not dot or ext.lower() not in ("md", "tex"):
        raise UsageError(f"{setting('worksheet', path)}: the file must end in .md (Markdown) or .tex (LaTeX)")
    key_path = f"{stem}-key.{ext}"
    if ext.lower() == "md":
        return [(path, markdown(ex)), (key_path, markdown_key(ex))]
    return [(path, latex(ex)), (key_path, latex_key(ex))]
