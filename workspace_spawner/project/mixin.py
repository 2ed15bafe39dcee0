"""ProjectMixin: the user's own ``{username}-workspace`` project, its quota, limits and access.

The step runs before the pod exists (``ensure_workspace_project``), then puts the
pod in touch with the project (``apply_workspace_project_to_pod``): it runs as a
per-user ServiceAccount in the hub's namespace that is bound only in the project,
with ``PROJECT_NAMESPACE`` set and a kubeconfig whose default namespace is the
project.

The room: traits in :mod:`.traits`, the namespace's own steps in :mod:`.namespace`,
the steps on what is in it here, the pure builders in :mod:`.objects`,
:mod:`.manifests`, :mod:`.security` and :mod:`.names`.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import V1LocalObjectReference

from ..constants import KUBECONFIG_ANNOTATION, USERNAME_LABEL
from ..kube import KubeError
from ..kube import projects as kube_projects
from ..kube.hubcache import HubCache
from ..kube.policy import all_of
from ..podspec import add_volume_mounts, add_volumes, notebook_container, set_env
from . import manifests, objects
from .namespace import ProjectNamespace

_STEPS = {
    "ServiceAccount": "Creating service account {account}",
    "Secret": "Storing your access token for the command line tools",
    "RoleBinding": "Granting {user} {role} in {project}",
    "ResourceQuota": "Applying quota to {project}",
    "LimitRange": "Applying limit range to {project}",
    "NetworkPolicy": "Isolating {project} on the network",
}


class ProjectMixin(ProjectNamespace):
    """The project feature: each user's ``{username}-workspace`` project or namespace.

    Traits ``workspace_project_*`` (:class:`~workspace_spawner.project.traits.ProjectTraits`);
    steps :meth:`ensure_workspace_project` (before the pod) and
    :meth:`apply_workspace_project_to_pod` (on the pod); the builders are in
    :mod:`workspace_spawner.project.objects` and :mod:`workspace_spawner.project.manifests`.
    See docs/admin/projects.md.
    """

    # (API server host, namespace, account) -> its imagePullSecrets, read once per hub process
    _pull_secrets_by_account: HubCache[tuple[str, str, str], list[str]] = HubCache(
        "the imagePullSecrets of the pods' default ServiceAccount"
    )

    @classmethod
    def reset_caches(cls) -> None:
        """Forget what this hub process learned about projects, as a restarted hub would."""
        ProjectNamespace.reset_caches()
        ProjectMixin._pull_secrets_by_account.clear()

    # -- the step --------------------------------------------------------------------

    async def ensure_workspace_project(self) -> None:
        """Create or check the user's project, its quota, limits and access."""
        if not self.workspace_project_enabled:
            return
        name = self.workspace_project_name
        openshift = await self._workspace_project_openshift()
        self._workspace_project_api_kind = "openshift" if openshift else "kubernetes"
        namespace, created = await self._ensure_project_namespace(name, openshift=openshift)
        if not openshift and self.workspace_project_mode == "create":
            await self._apply_pod_security(namespace)

        if not self._uses_user_token:
            self._workspace_project_pull_secrets = await self._inherited_pull_secrets()
        desired = objects.desired_objects(await self._workspace_project_wanted(openshift=openshift))
        applied = manifests.applied_hash([desired[k] for k in sorted(desired)])
        if not created and applied == self._workspace_project_applied:
            self.emit_progress(f"Using project {name}")
            return
        await self._reconcile(name, desired, fresh=created)
        self._workspace_project_applied = applied
        self._workspace_project_kinds = sorted(k for k, v in desired.items() if v is not None)

    async def _workspace_project_wanted(self, *, openshift: bool) -> objects.Wanted:
        return objects.Wanted(
            project=self.workspace_project_name,
            hub_namespace=self.namespace,
            slug=self._workspace_project_slug,
            username=self.user.name,
            role=self.workspace_project_role,
            user_subject=await self._workspace_project_user_subject(openshift=openshift),
            user_label=self._build_common_labels({})[USERNAME_LABEL],
            service_account=None
            if self._uses_user_token
            else self.workspace_project_service_account,
            token_secret=self._workspace_project_token_secret,
            token=await self._workspace_project_user_token() if self._uses_user_token else None,
            groups=list(self.workspace_project_groups),
            quota=dict(self.workspace_project_quota),
            limit_range=list(self.workspace_project_limit_range),
            network_policy=self.workspace_project_network_policy,
        )

    async def _inherited_pull_secrets(self) -> list[str]:
        """The imagePullSecrets of the account the pod ran as before (``service_account``).

        Switching the pod to its per-user ServiceAccount would otherwise drop the pull
        secrets an admin linked to that account (``oc secrets link default ... --for=pull``),
        and the image would fail to pull. SCCs are not inherited: grant them to the group
        of all ServiceAccounts of the hub's namespace (docs/admin/deployments.md). Needs
        ``get serviceaccounts`` in the hub's namespace; without it (RBAC of 0.1) the pod
        keeps only its own ``image_pull_secrets`` and the hub log says why. Read once
        per hub process: secrets linked later apply after a hub restart.
        """
        name = self.service_account or "default"
        key = (self.api.api_client.configuration.host, self.namespace, name)

        async def read() -> list[str]:
            account = await self.kube_request(
                lambda: kube_projects.read_service_account(
                    api=self.api, namespace=self.namespace, name=name
                ),
                what=f"get serviceaccounts {name}",
            )
            secrets = (account or {}).get("imagePullSecrets") or []
            return [s["name"] for s in secrets if s.get("name")]

        try:
            return await ProjectMixin._pull_secrets_by_account.get_or_compute(key, read)
        except KubeError as e:
            if e.status != 403:
                raise
            self.log.warning("Not copying the pull secrets of service account %s: %s", name, e)
            return []

    @property
    def _uses_user_token(self) -> bool:
        return self.workspace_project_credentials == "user-token"

    async def _workspace_project_user_token(self) -> str:
        auth_state = await self.user.get_auth_state() or {}
        token = auth_state.get("access_token")
        if not token:
            raise KubeError(
                f"workspace_project_credentials is 'user-token' but {self.user.name} has no access_token "
                "in auth_state: enable c.Authenticator.enable_auth_state (OpenShift OAuth), then log out and in."
            )
        return token

    async def _workspace_project_user_subject(self, *, openshift: bool) -> str:
        """The RoleBinding's user name: the template, or OpenShift's exact user name.

        OpenShift user names are case-sensitive and JupyterHub lowercases its
        usernames, so with the default template the name comes from
        OAuthenticator's ``auth_state["openshift_user"]`` (the OpenShift User) when
        it is there (https://oauthenticator.readthedocs.io/en/latest/reference/api/gen/oauthenticator.openshift.html).
        """
        template = self.workspace_project_user_subject
        if openshift and template == type(self).workspace_project_user_subject.default_value:
            auth_state = await self.user.get_auth_state() or {}
            user = auth_state.get("openshift_user") or {}
            exact = (user.get("metadata") or {}).get("name") if isinstance(user, dict) else None
            if isinstance(exact, str) and exact:
                return exact
        return self._expand_user_properties(template, slug_scheme="safe")

    async def _reconcile(
        self, name: str, desired: dict[str, dict[str, Any] | None], *, fresh: bool
    ) -> None:
        """Apply what is wanted; delete what is no longer wanted and may be there.

        See :func:`~workspace_spawner.project.objects.may_be_left` for what may be there.
        The objects name each other but need not exist for one another (a RoleBinding's
        subject, a quota's namespace exists already), so they are written at once, not one
        after the other: a class starting at once waits one round trip for them, not six.
        Each is written to the end; the first failure is raised.
        """
        previous = self._workspace_project_kinds
        writes = []
        for kind in objects.KINDS:
            body = desired[kind]
            if body is not None:
                writes.append(self._apply_one(kind, body, project=name))
            elif objects.may_be_left(kind, previous=previous, fresh=fresh):
                writes.append(self._delete_one(kind, project=name))
        await all_of(*writes)

    async def _apply_one(self, kind: str, body: dict[str, Any], *, project: str) -> None:
        self.emit_progress(
            _STEPS[kind].format(
                account=self.workspace_project_service_account,
                user=self.user.name,
                role=self.workspace_project_role,
                project=project,
            )
        )
        # in 'existing' mode an admin may have made the binding by hand: it is kept
        keep = kind == "RoleBinding" and self.workspace_project_mode == "existing"
        result = await self.kube_request(
            lambda: kube_projects.apply_object(api=self.api, body=body, keep_unmanaged=keep),
            what=f"apply {kind}",
        )
        if not kube_projects.is_managed(result):
            self.log.warning(
                "Keeping %s %s in %s: an admin made it", kind, body["metadata"]["name"], project
            )
            self.emit_progress(f"Keeping the {kind} an admin made in {project}")

    async def _delete_one(
        self, kind: str, *, project: str, why: str = "no longer configured"
    ) -> None:
        obj_name, ns = self._workspace_project_object_names(project)[kind]
        self.log.info("Removing %s %s in %s: %s", kind, obj_name, ns, why)
        await self.kube_request(
            lambda: kube_projects.delete_object(
                api=self.api, kind=kind, name=obj_name, namespace=ns
            ),
            what=f"delete {kind}",
        )

    def _workspace_project_object_names(self, project: str) -> dict[str, tuple[str, str]]:
        return objects.object_names(
            project=project,
            hub_namespace=self.namespace,
            service_account=self.workspace_project_service_account,
            token_secret=self._workspace_project_token_secret,
        )

    # -- the pod -----------------------------------------------------------------------

    def apply_workspace_project_to_pod(self, pod) -> None:
        """Run the pod as the user's service account, with PROJECT_NAMESPACE set."""
        if not self.workspace_project_enabled:
            return
        name = self.workspace_project_name
        token_secret = self._workspace_project_token_secret if self._uses_user_token else None
        if token_secret:
            token_file = f"{manifests.USER_TOKEN_DIR}/token"
        else:
            token_file = f"{manifests.SA_TOKEN_DIR}/token"
            pod.spec.service_account_name = self.workspace_project_service_account
            pod.spec.automount_service_account_token = True
            known = {s.name for s in pod.spec.image_pull_secrets or []}
            pod.spec.image_pull_secrets = (
                list(pod.spec.image_pull_secrets or [])
                + [
                    V1LocalObjectReference(name=name)
                    for name in self._workspace_project_pull_secrets
                    if name not in known
                ]
                or None
            )
        pod.metadata.annotations = dict(pod.metadata.annotations or {})
        pod.metadata.annotations[KUBECONFIG_ANNOTATION] = manifests.make_kubeconfig(
            namespace=name, token_file=token_file
        )
        add_volumes(pod, manifests.pod_volumes(token_secret=token_secret))
        container = notebook_container(pod)
        add_volume_mounts(container, manifests.pod_volume_mounts(token_secret=token_secret))
        set_env(container, manifests.pod_env(namespace=name))

    # -- deletion ----------------------------------------------------------------------

    async def delete_forever(self):
        """KubeSpawner's deletion, then the project if ``delete_workspace_project`` asks for it."""
        await super().delete_forever()
        if not (self.workspace_project_enabled and self.delete_workspace_project):
            return
        if self.name:
            # a named server is being deleted, not the user: the project is the user's
            return
        name = self.workspace_project_name
        if self.workspace_project_mode == "existing":
            self.log.info(
                "Not deleting project %s of %s: it is an admin's (mode 'existing')",
                name,
                self.user.name,
            )
            return
        namespace = await self.kube_request(
            lambda: kube_projects.read_namespace(api=self.api, name=name),
            what=f"get namespaces {name}",
        )
        if namespace is not None:
            if not manifests.is_owned_by(
                namespace, slug=self._workspace_project_slug, username=self.user.name
            ):
                self.log.warning(
                    "Not deleting project %s: not made by workspace-spawner for %s",
                    name,
                    self.user.name,
                )
                return
            openshift = await self._workspace_project_openshift()
            self.log.warning(
                "Deleting project %s of deleted user %s and everything in it", name, self.user.name
            )
            await self.kube_request(
                lambda: kube_projects.delete_project(api=self.api, name=name, openshift=openshift),
                what=f"delete project {name}",
            )
        for kind in objects.HUB_NAMESPACE_KINDS:
            await self._delete_one(kind, project=name, why="its user is deleted")
        self._workspace_project_applied = None
        self._workspace_project_kinds = None
