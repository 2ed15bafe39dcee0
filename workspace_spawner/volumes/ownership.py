"""Whose is a claim? A found claim is mounted only if it is this user's, or nobody's.

A claim is found by name, and a name alone proves nothing: an admin's rename, a
template change or a name another user's derived name happens to equal would
mount someone else's files as the home. KubeSpawner marks the claims it makes
with the raw username (annotation ``hub.jupyter.org/username``) and its slug
(label ``hub.jupyter.org/username``); older KubeSpawners (< 7) made the label
with the "escape" slug scheme and no annotation. So:

- an annotation names the owner exactly: the claim is this user's only if it is
  their raw name;
- without one, the label must be one of this user's slugs (``safe`` or legacy
  ``escape``);
- a claim with neither (made by an admin by hand, or by a very old KubeSpawner)
  is adopted, as KubeSpawner always did.

https://github.com/jupyterhub/kubespawner/blob/7.1.0/kubespawner/spawner.py#L2216
"""

from __future__ import annotations

from typing import Any

from kubespawner.slugs import escape_slug, is_valid_label, safe_slug

from ..constants import RAW_USERNAME_ANNOTATION, USERNAME_LABEL

__all__ = ["claim_owner", "foreign_claim_message", "username_slugs"]


def username_slugs(username: str) -> set[str]:
    """Every slug KubeSpawner has put in the username label for ``username``.

    7.x's label scheme, its DNS-label scheme ({username} in names), and < 7's "escape"
    https://github.com/jupyterhub/kubespawner/blob/7.1.0/kubespawner/slugs.py
    """
    return {
        safe_slug(username, is_valid=is_valid_label),
        safe_slug(username),
        escape_slug(username),
    }


def claim_owner(pvc: dict[str, Any]) -> tuple[str | None, str | None]:
    """(raw username annotation, username label) of a claim; None where absent."""
    meta = pvc.get("metadata") or {}
    return (
        (meta.get("annotations") or {}).get(RAW_USERNAME_ANNOTATION),
        (meta.get("labels") or {}).get(USERNAME_LABEL),
    )


def foreign_claim_message(
    pvc: dict[str, Any], *, username: str, slugs: set[str], volume: str
) -> str | None:
    """Why ``pvc`` must not be mounted for ``username``; None when it is theirs or nobody's.

    ``slugs``: the label values this user's claims may carry (current and legacy
    slug schemes).
    """
    raw, label = claim_owner(pvc)
    if raw is not None:
        if raw == username:
            return None
        owner = raw
    elif label is not None:
        if label in slugs:
            return None
        owner = f"the user whose name label is {label!r}"
    else:
        return None
    meta = pvc.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    what = "workspace volume" if volume == "home" else f"volume {volume!r}"
    return (
        f"The {what} of {username} would be the claim {name} in {namespace}, but that claim "
        f"belongs to {owner}, so it is not mounted. An admin can give {username} another claim "
        f"name (pvc_name_template), move the claim aside, or, if the claim really is "
        f"{username}'s, set its label {USERNAME_LABEL} and annotation {RAW_USERNAME_ANNOTATION} "
        f"to {username}."
    )
