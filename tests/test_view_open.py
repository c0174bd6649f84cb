"""bp view --open hands the written page to the browser."""

from pathlib import Path

from typer.testing import CliRunner

from bpcli.cli import app


def test_open_passes_the_page_as_a_file_uri(tmp_path, monkeypatch):
    import webbrowser

    opened = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    page = tmp_path / "card.html"
    r = CliRunner().invoke(app, ["view", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--no-check",
                                 "-o", str(page), "--open"])
    assert r.exit_code == 0, r.output
    assert opened == [Path(page).resolve().as_uri()]


def test_open_says_when_no_browser_was_found(tmp_path, monkeypatch):
    import webbrowser

    monkeypatch.setattr(webbrowser, "open", lambda uri: False)  # what it returns where there is no browser
    page = tmp_path / "card.html"
    r = CliRunner().invoke(app, ["view", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--no-check",
                                 "-o", str(page), "--open"])
    assert r.exit_code == 0
    assert r.stdout == ""
    uri = Path(page).resolve().as_uri()
    assert r.stderr.splitlines()[-1] == f"bp: note: no web browser was found to open the page; open {uri} in one"
    assert page.exists()
