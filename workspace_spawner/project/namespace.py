"""The project feature's first steps: the user's Namespace (or OpenShift project) itself.

Made without a read first: a create answering 409 says it is there, and only then
is it read, for the ownership check (a namespace of that name that someone else
made is refused, so nobody gets rights in a namespace not made for them). A start
whose saved state says an earlier one made the project reads it once instead,
since that read is all the hub needs (still there? still the user's? being
deleted?) and a create would cost the same. The hub-process facts (OpenShift or
not, the hub's own user there) are :class:`~workspace_spawner.kube.hubcache.HubCache`\\ s.
Every request goes through the one I/O policy
(:meth:`~workspace_spawner.kube.policy.RetryingRequests.kube_request`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..kube import KubeError
from ..kube import projects as kube_projects
from ..kube.hubcache import HubCache
from ..kube.policy import Deadline, RetryingRequests
from . import manifests, security
from .names import notebook_service_account_name
from .traits import ProjectTraits

# creates of a project that keeps vanishing between the 409 and the read
_CREATE_ATTEMPTS = 3


class ProjectNamespace(RetryingRequests, ProjectTraits):
    """The steps on the project's Namespace: find or make it, check its owner, label it."""

    # API server host -> whether it is OpenShift (one GET /apis per hub process)
    _openshift_by_host: HubCache[str, bool] = HubCache("OpenShift or not, by API server")
    # the hub's own user names on OpenShift, learned from the requester of its projects
    _hub_users: HubCache[str, bool] = HubCache("the hub's OpenShift user names")
    # API server host -> the hub's own user name there (one SelfSubjectReview per hub)
    _hub_identity: HubCache[str, str | None] = HubCache("the hub's own user name, by API server")

    @classmethod
    def reset_caches(cls) -> None:
        """Forget what this hub process learned about projects, as a restarted hub would."""
        ProjectNamespace._openshift_by_host.clear()
        ProjectNamespace._hub_users.clear()
        ProjectNamespace._hub_identity.clear()

    async def _workspace_project_openshift(self) -> bool:
        """Whether projects are ProjectRequests: the trait, the saved state, else API discovery."""
        if self.workspace_project_api != "auto":
            return self.workspace_project_api == "openshift"
        if self._workspace_project_api_kind:
            return self._workspace_project_api_kind == "openshift"
        return await ProjectNamespace._openshift_by_host.get_or_compute(
            self.api.api_client.configuration.host,
            lambda: self.kube_request(
                lambda: kube_projects.detect_openshift(api=self.api), what="detect OpenShift"
            ),
        )

    async def _ensure_project_namespace(self, name: str, *, openshift: bool) -> tuple[dict, bool]:
        """The user's checked namespace, made now when missing: (namespace, made now)."""
        if self.workspace_project_mode == "existing":
            namespace = await self._wait_until_not_terminating(name)
            if namespace is None:
                raise KubeError(
                    f"Project {name} does not exist. workspace_project_mode is 'existing': an admin must "
                    f"create the {'project' if openshift else 'namespace'} {name} (with its quota, limit "
                    f"range and access) before {self.user.name} can start a server."
                )
            return namespace, False
        if self._workspace_project_applied is not None:
            # an earlier start made it: one read (an admin may have deleted it since)
            namespace = await self._wait_until_not_terminating(name)
            if namespace is not None:
                return await self._check_owner(namespace, openshift=openshift), False
        for _attempt in range(_CREATE_ATTEMPTS):
            made = await self._create_project(name, openshift=openshift)
            if made is not None:
                return made, True
            # 409: it is there (or still being deleted); the owner check decides
            namespace = await self._wait_until_not_terminating(name)
            if namespace is not None:
                return await self._check_owner(namespace, openshift=openshift), False
        raise KubeError(f"Project {name} was deleted while it was being created: try again.")

    async def _wait_until_not_terminating(self, name: str) -> dict[str, Any] | None:
        """Read the namespace; while it is being deleted, wait (up to ``start_timeout``)."""
        deadline = Deadline(self.start_timeout)
        wait = 1.0
        told = False
        while True:
            namespace = await self.kube_request(
                lambda: kube_projects.read_namespace(api=self.api, name=name),
                what=f"get namespaces {name}",
            )
            if namespace is None or not manifests.is_terminating(namespace):
                return namespace
            message = f"Project {name} is being deleted, try again shortly"
            if wait > deadline.remaining:
                raise KubeError(f"{message} (still deleting after {self.start_timeout}s).")
            if not told:
                self.emit_progress(f"{message}: waiting for the deletion to finish")
                told = True
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5)

    async def _create_project(self, name: str, *, openshift: bool) -> dict[str, Any] | None:
        """Make the project, labelled as the user's; None when it was there already (409)."""
        self.emit_progress(f"Creating project {name}")
        slug, username = self._workspace_project_slug, self.user.name
        if not openshift:
            body = manifests.make_namespace(
                name=name,
                slug=slug,
                username=username,
                extra_labels=security.pod_security_labels(
                    dict(self.workspace_project_pod_security)
                ),
            )
            return await self.kube_request(
                lambda: kube_projects.create_namespace(api=self.api, body=body),
                what=f"create namespaces {name}",
            )
        request = manifests.make_project_request(name=name, username=username)
        project = await self.kube_request(
            lambda: kube_projects.create_project_request(api=self.api, body=request),
            what=f"create projectrequest {name}",
        )
        if project is None:
            return None
        requester = manifests.requester_of(project)
        if requester:
            ProjectNamespace._hub_users.put(requester, True)
        # OpenShift copies no labels from a ProjectRequest
        # (https://github.com/openshift/origin/issues/3819): label the Namespace
        return await self._label_as_owned(name)

    async def _label_as_owned(self, name: str) -> dict[str, Any]:
        patch = manifests.make_owner_patch(
            slug=self._workspace_project_slug, username=self.user.name
        )
        return await self.kube_request(
            lambda: kube_projects.patch_namespace(api=self.api, name=name, patch=patch),
            what=f"patch namespaces {name}",
        )

    async def _check_owner(self, namespace: dict[str, Any], *, openshift: bool) -> dict[str, Any]:
        """Refuse a namespace not made by workspace-spawner for this user (``create`` mode)."""
        name = namespace["metadata"]["name"]
        slug, username = self._workspace_project_slug, self.user.name
        if manifests.is_owned_by(namespace, slug=slug, username=username):
            return namespace
        owner_slug, _ = manifests.owner_of(namespace)
        if openshift and owner_slug is None and await self._made_by_hub(namespace):
            # our own ProjectRequest whose labelling was interrupted: finish it
            return await self._label_as_owned(name)
        owner = manifests.describe_owner(namespace)
        self.log.warning(
            "Refusing namespace %s for user %s: it is %s (labels %s)",
            name,
            username,
            owner,
            (namespace.get("metadata") or {}).get("labels"),
        )
        raise KubeError(
            f"Project {name} already exists and is {owner}, so it is not used for {username}. "
            "An admin must delete or rename it, or give this user another project "
            "(workspace_project_template), or, if it really is theirs, label it "
            f"(app.kubernetes.io/managed-by=workspace-spawner, hub.jupyter.org/username={slug}, "
            f"annotation hub.jupyter.org/username={username}), or set "
            "workspace_project_mode = 'existing'."
        )

    async def _made_by_hub(self, namespace: dict[str, Any]) -> bool:
        """True when OpenShift's requester annotation names the hub's own account."""
        requester = manifests.requester_of(namespace) or ""
        if requester in ProjectNamespace._hub_users:
            return True
        # after a hub restart: ask the API server who the hub is (once per hub). The
        # pods' namespace (self.namespace) need not be the hub's own, so it cannot tell.
        me = await ProjectNamespace._hub_identity.get_or_compute(
            self.api.api_client.configuration.host,
            lambda: self.kube_request(
                lambda: kube_projects.own_user_name(api=self.api),
                what="create selfsubjectreviews",
            ),
        )
        if me is not None:
            ProjectNamespace._hub_users.put(me, True)
            return requester == me
        # no SelfSubjectReview (before Kubernetes 1.28): a service account of the pods'
        # namespace that is not one of the notebooks' accounts (those may not request
        # projects), right when the hub runs beside its users' pods, as in z2jh
        prefix = f"system:serviceaccount:{self.namespace}:"
        return requester.startswith(prefix) and not requester[len(prefix) :].startswith(
            notebook_service_account_name("")
        )

    async def _apply_pod_security(self, namespace: dict[str, Any]) -> None:
        """Bring the namespace's Pod Security labels in line (never removing one)."""
        patch = security.pod_security_patch(namespace, dict(self.workspace_project_pod_security))
        if patch is None:
            return
        name = namespace["metadata"]["name"]
        level = self.workspace_project_pod_security.get("enforce")
        self.emit_progress(
            f"Applying Pod Security level {level} to {name}"
            if level
            else f"Applying Pod Security labels to {name}"
        )
        await self.kube_request(
            lambda: kube_projects.patch_namespace(api=self.api, name=name, patch=patch),
            what=f"patch namespaces {name}",
        )
