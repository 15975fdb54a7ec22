"""Sphinx configuration of the book (copied into the generated source tree by refimpl.book.source)."""

import os

project = "refimpl"
author = "the refimpl authors"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx-mathjax-offline"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = "refimpl"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_js_files = ["catalogue.js"]
html_show_sourcelink = False
add_module_names = False  # `ReLU`, as users import it from refimpl.nn, not refimpl.nn.layers.activation.ReLU

# MyST: $…$ and $$…$$ math in Markdown cells and in the Markdown the notebooks display
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # `$$…$$` inside a paragraph, as Jupyter renders it
myst_heading_anchors = 3
nb_render_markdown_format = "myst"
# the notebooks are executed beforehand into this cache (refimpl.book.execute); Sphinx only reads them
nb_execution_mode = "cache"
nb_execution_cache_path = os.environ.get("REFIMPL_BOOK_CACHE", "../cache")
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_ipywidgets_js = {}  # no widget scripts from a CDN
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_typehints = "none"
suppress_warnings = ["myst.header", "misc.highlighting_failure", "mystnb.unknown_mime_type"]


def _docstring_as_written(app, what, name, obj, options, lines):
    """The house writes docstrings as plain text (what `help()` shows), not reStructuredText: show each
    one as it is written instead of letting docutils misread `*args` or an indented example."""
    if any(line.strip() for line in lines):
        lines[:] = [".. code-block:: text", ""] + [f"   {line}" for line in lines] + [""]


def setup(app):
    app.connect("autodoc-process-docstring", _docstring_as_written)
