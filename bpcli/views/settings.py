"""Display settings: how this output shows text and numbers to people.

One object, read from one place (`current()`): the CLI sets it once at start (`configure`,
`set_precision`; `text.setup_streams` for ASCII), a test for a while (`using`). JSON
documents keep every digit whatever the settings say.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Settings:
    ascii: bool = False  # the output cannot take Unicode: bp's symbols in ASCII, JSON with \u escapes
    digits: int | None = 10  # significant digits of numbers for people; None: every digit (JSON always has all)


_current = Settings()


def current() -> Settings:
    """The settings every view reads."""
    return _current


def configure(**changes) -> Settings:
    """Change some settings (ascii=…, digits=…); returns the settings before the change."""
    global _current
    previous, _current = _current, replace(_current, **changes)
    return previous


@contextlib.contextmanager
def using(**changes):
    """The settings changed inside a `with` block, as they were after it."""
    previous = configure(**changes)
    try:
        yield current()
    finally:
        configure(ascii=previous.ascii, digits=previous.digits)


def set_precision(digits: int | None) -> None:
    """How many significant digits tables, trees and notes show (None: all, as repr)."""
    configure(digits=digits)
