"""Sphinx configuration of the rgfactor documentation site (built by scripts/docs.sh)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "rgfactor"
author = "the rgfactor developers"
copyright = "2026, the rgfactor developers"
from rgfactor import __version__ as release  # noqa: E402

version = release

extensions = [
    "myst_nb",                      # Markdown pages (MyST) and notebooks in MyST Markdown, executed at build time
    "numpydoc",                     # the API reference from the numpydoc docstrings
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]
templates_path = []

# MyST: $...$ math in the model pages, heading anchors for cross-page links
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]   # the model pages start at '#' and skip levels in places

# notebooks: executed at build time (cached), reduced settings via RGFACTOR_DOCS_QUICK; "off" skips
nb_execution_mode = os.environ.get("RGFACTOR_DOCS_EXECUTE", "cache")
nb_execution_timeout = int(os.environ.get("RGFACTOR_DOCS_TIMEOUT", "900"))
nb_execution_raise_on_error = True
nb_execution_cache_path = str(ROOT / "docs" / "_build" / ".jupyter_cache")
nb_merge_streams = True

# API reference
autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_title = f"rgfactor {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "header_links_before_dropdown": 4,
}
html_static_path = []

# -n (nitpicky) in scripts/docs.sh: every cross-reference must resolve. The canonical-correlation
# derivation is plain-text math that reST cannot parse, so its module is not rendered here.
nitpick_ignore = [("py:mod", "rgfactor.posterior.canonical")]
