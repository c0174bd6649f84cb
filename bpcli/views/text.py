"""Text for a terminal: user text made safe to echo, and bp's symbols in ASCII where the
output cannot take Unicode."""

from __future__ import annotations

import codecs
import re
import sys

from bpcli.views import settings

# On a terminal or pipe that cannot take Unicode (PYTHONIOENCODING=ascii, or a C locale with
# PYTHONUTF8=0) the symbols bp prints fall back to ASCII spellings; other characters (a name
# like ω) are escaped (\u03c9), never fatal. The fallback is a codec error handler on the
# standard streams, so every writer (Rich, print, Typer's help) gets the same spelling.
ASCII_SYMBOLS = {"·": "*", "∂": "d", "←": "<-", "→": "->", "✓": "ok", "✗": "FAIL", "–": "-", "−": "-",
                 "…": "...", "ŷ": "yhat", "×": "x", "±": "+/-", "²": "^2", "ᵀ": "^T", "⊙": "*",
                 "≥": ">=", "≤": "<=", "⚠": "!", "₀": "_0", "₁": "_1", "π": "pi", "Σ": "sum"}
_ASCII_SYMBOLS = str.maketrans(ASCII_SYMBOLS)


def _ascii_fallback(error: UnicodeError):
    """Codec error handler: bp's symbols as their ASCII spellings, anything else a \\x escape."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start:error.end]
    return "".join(ASCII_SYMBOLS.get(c) or c.encode("ascii", "backslashreplace").decode()
                   for c in chunk), error.end


codecs.register_error("bp-ascii", _ascii_fallback)


def ascii_text(text: str, escape=lambda c: c.encode("ascii", "backslashreplace").decode()) -> str:
    """The text in ASCII: bp's symbols spelled out, any other character as `escape` writes it."""
    text = text.translate(_ASCII_SYMBOLS)
    return text if text.isascii() else "".join(c if c.isascii() else escape(c) for c in text)


def setup_streams() -> None:
    """Switch to ASCII symbols when stdout cannot encode them; never die of an encoding."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
        if encoding not in ("utf8", "utf16", "utf32") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="bp-ascii")
            settings.configure(ascii=settings.current().ascii or stream is sys.stdout)


# Characters that would act on a terminal rather than show: C0 and C1 controls (ESC starts a
# sequence that can clear the screen or retitle the window), DEL, and bidirectional overrides
# that reorder what is shown. Newlines and tabs are layout, kept.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """User text made safe to echo to a terminal: control characters as visible escapes (\\x1b)."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def plain(text: str) -> str:
    """The text as this output can show it: no control characters, ASCII symbols if need be."""
    text = printable(text)
    return text.translate(_ASCII_SYMBOLS) if settings.current().ascii else text


def rich_text(value: str, style: str = ""):
    """A Rich Text of user text: shown as written, never read as [markup]."""
    from rich.text import Text

    return Text(plain(value), style=style)
