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


# -- The configuration reference ----------------------------------------------------
# autodoc-traits documents every configurable trait, inherited ones included, and
# KubeSpawner alone has ~150. The reference lists what workspace-spawner adds, and
# a table of the KubeSpawner traits whose default it changes; the rest is
# KubeSpawner's own reference. docs/reference/config.md holds two tokens that are
# filled in here when Sphinx reads it.


def _own_classes():
    from kubespawner import KubeSpawner

    from workspace_spawner import WorkspaceSpawner

    parent = set(KubeSpawner.__mro__)
    return [cls for cls in WorkspaceSpawner.__mro__ if cls not in parent]


def _changed_defaults_table() -> str:
    from kubespawner import KubeSpawner

    rows = []
    parent_traits = KubeSpawner.class_traits(config=True)
    for cls in _own_classes():
        for name in sorted(vars(cls).get("_trait_default_generators", {})):
            if name in parent_traits and name not in {r[0] for r in rows}:
                generator = vars(cls)["_trait_default_generators"][name]
                # @default wraps the method in a DefaultHandler: the docstring is its func's
                doc = (getattr(generator, "func", generator).__doc__ or "").strip().splitlines()
                rows.append((name, doc[0] if doc else ""))
    if not rows:
        return "workspace-spawner changes no KubeSpawner default."
    lines = ["| setting | workspace-spawner's default |", "| --- | --- |"]
    lines += [f"| `c.KubeSpawner.{name}` | {doc} |" for name, doc in rows]
    return "\n".join(lines)


def _kubespawner_only_traits() -> str:
    from kubespawner import KubeSpawner

    own = set()
    for cls in _own_classes():
        own.update(name for name, value in vars(cls).items() if hasattr(value, "metadata"))
    return ", ".join(sorted(set(KubeSpawner.class_traits(config=True)) - own))


def _fill_reference(app, docname, source):
    if docname != "reference/config":
        return
    source[0] = source[0].replace("KUBESPAWNER_ONLY_TRAITS", _kubespawner_only_traits())
    source[0] = source[0].replace("CHANGED_DEFAULTS_TABLE", _changed_defaults_table())


def setup(app):
    app.connect("source-read", _fill_reference)
