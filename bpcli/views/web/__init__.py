"""bp's web face: one self-contained HTML page that steps through the forward and backward
pass (bp view, bp serve, Jupyter), and the training report (bp train --report).

The page is a real file (page.html, with page.css and page.js inlined when it is built):
no network, no CDN, so it works from file:// in a lecture hall without internet.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

from bpcli.views.walk import steps
from bpcli.views.web.layout import layout

_PLACE = re.compile(r"\{\{(\w+)\}\}|/\*BP:(\w+)\*/")


@functools.cache
def version() -> str:
    """bp's version, as installed (the page's generator tag): read here rather than from the
    package's top, which is the library API above this layer."""
    from importlib import metadata  # not at import: bp grad never builds a page

    return metadata.version("backprop-cli")


def asset(name: str) -> str:
    """A file of this package (the page template, its CSS and JS)."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def script_json(data) -> str:
    """JSON safe inside <script>: no </script>, <!-- or & can end or bend it."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def fill(template: str, parts: dict) -> str:
    """Put each {{name}} and /*BP:NAME*/ in its place, in one pass (what is put in is never
    read again for places)."""
    return _PLACE.sub(lambda m: parts[(m.group(1) or m.group(2)).lower()], template)


def build(template: str, style: str, script: str, title: str, parts: dict) -> str:
    """A page from its template, the shared <head> (title, inline style sheet) and its script."""
    head = fill(asset("head.html"), {"title": _escape(title), "version": version(), "css": asset(style)})
    return fill(asset(template), {**parts, "head": head, "js": asset(script)})


def view_data(f, doc: dict, engine: str = "auto") -> dict:
    """What the page reads: bp's grad document, the graph's layout and the steps of its walk."""
    return {"document": doc, "layout": layout(f, doc, engine), "steps": steps(doc)}


REVEALS = ("step", "all")


def page(data: dict, mode: str = "view", title: str | None = None, api: str | None = None,
         large: bool = False, reveal: str = "step", predict: bool = False) -> str:
    """The whole page, CSS and JS inline. `reveal`: "step" shows each number at its step,
    "all" everything at once; `predict` starts in predict mode (when data has "questions")."""
    data = {**data, "mode": mode, "reveal": reveal, "predict": predict, **({"api": api} if api else {})}
    return build("page.html", "page.css", "page.js", title or f"bp: {data['document']['formula'].strip()[:80]}",
                 {"body_class": "large" if large else "", "data": script_json(data)})
