"""Sphinx configuration of the workshop's static site, built by ``cola-workshop site`` (cola_workshop/site.py).

The pages are the six notebooks exactly as committed, outputs and plots included: MyST-NB reads them and never
executes them (``nb_execution_mode = "off"``), so the site shows the same run that nbval checks. ``index.md`` is
the title page and ``guide.md`` includes README.md's guide. Not a test module: pytest only collects test_*.py.
"""

from pathlib import Path

project = "Fine-tune GPT-2 on CoLA: a hands-on workshop"
author = "the CoLA fine-tuning workshop"
copyright = "the CoLA fine-tuning workshop authors (MIT License)"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute", ".jupyter_cache"]

# Show what was committed; execute nothing (a build must not need a kernel, the model or the data).
nb_execution_mode = "off"
# Read .ipynb files through a reader that collapses exercise solutions (cells tagged `solution`).
nb_custom_formats = {".ipynb": ["cola_workshop.tools.site.read_notebook", {}, False]}
nb_merge_streams = True  # the Trainer's progress arrives in many small stream outputs: show them as one block
myst_heading_anchors = 3  # README's links to its own sections (#exercises) resolve on the guide page
myst_enable_extensions = ["colon_fence"]
smartquotes = False  # show the notebooks' text as written (straight quotes, as in their code)

html_theme = "sphinx_book_theme"
html_title = "CoLA fine-tuning workshop"
html_static_path = ["_static"]
html_css_files = ["workshop.css"]
html_last_updated_fmt = None
html_copy_source = False  # the .ipynb sources are in the repository; the site needs only HTML
html_show_sourcelink = False
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
}


def _images_out_of_the_way(app):
    """MyST-NB writes notebook images to ``<outdir>/../jupyter_execute``, i.e. beside the site; keep them in the
    build's scratch folder instead, so that ``--to DIR`` writes nothing outside DIR (Sphinx copies them in)."""
    app.env.mystnb_config = app.env.mystnb_config.copy(output_folder=str(Path(app.doctreedir) / "jupyter_execute"))


def setup(app):
    app.connect("builder-inited", _images_out_of_the_way, priority=900)  # after MyST-NB's own (500)
