"""The screenshots of docs/page.md and docs/pictures.md: bp view's page in headless Chromium
at 1280×800 (the lecture's two-layer network forward, backward and at the end; the card
example in the middle of its backward pass and in predict mode).

    python tools/page_screenshots.py        # rewrites docs/page-*.png and docs/view.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TWO_LAYER = ["h = W1 @ x + b1; y_hat = W2 @ h + b2; loss = sum((y_hat - y)^2)",
             "--W1", "[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]", "--b1", "[0, 0, 0]",
             "--W2", "[[1, -1, 0.5]]", "--b2", "[0.1]", "--x", "[1, 2]", "--y", "[1]"]
CARD = ["(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4"]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def write(args: list[str], path: Path) -> None:
    subprocess.run([sys.executable, "-m", "bpcli", "view", *args, "-o", str(path)], check=True,
                   capture_output=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work, sync_playwright() as p:
        network, card = Path(work) / "network.html", Path(work) / "card.html"
        write(TWO_LAYER, network)
        write(CARD, card)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        for name, path, step in [("page-forward", network, 6), ("page-backward", network, 21),
                                 ("page-end", network, 28), ("view", card, 13)]:
            tab.goto(path.as_uri() + f"#step={step}")
            tab.wait_for_selector("body[data-ready='1']")
            tab.screenshot(path=DOCS / f"{name}.png")
        tab.goto(card.as_uri() + "#step=12")
        tab.wait_for_selector("body[data-ready='1']")
        tab.check("#bp-predict")
        tab.keyboard.press("ArrowRight")
        tab.fill("#bp-answer", "-2")
        tab.press("#bp-answer", "Enter")
        tab.screenshot(path=DOCS / "page-predict.png")
        browser.close()


if __name__ == "__main__":
    main()
