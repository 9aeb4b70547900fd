"""The static site: ``cola-workshop site`` builds the six notebooks as committed, and README's guide, into HTML
without executing anything; a headless Chromium then reads every page the way a learner would.

What the pages must show is derived from the notebooks themselves (their headings, code cells, tables and plots),
so the checks follow the notebooks as they change. Skips with the reason where the 'site' extra, selenium or
Chromium is missing. The tests that build a site and read it in Chromium are marked ``slow``: the quick lane leaves
them out and keeps the unit tests of the site module.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from cola_workshop.tools import cli
from cola_workshop.artifacts import BONUS_STAGES, STAGES
from cola_workshop.tools.site import SOURCE_DIR, SiteError, build_site, read_notebook, require_sphinx
from headless_browser import chromium, external, file_url, requested_urls, wait_for

REMOVED = {"remove-cell", "remove_cell"}
# Sphinx's themes and parsers still use APIs that Sphinx 11 removes: their business, not a finding here.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


def _require_site_extra():
    try:
        require_sphinx()
    except SiteError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real site, built once through the command line, in strict mode (any Sphinx warning fails)."""
    _require_site_extra()
    folder = tmp_path_factory.mktemp("site") / "site"
    assert cli.main(["site", "--to", str(folder), "--strict"]) == 0
    return folder


def _expected(stage: str) -> dict:
    """What notebook ``stage`` must show on its page, counted from the .ipynb file."""
    notebook = nbformat.read(SOURCE_DIR / f"{stage}.ipynb", as_version=4)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    code = [c for c in notebook.cells if c.cell_type == "code" and not REMOVED & set(c.metadata.get("tags", []))]
    outputs = [output for cell in code for output in cell.get("outputs", [])]
    clean = lambda heading: re.sub(r"[`*]", "", heading).strip()  # noqa: E731 - what Markdown renders as text
    return {
        "title": [clean(re.search(r"^# (.+)$", markdown, re.M).group(1))],
        "sections": {clean(h) for h in re.findall(r"^## (.+)$", markdown, re.M)},
        "code_cells": len(code),
        "images": sum("image/png" in output.get("data", {}) for output in outputs),
        "tables": sum("<table" in str(output.get("data", {}).get("text/html", "")) for output in outputs),
    }


# Run in each page once it has loaded: what a learner sees, as data for the tests below.
_LOOK = """
const main = document.querySelector('article.bd-article') || document.body;
const all = (root, s) => [...root.querySelectorAll(s)];
const text = e => e.textContent.replace(/#$/, '').trim();
const images = all(main, 'div.cell_output img');
if (!images.every(e => e.complete)) return null;
const href = s => (document.querySelector(s) || {}).href || null;
return {
  title: all(main, 'h1').map(text), sections: all(main, 'h2').map(text),
  code_cells: all(main, 'div.cell').length, tables: all(main, 'div.cell_output table').length,
  image_widths: images.map(e => e.naturalWidth), main_links: all(main, 'a[href]').map(a => a.href),
  links: all(document, 'a[href]').map(a => a.href), ids: all(document, '[id]').map(e => e.id),
  previous: href('a.left-prev'), next: href('a.right-next'),
};
"""


@pytest.fixture(scope="module")
def pages(site):
    """Every page of the site opened once in a headless Chromium: {file name: what it shows}, plus the URLs the
    browser requested meanwhile (under the key "requests")."""
    seen = {}
    with chromium() as driver:
        for page in sorted(site.glob("*.html")):
            driver.get(file_url(page))
            seen[page.name] = wait_for(driver, lambda d: d.execute_script(_LOOK), message=f"{page.name} did not finish loading")
        seen["requests"] = requested_urls(driver)
    return seen


@pytest.mark.slow
def test_each_notebook_page_shows_its_headings_code_tables_and_plots(pages):
    for stage in STAGES:
        expected, shown = _expected(stage), pages[f"{stage}.html"]
        assert shown["title"] == expected["title"], stage
        assert expected["sections"] <= set(shown["sections"]), f"{stage}: a section heading is missing"
        for what in ("code_cells", "tables"):
            assert shown[what] == expected[what], f"{stage}: {shown[what]} {what} shown, the notebook has {expected[what]}"
        widths = shown["image_widths"]
        assert len(widths) == expected["images"], f"{stage}: {len(widths)} plots shown, the notebook has {expected['images']}"
        assert all(width > 0 for width in widths), f"{stage}: a plot image did not load"
    assert sum(len(pages[f"{s}.html"]["image_widths"]) for s in STAGES) >= 3, "the series has plots"
    assert sum(pages[f"{s}.html"]["tables"] for s in STAGES) >= 3, "the series has tables"


@pytest.mark.slow
def test_title_page_links_to_all_six_and_pages_chain_previous_next(site, pages):
    for stage in STAGES:
        assert file_url(site / f"{stage}.html") in pages["index.html"]["main_links"], f"the title page misses {stage}"
    order = ["index", "guide", "instructor-guide", *STAGES, *BONUS_STAGES, None]
    for before, page, after in zip(order, order[1:], order[2:]):
        assert pages[f"{page}.html"]["previous"] == file_url(site / f"{before}.html"), f"{page}: previous link"
        assert pages[f"{page}.html"]["next"] == (file_url(site / f"{after}.html") if after else None), f"{page}: next"


@pytest.mark.slow
def test_every_internal_link_resolves_and_nothing_is_fetched_from_elsewhere(site, pages):
    root = file_url(site)
    internal = [(name, href) for name, page in pages.items() if name != "requests" for href in page["links"]
                if href.startswith(root)]
    assert len(internal) > 50, "the pages link to each other"
    for name, href in internal:
        parts = urlsplit(href)
        target = Path(unquote(parts.path))
        assert target.exists(), f"{name} links to a missing file: {href}"
        if parts.fragment and target.suffix == ".html":
            assert unquote(parts.fragment) in pages[target.name]["ids"], f"{name} links to a missing anchor: {href}"
    assert external(pages["requests"]) == [], "the site must work offline: it fetched something from elsewhere"


@pytest.mark.slow
def test_a_build_executes_no_cell_and_collapses_solutions(tmp_path):
    """A probe notebook whose cell would leave a file behind if run: the build shows its committed output
    instead, and its solution cell starts collapsed. No warning about unexecuted notebooks either."""
    _require_site_extra()
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(SOURCE_DIR / "conf.py", source / "conf.py")
    shutil.copytree(SOURCE_DIR / "_static", source / "_static")
    (source / "index.md").write_text("# Probe\n\n```{toctree}\nprobe\n```\n")
    marker = tmp_path / "executed"
    probe = nbformat.v4.new_notebook()
    ran = nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('ran')")
    ran.outputs = [nbformat.v4.new_output("stream", name="stdout", text="committed output 1234\n")]
    solution = nbformat.v4.new_code_cell("answer = 6 * 7  # the solution", metadata={"tags": ["solution"]})
    probe.cells = [nbformat.v4.new_markdown_cell("# Probe notebook"), ran, solution]
    probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(probe, str(source / "probe.ipynb"))

    build = build_site(tmp_path / "site", source=source)
    assert build.warnings == []
    assert not marker.exists(), "building the site executed a cell"
    with chromium() as driver:
        driver.get(file_url(tmp_path / "site" / "probe.html"))
        wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")
        assert "committed output 1234" in driver.find_element("css selector", "div.cell_output").text
        code = driver.find_element("css selector", "div.tag_solution div.cell_input")
        assert not code.is_displayed(), "the solution should start collapsed"
        toggle = driver.find_element("css selector", "div.tag_solution details summary")
        assert toggle.text == "Show the solution"
        toggle.click()
        wait_for(driver, lambda d: code.is_displayed(), timeout=10, message="the solution does not open")
        assert "answer = 6 * 7" in code.text


def test_reader_collapses_solution_cells_only():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("y = 2", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("text", metadata={"tags": ["solution"]}),
    ]
    read = read_notebook(nbformat.writes(notebook))
    assert [cell.metadata.get("tags") for cell in read.cells] == [["solution", "hide-input"], ["parameters"], ["solution"]]
    assert read.cells[0].metadata["mystnb"]["code_prompt_show"] == "Show the solution"


def test_refuses_to_write_into_a_folder_that_is_not_a_site(tmp_path):
    _require_site_extra()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SiteError, match="not empty and holds no earlier build"):
        build_site(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_broken_configuration_is_one_line(tmp_path):
    _require_site_extra()
    (tmp_path / "conf.py").write_text("raise ValueError('a typo in conf.py')\n")
    with pytest.raises(SiteError) as raised:
        build_site(tmp_path / "site", source=tmp_path)
    assert "\n" not in str(raised.value) and str(raised.value).endswith("ValueError: a typo in conf.py")


def test_site_command_names_the_extra_when_sphinx_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "myst_nb", None)  # import myst_nb now raises ImportError
    assert cli.main(["site", "--to", "unused"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "myst-nb" in error and 'pip install -e ".[site]"' in error
