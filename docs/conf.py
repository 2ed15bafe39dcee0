"""Sphinx configuration for workspace-spawner's documentation."""

from workspace_spawner import __version__

project = "workspace-spawner"
author = "workspace-spawner contributors"
copyright = "2026, workspace-spawner contributors"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    # documents every configurable trait with its help text: the config reference
    "autodoc_traits",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# no network on the machines that build these docs
intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = "workspace-spawner"
html_theme_options = {"navigation_with_keys": False}

autodoc_member_order = "bysource"
