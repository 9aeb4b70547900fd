"""``cola-workshop site``: the six notebooks, as committed (outputs and plots included), and README's guide as a
static HTML site with a title page, a table of contents and previous/next links.

Sphinx with MyST-NB builds it from ``notebooks/`` (``notebooks/conf.py``, ``index.md`` the title page,
``guide.md`` which includes README.md). Nothing is executed: the site shows the run that is committed and that
nbval checks, so building it needs neither a kernel, nor the model, nor the data, and takes seconds.
Sphinx and MyST-NB are an optional extra (``site``): the rest of the package works without them.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tempfile
from pathlib import Path

from ..errors import WorkshopError
from ..settings import REPO_ROOT, display_path

SOURCE_DIR = REPO_ROOT / "notebooks"
DEFAULT_SITE_DIR = REPO_ROOT / "outputs" / "site"
SOLUTION_TAG = "solution"
SOLUTION_PROMPTS = {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"}
INSTALL_HINT = 'pip install -e ".[site]" -c .ci/constraints.txt'
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Sphinx colours its warnings when it thinks it writes to a terminal


class SiteError(WorkshopError, RuntimeError):
    """The site cannot be built (missing extra, unsafe target folder, warnings in strict mode)."""


@dataclasses.dataclass
class SiteBuild:
    index: Path  # the title page: open it in a browser
    warnings: list[str]  # Sphinx's warnings, one line each (empty for a clean build)


def read_notebook(text: str):
    """MyST-NB's reader for ``.ipynb`` (``nb_custom_formats`` in conf.py): the standard one, plus exercise
    solutions (code cells tagged ``solution``) collapsed behind a "show" toggle, so that a learner reading the
    site tries the exercise before seeing the answer. The notebook files themselves are not changed."""
    import nbformat

    notebook = nbformat.reads(text, as_version=4)
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and SOLUTION_TAG in tags and "hide-input" not in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
            cell.metadata.setdefault("mystnb", {}).update(SOLUTION_PROMPTS)
    return notebook


def require_sphinx() -> None:
    """SiteError naming the extra to install when Sphinx, MyST-NB or the theme is missing."""
    missing = []
    for module in ("sphinx", "myst_nb", "sphinx_book_theme"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module.replace("_", "-"))
    if missing:
        raise SiteError(f"building the site needs {', '.join(missing)} (the 'site' extra): {INSTALL_HINT}")


def _check_target(folder: Path) -> None:
    """Refuse to write into a folder that holds something other than an earlier build of the site."""
    if folder.is_file():
        raise SiteError(f"{display_path(folder)} is a file: choose a folder for --to")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / ".buildinfo").is_file():
        raise SiteError(
            f"{display_path(folder)} is not empty and holds no earlier build of the site: choose another --to "
            "or remove it"
        )


def _warning_lines(text: str) -> list[str]:
    """Sphinx's warning stream as one line per warning (a warning's continuation lines are indented)."""
    lines: list[str] = []
    for line in _ANSI.sub("", text).splitlines():
        if line.startswith((" ", "\t")) and lines:
            lines[-1] += " " + line.strip()
        elif line.strip():
            lines.append(line.strip())
    return lines


def build_site(to: str | Path | None = None, source: Path = SOURCE_DIR, strict: bool = False) -> SiteBuild:
    """Build the HTML site from ``source`` into ``to`` (default ``outputs/site/``) and return its title page.

    Every build starts afresh (Sphinx's pickled environment lives in a temporary folder, never beside the
    site), which takes seconds for six notebooks. With ``strict``, any warning (a broken link, a notebook that
    is in no table of contents ...) raises SiteError after the build, naming the first one.
    """
    require_sphinx()
    from sphinx.application import Sphinx
    from sphinx.errors import SphinxError
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    target = Path(to).expanduser().absolute() if to is not None else DEFAULT_SITE_DIR
    _check_target(target)
    warnings = io.StringIO()
    # docutils_namespace: a second build in the same process (tests, a notebook) starts from clean registries.
    with tempfile.TemporaryDirectory(prefix="cola-site-") as scratch, patch_docutils(source), docutils_namespace():
        try:
            app = Sphinx(srcdir=source, confdir=source, outdir=target, doctreedir=Path(scratch) / "doctrees",
                         buildername="html", status=None, warning=warnings, freshenv=True)
            app.build(force_all=True)
        except SphinxError as error:  # a broken conf.py or page: one line (first and last of Sphinx's), no traceback
            lines = str(error).strip().splitlines() or [type(error).__name__]
            reason = lines[0] if len(lines) == 1 else f"{lines[0].rstrip(':')}: {lines[-1].strip()}"
            raise SiteError(f"Sphinx could not build the site from {display_path(source)}: {reason}") from None
        if app.statuscode:
            raise SiteError(f"Sphinx failed to build the site: {' | '.join(_warning_lines(warnings.getvalue()))}")
    lines = _warning_lines(warnings.getvalue())
    if strict and lines:
        raise SiteError(f"the site was built with {len(lines)} warning(s), first: {lines[0]}")
    return SiteBuild(index=target / "index.html", warnings=lines)
