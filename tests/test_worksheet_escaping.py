"""Worksheets attacked (issue 21): LaTeX sheets compile for every letter bp accepts in a name and
whatever a comment holds; Markdown sheets let no comment end a code span or pass raw HTML."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from markdown_it import MarkdownIt

from bpcli import parse
from bpcli.errors import BPError
from bpcli.teach.worksheet import md_code, md_fence, md_text, tex

# Every character of Latin-1 and Latin Extended-A, and control characters a comment may carry.
LATIN = "".join(chr(c) for c in range(0xA0, 0x180))
CONTROLS = "\x7f\x1b\x0b\x0c\x00\x08\x85\u202e\u200b"


def bp_letters() -> list[str]:
    """The characters of LATIN that bp accepts as a name (as written: bp reads ª as a)."""
    out = []
    for c in LATIN:
        try:
            if list(parse(f"{c} * 1.5").inputs):
                out.append(c)
        except BPError:
            pass
    return out


def test_bp_takes_every_letter_of_latin_1_and_latin_extended_a_as_a_name():
    letters = bp_letters()
    assert set("ðþęđħŋſĦĸŀŉŦŧ") <= set(letters) and len(letters) > 190


def test_latex_text_keeps_the_letters_t1_has_and_spells_the_others():
    text = tex("ð þ ę đ ŋ é ſ ŀ ħ" + CONTROLS + "\t.")
    assert text == "ð þ ę đ ŋ é s l$\\cdot$ \\texttt{[U+0127]} ."
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in tex(LATIN + CONTROLS))


@pytest.mark.slow
@pytest.mark.requires("pdflatex")
def test_latex_worksheets_compile_for_every_latin_letter_and_control_character(bp, tmp_path):
    letters = bp_letters()
    for k in range(0, len(letters), 50):
        chunk = letters[k:k + 50]
        formula = f"# {LATIN} {CONTROLS} `<b>`\n" + " + ".join(f"{c}*{j % 5 + 1}" for j, c in enumerate(chunk))
        folder = tmp_path / str(k)
        folder.mkdir()
        r = bp("quiz", "--formula", formula, *(f"{c}=0.5" for c in chunk), "--worksheet", str(folder / "s.tex"))
        assert (r.exit_code, r.stdout) == (0, ""), r.stderr
        sheet = (folder / "s.tex").read_text(encoding="utf-8")
        assert r"\usepackage[T1]{fontenc}" in sheet and "ð" in sheet or "ð" not in chunk
        for name in ("s", "s-key"):
            done = subprocess.run([shutil.which("pdflatex"), "-halt-on-error", "-interaction=nonstopmode",
                                   f"{name}.tex"], cwd=folder, capture_output=True, text=True, errors="replace",
                                  timeout=120)
            assert done.returncode == 0, done.stdout[-3000:]
            assert (folder / f"{name}.pdf").read_bytes().startswith(b"%PDF")


HTML = "<img src=x onerror=alert(1)><script>alert(2)</script>"


@pytest.mark.parametrize("comment", [f"`{HTML}`", f"``{HTML}", f"{HTML}`", "` `` ```" + HTML,
                                     f"a\n\n# {HTML}", f"\x1b\x0b{HTML}\u2028`"])
def test_a_markdown_worksheet_passes_no_raw_html_whatever_a_comment_holds(bp, tmp_path, comment):
    r = bp("quiz", "--formula", f"t = x*w  # {comment}\nloss = t*w", "x=2", "w=3", "--worksheet",
           str(tmp_path / "s.md"))
    assert (r.exit_code, r.stdout) == (0, ""), r.stderr
    for name in ("s.md", "s-key.md"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
        assert "<img" not in html and "<script" not in html, html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown, as text


def test_one_function_per_markdown_context():
    assert md_code("a `b` c") == "``a `b` c``" and md_code("`a") == "`` `a ``" and md_code("x*w") == "`x*w`"
    assert md_text("<b>*x*</b> & [a](b)") == r"\<b\>\*x\*\</b\> \& \[a\](b)"
    assert md_code("a\n\nb\x1b") == "`a ⏎  ⏎ b`"
    assert md_fence('{"a": "```"}', "json") == ["````json", '{"a": "```"}', "````"]
