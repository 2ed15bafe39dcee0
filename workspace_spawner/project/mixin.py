"""ProjectMixin: the user's own ``{username}-workspace`` project, its quota, limits and access.

The step runs before the pod exists (``ensure_workspace_project``), then puts the
pod in touch with the project (``apply_workspace_project_to_pod``): it runs as a
per-user ServiceAccount in the hub's namespace that is bound only in the project,
with ``PROJECT_NAMESPACE`` set and a kubeconfig whose default namespace is the
project.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from kubernetes_asyncio.client import V1LocalObjectReference
from kubespawner.clients import shared_client
from traitlets import Bool, Dict, Enum, HasTraits, List, TraitError, Unicode, validate

from ..constants import KUBECONFIG_ANNOTATION, USERNAME_LABEL
from ..kube import KubeError
from ..kube import projects as kube_projects
from ..podspec import add_volume_mounts, add_volumes, notebook_container, set_env
from . import manifests, security
from .names import (
    PER_SERVER_FIELDS,
    PER_USER_FIELDS,
    notebook_service_account_name,
    project_name,
    template_fields,
)

T = TypeVar("T")

# HTTP statuses worth retrying: the API server is busy or restarting
# (https://kubernetes.io/docs/reference/using-api/api-concepts/#retrying-requests)
_TRANSIENT = {429, 500, 502, 503, 504}


class ProjectMixin(HasTraits):
    """The project feature: each user's ``{username}-workspace`` project or namespace.

    Traits ``workspace_project_*``; steps :meth:`ensure_workspace_project` (before the
    pod) and :meth:`apply_workspace_project_to_pod` (on the pod); the builders are in
    :mod:`workspace_spawner.project.manifests`. See docs/admin/projects.md.
    """

    workspace_project_enabled = Bool(
        False,
        config=True,
        help="""Give every user a project (namespace) of their own, ``{username}-workspace``.

        Users deploy their own workloads there (a Dask or Spark cluster, say) from
        the notebook or a terminal with ``kubectl``/``oc``. The notebook pod itself
        still runs in the hub's namespace, as a per-user ServiceAccount bound only in
        the project. Needs the extra hub RBAC in ``helm-values/workspace-project-rbac.yaml``.
        Switching it off leaves existing projects alone.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_template = Unicode(
        "{username}-workspace",
        config=True,
        help="""Name of the user's project, expanded like KubeSpawner's templates.

        Fields as in ``pod_name_template`` (``{username}`` is the safe slug). The
        result is always a valid namespace name: an expansion that is not a valid
        DNS-1123 label of at most 63 characters is shortened and given a hash
        suffix. Must use a per-user field (``{username}``, ``{userid}``, ...), and
        no per-server one: all of a user's servers share the project. The name is
        saved in the user's state, so changing the template does not move existing
        users to a new project.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_mode = Enum(
        ["create", "existing"],
        default_value="create",
        config=True,
        help="""``create`` makes the project if it is missing; ``existing`` uses one an admin made.

        In ``create`` mode a namespace of that name that already exists is used only
        if workspace-spawner made it for this same user (labels
        ``app.kubernetes.io/managed-by=workspace-spawner`` and
        ``hub.jupyter.org/username``); any other makes the spawn fail, so nobody gets
        rights in a namespace that was not made for them. In ``existing`` mode the
        admin's namespace is used as it is, and a missing one fails the spawn with
        a message naming it. Needs ``create namespaces`` (Kubernetes) or ``create
        projectrequests`` (OpenShift) only in ``create`` mode.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_api = Enum(
        ["auto", "openshift", "kubernetes"],
        default_value="auto",
        config=True,
        help="""How projects are made: a ProjectRequest (``openshift``) or a Namespace (``kubernetes``).

        ``auto`` looks for the ``project.openshift.io`` API group once per hub
        process (one ``GET /apis``) and remembers the answer in each user's state.
        A ProjectRequest goes through the cluster's project template, so OpenShift's
        own defaults (its quotas, network policies) apply; the hub becomes the
        project's admin and needs ``patch namespaces`` to label it.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_quota = Dict(
        config=True,
        help="""The ResourceQuota of each project: the ``spec.hard`` of a ResourceQuota.

        For example ``{"requests.cpu": "4", "requests.memory": "8Gi",
        "persistentvolumeclaims": "5"}``. Applied at every start: created if
        missing, updated if changed, removed when emptied; an unchanged restart
        does not touch it. Needs ``create``/``update``/``delete resourcequotas``.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_limit_range = List(
        config=True,
        help="""The LimitRange of each project: the ``spec.limits`` list of a LimitRange.

        For example ``[{"type": "Container", "default": {"cpu": "500m", "memory":
        "512Mi"}, "defaultRequest": {"cpu": "100m", "memory": "256Mi"}}]``, so
        workloads that set no resources still fit in the quota. Reconciled like
        ``workspace_project_quota``. Needs ``create``/``update``/``delete limitranges``.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_role = Unicode(
        "edit",
        config=True,
        help="""The ClusterRole the user, ``workspace_project_groups`` and the notebook get in the project.

        Bound with one RoleBinding (``workspace-access``) in the project only. The
        hub may only grant a role it may ``bind`` (RBAC's escalation check): add the
        role's name to the ``bind`` rule of the hub's ClusterRole when you change it.
        A change applies at each user's next start.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_groups = List(
        Unicode(),
        config=True,
        help="""Groups that also get ``workspace_project_role`` in every user's project.

        For example a group of course instructors. Applied at each user's next start.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_user_subject = Unicode(
        "{unescaped_username}",
        config=True,
        help="""The Kubernetes user name of the hub user, for the RoleBinding; empty: no user subject.

        Expanded like the other templates; the default is the raw hub username, as
        OpenShift's OAuth and OIDC-backed clusters name users. Set it to the
        cluster's naming (``oidc:{unescaped_username}``, say), or to ``""`` where hub
        users are no cluster users and only the notebook acts in the project.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_credentials = Enum(
        ["service-account", "user-token"],
        default_value="service-account",
        config=True,
        help="""Whose rights ``kubectl``/``oc`` in the notebook use.

        ``service-account``: a per-user ServiceAccount in the hub's namespace, bound
        only in the project. ``user-token`` (OpenShift): the user's own OAuth token
        from the authenticator's ``auth_state`` (``access_token``; needs
        ``c.Authenticator.enable_auth_state``), so the tools act with the user's own
        rights everywhere; it is written to a per-user Secret mounted as a file,
        never into an environment variable. Needs ``create``/``update``/``delete
        secrets`` in the hub's namespace.

        .. versionadded:: 0.1
        """,
    )

    workspace_project_pod_security = Dict(
        {"enforce": "baseline", "warn": "restricted", "audit": "restricted"},
        config=True,
        help="""The Pod Security levels of each user's namespace: mode -> level.

        Modes ``enforce`` (pods above the level are rejected), ``warn`` (the user's
        ``kubectl`` prints a warning) and ``audit`` (the audit log notes it); levels
        ``baseline`` or ``restricted``
        (https://kubernetes.io/docs/concepts/security/pod-security-standards/). The
        default stops privileged, ``hostPID``, ``hostNetwork`` and ``hostPath`` pods,
        which would make the user root on the node, and tells users what
        ``restricted`` would refuse. ``privileged`` is refused here: the admission
        policy in ``helm-values/workspace-admission-policy.yaml`` denies the hub that
        label, so an admin who wants it labels the namespace by hand. ``{}`` leaves
        the labels alone. Set as namespace labels (``pod-security.kubernetes.io/*``,
        version ``latest``) when the project is made, and brought in line on existing
        projects at the user's next start (a label is never removed). Kubernetes mode
        only: on OpenShift the label syncer sets these labels from the SCCs, which
        already refuse such pods, and is left alone. Needs ``patch namespaces``.

        .. versionadded:: 0.2
        """,
    )

    workspace_project_network_policy = Bool(
        True,
        config=True,
        help="""Give each user's project a NetworkPolicy ``workspace-isolation``.

        It selects every pod in the project: ingress only from pods of the same
        project and from the user's own notebook pods; egress anywhere except the
        cloud metadata endpoint 169.254.169.254, which hands out the node's cloud
        credentials. Only a network plugin that implements NetworkPolicy enforces it.
        ``False`` removes it at each user's next start, for admins who ship their own
        policies (for example in OpenShift's project template). Applied when the
        project is made and reconciled at every start. Needs
        ``create``/``update``/``delete networkpolicies``.

        .. versionadded:: 0.2
        """,
    )

    delete_workspace_project = Bool(
        False,
        config=True,
        help="""Delete the user's project, and everything in it, when the user is deleted from the hub.

        Only a project workspace-spawner made for this same user is deleted (never
        one of ``existing`` mode); the deletion is logged. Needs ``delete
        namespaces`` (Kubernetes); on OpenShift the hub deletes the Project as its
        admin.

        .. versionadded:: 0.1
        """,
    )

    # hub process caches: API server host -> True on OpenShift; the hub's own user
    # names, learned from the requester of the projects it asked for
    # (reset_caches() forgets them); (API server host, namespace, account) -> its
    # imagePullSecrets, read once per hub process
    _workspace_project_openshift_by_host: ClassVar[dict[str, bool]] = {}
    _workspace_project_hub_users: ClassVar[set[str]] = set()
    _workspace_project_pull_secrets_by_account: ClassVar[dict[tuple[str, str, str], list[str]]] = {}

    @classmethod
    def reset_caches(cls) -> None:
        """Forget what this hub process learned about projects, as a restarted hub would."""
        ProjectMixin._workspace_project_openshift_by_host.clear()
        ProjectMixin._workspace_project_hub_users.clear()
        ProjectMixin._workspace_project_pull_secrets_by_account.clear()

    # per-instance state, as traits without config=True (one idiom in every feature):
    # the names and hash saved in state (see get_state)
    _workspace_project_name = Unicode(None, allow_none=True)
    _workspace_project_sa = Unicode(None, allow_none=True)
    _workspace_project_applied = Unicode(None, allow_none=True)
    _workspace_project_kinds = List(Unicode(), default_value=None, allow_none=True)
    _workspace_project_api_kind = Unicode(None, allow_none=True)
    # this start's imagePullSecrets of the account the pod would run as without the feature
    _workspace_project_pull_secrets = List(Unicode())

    @validate("workspace_project_template")
    def _validate_project_template(self, proposal):
        template = proposal["value"]
        try:
            fields = template_fields(template)
        except ValueError as e:
            raise TraitError(
                f"workspace_project_template {template!r} is not a valid template: {e}"
            )
        if not fields & PER_USER_FIELDS:
            raise TraitError(
                f"workspace_project_template {template!r} names no user field: every user would share "
                "one project. Use {username}, as in '{username}-workspace'."
            )
        if fields & PER_SERVER_FIELDS:
            raise TraitError(
                f"workspace_project_template {template!r} uses {sorted(fields & PER_SERVER_FIELDS)}: "
                "a user's servers share one project. Use {username} instead."
            )
        return template

    @validate("workspace_project_pod_security")
    def _validate_project_pod_security(self, proposal):
        levels = dict(proposal["value"])
        for mode, level in levels.items():
            if mode not in security.POD_SECURITY_MODES:
                raise TraitError(
                    f"workspace_project_pod_security: unknown mode {mode!r}; use "
                    f"{', '.join(security.POD_SECURITY_MODES)}."
                )
            if level not in security.POD_SECURITY_LEVELS:
                raise TraitError(
                    f"workspace_project_pod_security[{mode!r}] = {level!r}: use "
                    f"{' or '.join(security.POD_SECURITY_LEVELS)}. 'privileged' would let "
                    "anyone with access to the project be root on the node; label the "
                    "namespace by hand if you must."
                )
        return levels

    @validate("workspace_project_role")
    def _validate_project_role(self, proposal):
        role = proposal["value"].strip()
        if not role:
            raise TraitError("workspace_project_role is empty: name a ClusterRole, such as 'edit'.")
        return role

    # -- names ------------------------------------------------------------------

    @property
    def workspace_project_name(self) -> str:
        """The project's name: from state, else from the template."""
        if self._workspace_project_name is None:
            expanded = self._expand_user_properties(
                self.workspace_project_template, slug_scheme="safe"
            )
            self._workspace_project_name = project_name(expanded)
        return self._workspace_project_name

    @property
    def workspace_project_service_account(self) -> str:
        if self._workspace_project_sa is None:
            self._workspace_project_sa = notebook_service_account_name(self.workspace_project_name)
        return self._workspace_project_sa

    @property
    def _workspace_project_slug(self) -> str:
        return self._expand_user_properties("{safe_username}", slug_scheme="safe")

    @property
    def _workspace_project_token_secret(self) -> str:
        return f"{self.workspace_project_service_account}-token"

    # -- state -------------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        if self.workspace_project_enabled or self._workspace_project_name:
            state["workspace_project_name"] = self.workspace_project_name
            state["workspace_project_service_account"] = self.workspace_project_service_account
            if self._workspace_project_applied:
                state["workspace_project_applied"] = self._workspace_project_applied
                state["workspace_project_kinds"] = list(self._workspace_project_kinds or [])
            if self._workspace_project_api_kind:
                state["workspace_project_api"] = self._workspace_project_api_kind
        return state

    def load_state(self, state):
        super().load_state(state)
        self._workspace_project_name = state.get(
            "workspace_project_name", self._workspace_project_name
        )
        self._workspace_project_sa = state.get(
            "workspace_project_service_account", self._workspace_project_sa
        )
        self._workspace_project_applied = state.get("workspace_project_applied")
        kinds = state.get("workspace_project_kinds")
        self._workspace_project_kinds = list(kinds) if kinds is not None else None
        self._workspace_project_api_kind = state.get("workspace_project_api")

    # clear_state keeps the names and the hash: the project outlives the server,
    # like kubespawner's pvc_name

    # -- API clients ------------------------------------------------------------------

    @property
    def _core(self):
        return self.api

    @property
    def _rbac(self):
        return shared_client("RbacAuthorizationV1Api")

    @property
    def _networking(self):
        return shared_client("NetworkingV1Api")

    @property
    def _custom(self):
        return shared_client("CustomObjectsApi")

    async def _api_call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """One API request, retried with backoff on timeouts and transient errors.

        Waits 0.2s, 0.4s, ... up to 5s between attempts, for at most
        ``k8s_api_request_retry_timeout`` (like KubeSpawner's own requests).
        """
        deadline = time.monotonic() + self.k8s_api_request_retry_timeout
        wait = 0.2
        while True:
            try:
                return await asyncio.wait_for(make(), self.k8s_api_request_timeout)
            except asyncio.TimeoutError as e:
                error: Exception = e
                message = f"{what}: no answer within {self.k8s_api_request_timeout}s"
            except KubeError as e:
                if e.status not in _TRANSIENT:
                    raise
                error, message = e, str(e)
            if time.monotonic() + wait > deadline:
                raise KubeError(
                    f"{message} (gave up after {self.k8s_api_request_retry_timeout}s)"
                ) from error
            self.log.warning("Retrying in %.1fs: %s", wait, message)
            await asyncio.sleep(wait * (0.5 + random.random() / 2))
            wait = min(wait * 2, 5)

    async def _workspace_project_openshift(self) -> bool:
        if self.workspace_project_api != "auto":
            return self.workspace_project_api == "openshift"
        if self._workspace_project_api_kind:
            return self._workspace_project_api_kind == "openshift"
        host = self.api.api_client.configuration.host
        cache = ProjectMixin._workspace_project_openshift_by_host
        if host not in cache:
            apis = shared_client("ApisApi")
            cache[host] = await self._api_call(
                "detect OpenShift", lambda: kube_projects.detect_openshift(apis=apis)
            )
        return cache[host]

    # -- the step --------------------------------------------------------------------

    async def ensure_workspace_project(self) -> None:
        """Create or check the user's project, its quota, limits and access."""
        if not self.workspace_project_enabled:
            return
        name = self.workspace_project_name
        openshift = await self._workspace_project_openshift()
        self._workspace_project_api_kind = "openshift" if openshift else "kubernetes"

        namespace = await self._wait_until_not_terminating(name)
        created = False
        if namespace is None:
            if self.workspace_project_mode == "existing":
                raise KubeError(
                    f"Project {name} does not exist. workspace_project_mode is 'existing': an admin must "
                    f"create the {'project' if openshift else 'namespace'} {name} (with its quota, limit "
                    f"range and access) before {self.user.name} can start a server."
                )
            namespace = await self._create_project(name, openshift=openshift)
            created = True
        elif self.workspace_project_mode == "create":
            namespace = await self._check_owner(namespace, openshift=openshift)
        if not openshift and self.workspace_project_mode == "create":
            await self._apply_pod_security(namespace)

        token = await self._workspace_project_user_token() if self._uses_user_token else None
        user_subject = await self._workspace_project_user_subject(openshift=openshift)
        if not self._uses_user_token:
            self._workspace_project_pull_secrets = await self._inherited_pull_secrets()
        desired = self._workspace_project_desired(token=token, user_subject=user_subject)
        applied = manifests.applied_hash([desired[k] for k in sorted(desired)])
        if not created and applied == self._workspace_project_applied:
            self.emit_progress(f"Using project {name}")
            return
        await self._reconcile(name, desired, fresh=created)
        self._workspace_project_applied = applied
        self._workspace_project_kinds = sorted(k for k, v in desired.items() if v is not None)

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
        await self._api_call(
            f"patch namespaces {name}",
            lambda: kube_projects.patch_namespace(core=self._core, name=name, patch=patch),
        )

    async def _wait_until_not_terminating(self, name: str) -> dict[str, Any] | None:
        """Read the namespace; while it is being deleted, wait (up to ``start_timeout``)."""
        deadline = time.monotonic() + self.start_timeout
        wait = 1.0
        told = False
        while True:
            namespace = await self._api_call(
                f"get namespaces {name}",
                lambda: kube_projects.read_namespace(core=self._core, name=name),
            )
            if namespace is None or not manifests.is_terminating(namespace):
                return namespace
            message = f"Project {name} is being deleted, try again shortly"
            if time.monotonic() + wait > deadline:
                raise KubeError(f"{message} (still deleting after {self.start_timeout}s).")
            if not told:
                self.emit_progress(f"{message}: waiting for the deletion to finish")
                told = True
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5)

    async def _create_project(self, name: str, *, openshift: bool) -> dict[str, Any]:
        self.emit_progress(f"Creating project {name}")
        slug, username = self._workspace_project_slug, self.user.name
        if openshift:
            body = manifests.make_project_request(name=name, username=username)
            project = await self._api_call(
                f"create projectrequest {name}",
                lambda: kube_projects.create_project_request(custom=self._custom, body=body),
            )
            if project is not None:
                requester = manifests.requester_of(project)
                if requester:
                    ProjectMixin._workspace_project_hub_users.add(requester)
            else:
                # made by someone else in the meantime: the owner check decides
                namespace = await self._api_call(
                    f"get namespaces {name}",
                    lambda: kube_projects.read_namespace(core=self._core, name=name),
                )
                if namespace is None:
                    raise KubeError(f"Project {name} exists but its namespace cannot be read.")
                return await self._check_owner(namespace, openshift=True)
            # OpenShift copies no labels from a ProjectRequest
            # (https://github.com/openshift/origin/issues/3819): label the Namespace
            patch = manifests.make_owner_patch(slug=slug, username=username)
            return await self._api_call(
                f"patch namespaces {name}",
                lambda: kube_projects.patch_namespace(core=self._core, name=name, patch=patch),
            )
        body = manifests.make_namespace(
            name=name,
            slug=slug,
            username=username,
            extra_labels=security.pod_security_labels(dict(self.workspace_project_pod_security)),
        )
        namespace = await self._api_call(
            f"create namespaces {name}",
            lambda: kube_projects.create_namespace(core=self._core, body=body),
        )
        if namespace is None:
            namespace = await self._api_call(
                f"get namespaces {name}",
                lambda: kube_projects.read_namespace(core=self._core, name=name),
            )
            if namespace is None:
                raise KubeError(
                    f"Namespace {name} was deleted while it was being created: try again."
                )
            return await self._check_owner(namespace, openshift=False)
        return namespace

    async def _check_owner(self, namespace: dict[str, Any], *, openshift: bool) -> dict[str, Any]:
        """Refuse a namespace not made by workspace-spawner for this user (``create`` mode)."""
        name = namespace["metadata"]["name"]
        slug, username = self._workspace_project_slug, self.user.name
        if manifests.is_owned_by(namespace, slug=slug, username=username):
            return namespace
        owner_slug, _ = manifests.owner_of(namespace)
        if openshift and owner_slug is None and await self._made_by_hub(namespace):
            # our own ProjectRequest whose labelling was interrupted: finish it
            patch = manifests.make_owner_patch(slug=slug, username=username)
            return await self._api_call(
                f"patch namespaces {name}",
                lambda: kube_projects.patch_namespace(core=self._core, name=name, patch=patch),
            )
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
        if requester in ProjectMixin._workspace_project_hub_users:
            return True
        # after a hub restart: ask the API server who the hub is. The pods' namespace
        # (self.namespace) need not be the hub's own, so it cannot tell.
        me = await self._api_call(
            "create selfsubjectreviews",
            lambda: kube_projects.own_user_name(
                authentication=shared_client("AuthenticationV1Api")
            ),
        )
        if me is not None:
            ProjectMixin._workspace_project_hub_users.add(me)
            return requester == me
        # no SelfSubjectReview (before Kubernetes 1.28): a service account of the pods'
        # namespace that is not one of the notebooks' accounts (those may not request
        # projects), right when the hub runs beside its users' pods, as in z2jh
        prefix = f"system:serviceaccount:{self.namespace}:"
        return requester.startswith(prefix) and not requester[len(prefix) :].startswith(
            notebook_service_account_name("")
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
        cache = ProjectMixin._workspace_project_pull_secrets_by_account
        if key in cache:
            return cache[key]
        try:
            account = await self._api_call(
                f"get serviceaccounts {name}",
                lambda: kube_projects.read_service_account(
                    core=self._core, namespace=self.namespace, name=name
                ),
            )
        except KubeError as e:
            if e.status != 403:
                raise
            self.log.warning("Not copying the pull secrets of service account %s: %s", name, e)
            return []
        secrets = (account or {}).get("imagePullSecrets") or []
        cache[key] = [s["name"] for s in secrets if s.get("name")]
        return cache[key]

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

    def _workspace_project_desired(
        self, *, token: str | None, user_subject: str
    ) -> dict[str, dict[str, Any] | None]:
        """Every object the project feature wants, None for those it wants gone."""
        name, hub_ns = self.workspace_project_name, self.namespace
        slug, username = self._workspace_project_slug, self.user.name
        sa = None if self._uses_user_token else self.workspace_project_service_account
        return {
            "ServiceAccount": (
                manifests.make_service_account(
                    name=sa, namespace=hub_ns, slug=slug, username=username
                )
                if sa
                else None
            ),
            "Secret": (
                manifests.make_token_secret(
                    name=self._workspace_project_token_secret,
                    namespace=hub_ns,
                    token=token,
                    slug=slug,
                    username=username,
                )
                if token
                else None
            ),
            "RoleBinding": manifests.make_role_binding(
                namespace=name,
                role=self.workspace_project_role,
                users=[user_subject] if user_subject else [],
                groups=list(self.workspace_project_groups),
                service_accounts=[(hub_ns, sa)] if sa else [],
                slug=slug,
                username=username,
            ),
            "ResourceQuota": (
                manifests.make_resource_quota(
                    namespace=name,
                    hard=dict(self.workspace_project_quota),
                    slug=slug,
                    username=username,
                )
                if self.workspace_project_quota
                else None
            ),
            "LimitRange": (
                manifests.make_limit_range(
                    namespace=name,
                    limits=list(self.workspace_project_limit_range),
                    slug=slug,
                    username=username,
                )
                if self.workspace_project_limit_range
                else None
            ),
            "NetworkPolicy": (
                security.make_network_policy(
                    namespace=name,
                    hub_namespace=hub_ns,
                    user_label=self._build_common_labels({})[USERNAME_LABEL],
                    slug=slug,
                    username=username,
                )
                if self.workspace_project_network_policy
                else None
            ),
        }

    async def _reconcile(
        self, name: str, desired: dict[str, dict[str, Any] | None], *, fresh: bool
    ) -> None:
        """Apply what is wanted; delete what is no longer wanted and may be there."""
        core, rbac = self._core, self._rbac
        steps = {
            "ServiceAccount": f"Creating service account {self.workspace_project_service_account}",
            "Secret": "Storing your access token for the command line tools",
            "RoleBinding": (f"Granting {self.user.name} {self.workspace_project_role} in {name}"),
            "ResourceQuota": f"Applying quota to {name}",
            "LimitRange": f"Applying limit range to {name}",
            "NetworkPolicy": f"Isolating {name} on the network",
        }
        previous = self._workspace_project_kinds
        # in 'existing' mode an admin may have made the binding by hand: it is kept
        keep_unmanaged = {"RoleBinding"} if self.workspace_project_mode == "existing" else set()
        for kind in steps:
            body = desired[kind]
            if body is not None:
                self.emit_progress(steps[kind])
                result = await self._api_call(
                    f"apply {kind}",
                    lambda body=body, kind=kind: kube_projects.apply_object(
                        core=core,
                        rbac=rbac,
                        networking=self._networking,
                        body=body,
                        keep_unmanaged=kind in keep_unmanaged,
                    ),
                )
                if not kube_projects.is_managed(result):
                    self.log.warning(
                        "Keeping %s %s in %s: an admin made it",
                        kind,
                        body["metadata"]["name"],
                        name,
                    )
                    self.emit_progress(f"Keeping the {kind} an admin made in {name}")
                continue
            # remove what an earlier start applied; in a project made just now, or
            # when the state says it was never applied, there is nothing to remove
            if (fresh and kind not in ("ServiceAccount", "Secret")) or (
                previous is not None and kind not in previous
            ):
                continue
            obj_name, ns = self._workspace_project_object_name(kind, name)
            self.log.info("Removing %s %s in %s: no longer configured", kind, obj_name, ns)
            await self._api_call(
                f"delete {kind}",
                lambda kind=kind, obj_name=obj_name, ns=ns: kube_projects.delete_object(
                    core=core,
                    rbac=rbac,
                    networking=self._networking,
                    kind=kind,
                    name=obj_name,
                    namespace=ns,
                ),
            )

    def _workspace_project_object_name(self, kind: str, project: str) -> tuple[str, str]:
        return {
            "ServiceAccount": (self.workspace_project_service_account, self.namespace),
            "Secret": (self._workspace_project_token_secret, self.namespace),
            "RoleBinding": (manifests.ROLE_BINDING_NAME, project),
            "ResourceQuota": (manifests.QUOTA_NAME, project),
            "LimitRange": (manifests.LIMIT_RANGE_NAME, project),
            "NetworkPolicy": (security.NETWORK_POLICY_NAME, project),
        }[kind]

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
        namespace = await self._api_call(
            f"get namespaces {name}",
            lambda: kube_projects.read_namespace(core=self._core, name=name),
        )
        core, rbac = self._core, self._rbac
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
            await self._api_call(
                f"delete project {name}",
                lambda: kube_projects.delete_project(
                    core=core, custom=self._custom, name=name, openshift=openshift
                ),
            )
        for kind in ("ServiceAccount", "Secret"):
            obj_name, ns = self._workspace_project_object_name(kind, name)
            await self._api_call(
                f"delete {kind}",
                lambda kind=kind, obj_name=obj_name, ns=ns: kube_projects.delete_object(
                    core=core, rbac=rbac, kind=kind, name=obj_name, namespace=ns
                ),
            )
        self._workspace_project_applied = None
        self._workspace_project_kinds = None
