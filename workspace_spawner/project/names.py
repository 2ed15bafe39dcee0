"""The project's name: a valid DNS-1123 label for any username.

The template is expanded by KubeSpawner's ``_expand_user_properties`` with the
"safe" slug scheme, which keeps valid usernames as they are and turns any other
into ``<safe prefix>---<8 hex of sha256>``. A template can still expand to a name
that is not a valid namespace name (too long, or an ``{unescaped_username}``
field), so :func:`project_name` falls back to kubespawner's own hashed,
truncated form of the expansion. Namespace names must be DNS-1123 labels of at
most 63 characters
(https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names).
"""

from __future__ import annotations

import string

from kubespawner.slugs import is_valid_object_name, strip_and_hash

__all__ = ["project_name", "notebook_service_account_name", "PER_USER_FIELDS", "PER_SERVER_FIELDS"]

MAX_LABEL_LENGTH = 63

# template fields that differ between users: a template must use one of them, or
# every user would share one project
PER_USER_FIELDS = frozenset(
    {"username", "safe_username", "escaped_username", "unescaped_username", "userid"}
)
# fields that differ between one user's servers: the project is shared by all of
# a user's servers, so these are refused
PER_SERVER_FIELDS = frozenset(
    {
        "servername",
        "safe_servername",
        "escaped_servername",
        "unescaped_servername",
        "user_server",
        "safe_user_server",
        "escaped_user_server",
        "pod_name",
        "pvc_name",
    }
)

_NOTEBOOK_SA_PREFIX = "notebook-"


def template_fields(template: str) -> set[str]:
    """The ``{field}`` names a str.format template refers to."""
    return {
        field.split(".")[0].split("[")[0]
        for _, field, _, _ in string.Formatter().parse(template)
        if field
    }


def project_name(expanded: str) -> str:
    """The namespace name for an expanded ``workspace_project_template``.

    A valid name of at most 63 characters without ``---`` is kept as it is; any
    other becomes ``<safe prefix>---<8 hex of sha256 of the expansion>``
    (kubespawner's ``strip_and_hash``). Kept names never contain ``---`` and
    hashed ones always do, so two different expansions never give one name (up
    to a 32-bit hash collision between names with the same prefix, kubespawner's
    own guarantee), and one expansion always gives the same name. A hashed safe
    slug in the expansion (``alice---2bd806c9-workspace`` for ``Alice``) is
    hashed again: with an ``{unescaped_username}`` template a user could
    otherwise pick a raw name equal to another user's hashed name.
    """
    if "---" not in expanded and is_valid_object_name(expanded):
        return expanded
    return strip_and_hash(expanded, max_length=MAX_LABEL_LENGTH)


def notebook_service_account_name(project: str) -> str:
    """The per-user ServiceAccount (in the hub's namespace) the notebook runs as.

    Prefixed, so it never takes the name of the hub's own account or of another
    account an admin made (a template ``{username}`` and a user called ``hub``
    would otherwise run that user's notebook as the hub).
    """
    return f"{_NOTEBOOK_SA_PREFIX}{project}"
