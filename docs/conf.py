"""Sphinx configuration for the sklearn-divergence documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
after ``pip install ".[docs]"``.
"""

import sklearn_divergence

project = "sklearn-divergence"
author = "The sklearn-divergence developers"
copyright = "2026, The sklearn-divergence developers"
version = release = sklearn_divergence.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",  # the benchmark tables, included from benchmarks/*.md
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "literal"

# API reference: one page per public object, generated from the docstrings.
autosummary_generate = True
autodoc_typehints = "none"
# The class template documents each method in full; numpydoc's summary table would
# repeat them.
numpydoc_show_class_members = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sklearn_divergence",),
    "reference_url": {"sklearn_divergence": None},
    "download_all_examples": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-divergence {release}"
html_theme_options = {"show_toc_level": 2}
html_show_sourcelink = False
