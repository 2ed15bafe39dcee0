"""The project feature's settings and saved state: every trait of the room, and its names.

One shape in every feature room: the traits (this module), the steps
(:mod:`.namespace`, :mod:`.mixin`), the pure builders (:mod:`.manifests`,
:mod:`.security`, :mod:`.names`). Per-instance state is held in traits without
``config=True``; what is derived (the names, what the last start applied) is saved
in :meth:`ProjectTraits.get_state`, so a changed template or config never moves a
user's existing project.
"""

from __future__ import annotations

from traitlets import Bool, Dict, Enum, HasTraits, List, TraitError, Unicode, validate

from . import security
from .names import (
    PER_SERVER_FIELDS,
    PER_USER_FIELDS,
    notebook_service_account_name,
    project_name,
    template_fields,
)


class ProjectTraits(HasTraits):
    """The ``workspace_project_*`` settings (docs/admin/projects.md) and the room's saved state."""

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
