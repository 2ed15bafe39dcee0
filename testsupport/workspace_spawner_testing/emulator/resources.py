"""The registry of kinds the emulator serves: adding a kind is one line in KINDS.

Discovery (/api, /apis) and the URL router are built from this table.
https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris
"""

from __future__ import annotations

from dataclasses import dataclass, field

# field selectors every kind supports
# https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
_META_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    # "label": DNS-1123 label (63 chars); "subdomain": DNS-1123 subdomain (253 chars)
    name_rule: str = "subdomain"
    subresources: tuple[str, ...] = ()
    field_labels: tuple[str, ...] = ()
    openshift: bool = False
    # the VolumeSnapshot CRDs (external-snapshotter), served unless switched off
    snapshots: bool = False
    # kinds without a published schema are validated by hand (OpenShift's)
    schema: bool = True
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    short_names: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The store key: plural.group, as RBAC and `kubectl api-resources` name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def supports_field(self, name: str) -> bool:
        return name in _META_FIELDS or name in self.field_labels


def field_value(obj: dict, path: str) -> str:
    """The value a field selector compares: the field at ``path``, "" when absent.

    As the API server's selectable fields (``ToSelectableFields`` of each kind's
    strategy in k8s.io/kubernetes/pkg/registry): an Event's ``source`` is its source's
    component, or else its reporting controller, not the EventSource object.
    """
    if path == "source" and obj.get("kind") == "Event":
        return (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
    value: object = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    return "" if value is None else str(value)


@dataclass
class Target:
    """What a request's URL names: the kind, and the namespace, name and subresource if any."""

    kind: Kind
    namespace: str | None
    name: str | None
    subresource: str | None


_SNAPSHOT_GROUP = "snapshot.storage.k8s.io"

# the fields kube-apiserver selects Events by (k8s.io/kubernetes/pkg/registry/core/event/
# strategy.go, ToSelectableFields); any other involvedObject field is a 400 there too
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_PROJECT_VERBS = ("delete", "get", "list", "watch")

KINDS: tuple[Kind, ...] = (
    # core/v1
    Kind(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        subresources=("status", "log", "proxy"),
        field_labels=("status.phase", "spec.nodeName", "spec.serviceAccountName", "status.podIP"),
    ),
    Kind(
        "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, subresources=("status",)
    ),
    Kind(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        name_rule="label",
        subresources=("status",),
        field_labels=("status.phase",),
    ),
    Kind("", "v1", "secrets", "Secret", True, field_labels=("type",)),
    Kind("", "v1", "configmaps", "ConfigMap", True),
    Kind("", "v1", "services", "Service", True, name_rule="dns1035"),
    # serviceaccounts/token: TokenRequest, as the node agent asks for its pods' tokens
    Kind("", "v1", "serviceaccounts", "ServiceAccount", True, subresources=("token",)),
    # the node agent's Node and its heartbeat Lease (node.py)
    Kind("", "v1", "nodes", "Node", False, subresources=("status",)),
    Kind("coordination.k8s.io", "v1", "leases", "Lease", True),
    Kind("", "v1", "events", "Event", True, field_labels=_EVENT_FIELDS),
    Kind("", "v1", "resourcequotas", "ResourceQuota", True, subresources=("status",)),
    Kind("", "v1", "limitranges", "LimitRange", True),
    # rbac.authorization.k8s.io/v1
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    # networking.k8s.io/v1 (stored and served; the emulator has no network to enforce it)
    Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    # storage.k8s.io/v1
    Kind("storage.k8s.io", "v1", "storageclasses", "StorageClass", False),
    # authentication.k8s.io/v1: "who am I?", answered from the caller's token, never stored
    # https://kubernetes.io/docs/reference/access-authn-authz/authentication/#self-subject-review
    Kind(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
        False,
        schema=False,
        verbs=("create",),
    ),
    # OpenShift: a Project is a view of a Namespace; ProjectRequest is create-only
    # https://docs.openshift.com/container-platform/latest/rest_api/project_apis/project-project-openshift-io-v1.html
    Kind(
        "project.openshift.io",
        "v1",
        "projects",
        "Project",
        False,
        name_rule="label",
        openshift=True,
        schema=False,
        verbs=_PROJECT_VERBS,
    ),
    Kind(
        "project.openshift.io",
        "v1",
        "projectrequests",
        "ProjectRequest",
        False,
        name_rule="label",
        openshift=True,
        schema=False,
        verbs=("create", "list"),
    ),
    # snapshot.storage.k8s.io/v1: CRDs of kubernetes-csi/external-snapshotter, which a
    # cluster has only when installed; their controller is emulated in snapshots.py
    # https://kubernetes.io/docs/concepts/storage/volume-snapshots/
    Kind(
        _SNAPSHOT_GROUP,
        "v1",
        "volumesnapshots",
        "VolumeSnapshot",
        True,
        subresources=("status",),
        snapshots=True,
        schema=False,
    ),
    Kind(
        _SNAPSHOT_GROUP,
        "v1",
        "volumesnapshotcontents",
        "VolumeSnapshotContent",
        False,
        subresources=("status",),
        snapshots=True,
        schema=False,
    ),
    Kind(
        _SNAPSHOT_GROUP,
        "v1",
        "volumesnapshotclasses",
        "VolumeSnapshotClass",
        False,
        snapshots=True,
        schema=False,
    ),
    # https://docs.openshift.com/container-platform/latest/rest_api/security_apis/securitycontextconstraints-security-openshift-io-v1.html
    Kind(
        "security.openshift.io",
        "v1",
        "securitycontextconstraints",
        "SecurityContextConstraints",
        False,
        openshift=True,
        schema=False,
    ),
)


class Registry:
    """Look kinds up by URL parts, by Kind name or by plural, in one mode."""

    def __init__(self, *, openshift: bool, snapshots: bool = True) -> None:
        self.openshift = openshift
        self.snapshots = snapshots
        self.kinds = [
            k for k in KINDS if (openshift or not k.openshift) and (snapshots or not k.snapshots)
        ]
        self._by_path = {(k.group, k.version, k.plural): k for k in self.kinds}

    def by_path(self, group: str, version: str, plural: str) -> Kind | None:
        return self._by_path.get((group, version, plural))

    def lookup(self, name: str) -> Kind:
        """A Kind from "Pod", "pods", "pods.", "roles.rbac.authorization.k8s.io" or "pod"."""
        lowered = name.lower()
        for k in self.kinds:
            if lowered in (k.kind.lower(), k.plural, k.key, k.kind.lower() + "s"):
                return k
        raise KeyError(f"unknown kind {name!r}")

    def for_object(self, obj: dict) -> Kind:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        for k in self.kinds:
            if k.kind == kind and k.api_version == api_version:
                return k
        raise KeyError(f"unknown kind {api_version} {kind}")

    def groups(self) -> dict[str, list[Kind]]:
        """Kinds by group/version (the core group is "")."""
        out: dict[str, list[Kind]] = {}
        for k in self.kinds:
            out.setdefault(k.api_version, []).append(k)
        return out
