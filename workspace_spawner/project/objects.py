"""Pure builder of everything the project feature wants applied, and where each object lives.

The spawner's reconcile step (:meth:`~workspace_spawner.project.mixin.ProjectMixin.ensure_workspace_project`)
applies what :func:`desired_objects` returns and deletes what it wants gone (``None``);
:func:`~workspace_spawner.project.manifests.applied_hash` of the result is saved in
the user's state, so an unchanged restart writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import manifests, security

__all__ = [
    "KINDS",
    "HUB_NAMESPACE_KINDS",
    "Wanted",
    "desired_objects",
    "may_be_left",
    "object_names",
]

# the objects of the project feature, in the order they are applied
KINDS = ("ServiceAccount", "Secret", "RoleBinding", "ResourceQuota", "LimitRange", "NetworkPolicy")
# those in the hub's namespace: they outlive a deleted project
HUB_NAMESPACE_KINDS = ("ServiceAccount", "Secret")


@dataclass(frozen=True)
class Wanted:
    """What one user's project should hold, from the settings and this start's facts."""

    project: str
    hub_namespace: str
    slug: str
    username: str
    role: str
    user_subject: str
    user_label: str
    # None: the notebook uses the user's own token (``user-token`` credentials)
    service_account: str | None
    token_secret: str
    token: str | None = None
    groups: list[str] = field(default_factory=list)
    quota: dict[str, Any] = field(default_factory=dict)
    limit_range: list[dict[str, Any]] = field(default_factory=list)
    network_policy: bool = True


def desired_objects(wanted: Wanted) -> dict[str, dict[str, Any] | None]:
    """Each kind of :data:`KINDS` -> its object, or None for those wanted gone."""
    w = wanted
    owner = dict(slug=w.slug, username=w.username)
    sa = w.service_account
    return {
        "ServiceAccount": (
            manifests.make_service_account(name=sa, namespace=w.hub_namespace, **owner)
            if sa
            else None
        ),
        "Secret": (
            manifests.make_token_secret(
                name=w.token_secret, namespace=w.hub_namespace, token=w.token, **owner
            )
            if w.token
            else None
        ),
        "RoleBinding": manifests.make_role_binding(
            namespace=w.project,
            role=w.role,
            users=[w.user_subject] if w.user_subject else [],
            groups=list(w.groups),
            service_accounts=[(w.hub_namespace, sa)] if sa else [],
            **owner,
        ),
        "ResourceQuota": (
            manifests.make_resource_quota(namespace=w.project, hard=dict(w.quota), **owner)
            if w.quota
            else None
        ),
        "LimitRange": (
            manifests.make_limit_range(namespace=w.project, limits=list(w.limit_range), **owner)
            if w.limit_range
            else None
        ),
        "NetworkPolicy": (
            security.make_network_policy(
                namespace=w.project, hub_namespace=w.hub_namespace, user_label=w.user_label, **owner
            )
            if w.network_policy
            else None
        ),
    }


def object_names(
    *, project: str, hub_namespace: str, service_account: str, token_secret: str
) -> dict[str, tuple[str, str]]:
    """Each kind of :data:`KINDS` -> (its object's name, its namespace)."""
    return {
        "ServiceAccount": (service_account, hub_namespace),
        "Secret": (token_secret, hub_namespace),
        "RoleBinding": (manifests.ROLE_BINDING_NAME, project),
        "ResourceQuota": (manifests.QUOTA_NAME, project),
        "LimitRange": (manifests.LIMIT_RANGE_NAME, project),
        "NetworkPolicy": (security.NETWORK_POLICY_NAME, project),
    }


def may_be_left(kind: str, *, previous: list[str] | None, fresh: bool) -> bool:
    """Whether an object no longer wanted may still be there, so it is to be deleted.

    ``previous``: the kinds the last start applied (saved state), None when unknown;
    ``fresh``: the project was made by this start. What the state says was never
    applied is not there. In a project made just now only the hub-namespace objects
    can be left from an earlier project (an admin deleted that one); with no state
    either, it is the user's first start and nothing of theirs can be left (a write
    saved per first start, issue 17). A project found existing without state
    (saved by an older version, or made before the hub's database was reset) may
    hold anything.
    """
    if previous is not None:
        return kind in previous and (not fresh or kind in HUB_NAMESPACE_KINDS)
    return not fresh
