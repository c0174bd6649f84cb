"""Rebuild grammar/bp.tables.json, the LALR tables bp ships, after editing grammar/bp.lark
or upgrading Lark (tests/test_packaging.py fails until this is run):

    python tools/build_tables.py

The file is the same, byte for byte, on every build of the same grammar by the same Lark (the
parse table is renumbered canonically: bpcli.language.parser._canonical); after a merge conflict
in it, run this again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bpcli.language.parser import tables_path, tables_text

    text = tables_text()
    path = tables_path()
    path.write_text(text, encoding="utf-8")
    doc = json.loads(text)
    print(f"wrote {path.relative_to(ROOT)} (Lark {doc['lark']}, grammar {doc['grammar'][:12]}…)")


if __name__ == "__main__":
    main()
