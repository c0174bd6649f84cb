"""Rebuild grammar/bp.tables.json, the LALR tables bp ships, after editing grammar/bp.lark
or upgrading Lark (tests/test_packaging.py fails until this is run):

    python tools/build_tables.py

Lark numbers its parse states in an order that changes from run to run, so the file changes
whenever it is rebuilt; after a merge conflict in it, run this again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bpcli.language.parser import build_tables, tables_path

    doc = build_tables()
    path = tables_path()
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} (Lark {doc['lark']}, grammar {doc['grammar'][:12]}…)")


if __name__ == "__main__":
    main()
