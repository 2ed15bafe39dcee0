"""Pure builders of the per-user project's objects: dicts in, dicts out.

The objects:

- the project: a Namespace on Kubernetes, a ProjectRequest on OpenShift
  (https://docs.openshift.com/container-platform/latest/rest_api/project_apis/projectrequest-project-openshift-io-v1.html),
  which OpenShift turns into a Namespace from its project template; it copies no
  labels, so the ownership labels are patched onto the Namespace afterwards;
- a ResourceQuota and a LimitRange in it
  (https://kubernetes.io/docs/concepts/policy/resource-quotas/,
  https://kubernetes.io/docs/concepts/policy/limit-range/);
- a RoleBinding in it giving the user, the groups and the notebook's
  ServiceAccount ``workspace_project_role``
  (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#rolebinding-and-clusterrolebinding);
- the notebook's ServiceAccount in the hub's namespace, and (``user-token``
  credentials) a Secret holding the user's OAuth token;
- what the pod gets: env, a kubeconfig written by the downward API from a pod
  annotation (https://kubernetes.io/docs/concepts/workloads/pods/downward-api/),
  the Secret volume.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..constants import (
    KUBECONFIG_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OPENSHIFT_REQUESTER_ANNOTATION,
    PROJECT_COMPONENT,
    RAW_USERNAME_ANNOTATION,
    USERNAME_LABEL,
)

QUOTA_NAME = "workspace-quota"
LIMIT_RANGE_NAME = "workspace-limits"
ROLE_BINDING_NAME = "workspace-access"

# where the pod finds what the project feature mounts
SA_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
USER_TOKEN_DIR = "/var/run/secrets/workspace-spawner/user-token"
KUBECONFIG_DIR = "/var/run/secrets/workspace-spawner/kubeconfig"
KUBECONFIG_VOLUME = "workspace-project-kubeconfig"
USER_TOKEN_VOLUME = "workspace-project-user-token"
# the API server as seen from a pod (https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/)
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"


def owner_labels(*, slug: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, USERNAME_LABEL: slug}


def owner_annotations(*, username: str) -> dict[str, str]:
    return {RAW_USERNAME_ANNOTATION: username}


def _metadata(
    *, name: str, slug: str, username: str, namespace: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {**owner_labels(slug=slug), "app.kubernetes.io/component": PROJECT_COMPONENT},
        "annotations": owner_annotations(username=username),
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def make_namespace(
    *, name: str, slug: str, username: str, extra_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The project's Namespace; ``extra_labels``: its Pod Security labels (project/security.py)."""
    meta = _metadata(name=name, slug=slug, username=username)
    meta["labels"].update(extra_labels or {})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def make_project_request(*, name: str, username: str) -> dict[str, Any]:
    """A ProjectRequest; OpenShift drops its labels, see :func:`make_owner_patch`."""
    return {
        "apiVersion": "project.openshift.io/v1",
        "kind": "ProjectRequest",
        "metadata": {"name": name},
        "displayName": f"{username}'s workspace",
        "description": f"Workloads of JupyterHub user {username}",
    }


def make_owner_patch(*, slug: str, username: str) -> dict[str, Any]:
    """A merge patch adding the ownership labels and annotation to a Namespace."""
    return {
        "metadata": {
            "labels": {**owner_labels(slug=slug), "app.kubernetes.io/component": PROJECT_COMPONENT},
            "annotations": owner_annotations(username=username),
        }
    }


def owner_of(namespace: dict[str, Any]) -> tuple[str | None, str | None]:
    """(username slug label, raw username annotation) of a namespace we manage, else (None, None)."""
    meta = namespace.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
        return None, None
    return labels.get(USERNAME_LABEL), (meta.get("annotations") or {}).get(RAW_USERNAME_ANNOTATION)


def describe_owner(namespace: dict[str, Any]) -> str:
    """Who a namespace is, for the message refusing it: "made by ... for bob", "requested by ..."."""
    slug, raw = owner_of(namespace)
    if slug is not None or raw is not None:
        return f"made by workspace-spawner for {raw or slug}"
    requester = requester_of(namespace)
    if requester:
        return f"an OpenShift project requested by {requester}"
    return "not made by workspace-spawner (no app.kubernetes.io/managed-by label)"


def is_owned_by(namespace: dict[str, Any], *, slug: str, username: str | None) -> bool:
    """True when ``namespace`` was made by workspace-spawner for this very user.

    The ownership labels name the user's slug; with ``username``, the raw-name
    annotation must name the user too (the spawner's check). ``None`` checks the
    labels alone, which is what ``workspace-admin delete-project`` documents.
    """
    owner_slug, owner_name = owner_of(namespace)
    return owner_slug == slug and (username is None or owner_name == username)


def requester_of(namespace: dict[str, Any]) -> str | None:
    return ((namespace.get("metadata") or {}).get("annotations") or {}).get(
        OPENSHIFT_REQUESTER_ANNOTATION
    )


def is_terminating(namespace: dict[str, Any]) -> bool:
    # https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/#working-with-namespaces
    return bool((namespace.get("metadata") or {}).get("deletionTimestamp")) or (
        (namespace.get("status") or {}).get("phase") == "Terminating"
    )


def make_resource_quota(
    *, namespace: str, hard: dict[str, Any], slug: str, username: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(name=QUOTA_NAME, namespace=namespace, slug=slug, username=username),
        "spec": {"hard": {k: str(v) for k, v in hard.items()}},
    }


def make_limit_range(
    *, namespace: str, limits: list[dict[str, Any]], slug: str, username: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(
            name=LIMIT_RANGE_NAME, namespace=namespace, slug=slug, username=username
        ),
        "spec": {"limits": limits},
    }


def make_role_binding(
    *,
    namespace: str,
    role: str,
    users: list[str],
    groups: list[str],
    service_accounts: list[tuple[str, str]],
    slug: str,
    username: str,
) -> dict[str, Any]:
    """One RoleBinding of the ClusterRole ``role`` for the user, the groups and the notebook's account."""
    api_group = "rbac.authorization.k8s.io"
    subjects: list[dict[str, Any]] = [
        {"kind": "User", "apiGroup": api_group, "name": u} for u in users
    ]
    subjects += [{"kind": "Group", "apiGroup": api_group, "name": g} for g in groups]
    subjects += [
        {"kind": "ServiceAccount", "name": name, "namespace": ns} for ns, name in service_accounts
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(
            name=ROLE_BINDING_NAME, namespace=namespace, slug=slug, username=username
        ),
        "roleRef": {"apiGroup": api_group, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def make_service_account(*, name: str, namespace: str, slug: str, username: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(name=name, namespace=namespace, slug=slug, username=username),
        # the notebook's kubectl/oc authenticate with this account's token
        # (https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/)
        "automountServiceAccountToken": True,
    }


def make_token_secret(
    *, name: str, namespace: str, token: str, slug: str, username: str
) -> dict[str, Any]:
    """The user's OAuth token as a Secret, mounted as a file (never an env var)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(name=name, namespace=namespace, slug=slug, username=username),
        "type": "Opaque",
        "stringData": {"token": token},
    }


def make_kubeconfig(*, namespace: str, token_file: str, server: str = IN_CLUSTER_SERVER) -> str:
    """A kubeconfig (JSON is valid YAML) whose context defaults to ``namespace``.

    It holds no secret: ``tokenFile`` points at the mounted token, which the
    kubelet refreshes (https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/).
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "in-cluster",
                "cluster": {"server": server, "certificate-authority": f"{KUBECONFIG_DIR}/ca.crt"},
            }
        ],
        "users": [{"name": "notebook", "user": {"tokenFile": token_file}}],
        "contexts": [
            {
                "name": namespace,
                "context": {"cluster": "in-cluster", "user": "notebook", "namespace": namespace},
            }
        ],
        "current-context": namespace,
    }
    return json.dumps(config, indent=2, sort_keys=True)


def pod_env(*, namespace: str) -> dict[str, str]:
    return {
        "PROJECT_NAMESPACE": namespace,
        # the quickstart's images read this one
        "OPENSHIFT_PROJECT": namespace,
        "KUBECONFIG": f"{KUBECONFIG_DIR}/config",
    }


def pod_volumes(*, token_secret: str | None) -> list[dict[str, Any]]:
    """The kubeconfig (from the pod's annotation) with the cluster's CA, and the user's token.

    The CA comes from the ``kube-root-ca.crt`` ConfigMap every namespace has
    (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#root-ca-certificate-configmap),
    so the kubeconfig works whichever token it uses.
    """
    volumes: list[dict[str, Any]] = [
        {
            "name": KUBECONFIG_VOLUME,
            "projected": {
                "sources": [
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "config",
                                    "fieldRef": {
                                        "fieldPath": f"metadata.annotations['{KUBECONFIG_ANNOTATION}']"
                                    },
                                }
                            ]
                        }
                    },
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                ]
            },
        }
    ]
    if token_secret:
        # 0444: the kubelet makes Secret files root-owned, group fsGroup when one
        # applies; without one (anyuid, fs_gid None) or under an arbitrary OpenShift
        # UID, only "other" bits reach the notebook user. The pod is the user's own,
        # so every process that can read the file is theirs.
        # https://kubernetes.io/docs/concepts/configuration/secret/#secret-files-permissions
        volumes.append(
            {
                "name": USER_TOKEN_VOLUME,
                "secret": {"secretName": token_secret, "defaultMode": 0o444},
            }
        )
    return volumes


def pod_volume_mounts(*, token_secret: str | None) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": KUBECONFIG_VOLUME, "mountPath": KUBECONFIG_DIR, "readOnly": True}
    ]
    if token_secret:
        mounts.append({"name": USER_TOKEN_VOLUME, "mountPath": USER_TOKEN_DIR, "readOnly": True})
    return mounts


def applied_hash(objects: list[dict[str, Any] | None]) -> str:
    """A stable hash of what the start applied, so an unchanged restart rewrites nothing."""
    canonical = json.dumps(objects, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
