"""Sphinx configuration of the pytest-tcpclient documentation.

Build: sphinx-build -W --keep-going -b html docs docs/_build/html
The package must be installed (pip install .[tls]): the version and the API
reference come from it.
"""

from importlib.metadata import version as installed_version

project = "pytest-tcpclient"
author = "pytest-tcpclient maintainers"
copyright = "pytest-tcpclient maintainers"

release = installed_version("pytest-tcpclient")
version = release.split("+")[0]

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# MyST: anchors for headings down to ###, so pages can link to sections.
myst_heading_anchors = 3

# autodoc: members in the order of the source, signatures with their types.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "furo"
html_title = f"pytest-tcpclient {version}"
