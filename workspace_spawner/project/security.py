"""Pure builders of a user project's isolation: Pod Security labels and a NetworkPolicy.

- Pod Security admission reads three labels on the Namespace
  (https://kubernetes.io/docs/concepts/security/pod-security-admission/#pod-security-admission-labels-for-namespaces):
  ``enforce`` rejects pods above the level, ``warn`` and ``audit`` only report them.
  Without them the cluster's default applies, which is ``privileged`` unless the admin
  configured the admission plugin: then anyone with ``edit`` in the project can run a
  ``hostPID``/``hostPath: /`` pod, i.e. be root on the node.
- On OpenShift the labels are OpenShift's: its label syncer sets them from the SCCs the
  namespace's service accounts may use
  (https://docs.openshift.com/container-platform/latest/authentication/understanding-and-managing-pod-security-admission.html),
  and SCCs (``restricted-v2`` by default) already stop such pods, so workspace-spawner
  leaves them alone there.
- The NetworkPolicy
  (https://kubernetes.io/docs/concepts/services-networking/network-policies/) selects
  every pod of the project: ingress only from the project itself and from the user's own
  notebook pods (in the hub's namespace); egress anywhere but the cloud metadata endpoint,
  which hands out the node's cloud credentials.
"""

from __future__ import annotations

from typing import Any

from ..constants import USERNAME_LABEL
from .manifests import _metadata

__all__ = [
    "POD_SECURITY_MODES",
    "POD_SECURITY_LEVELS",
    "NETWORK_POLICY_NAME",
    "METADATA_ENDPOINT",
    "pod_security_labels",
    "pod_security_patch",
    "make_network_policy",
]

POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"
POD_SECURITY_MODES = ("enforce", "warn", "audit")
POD_SECURITY_LEVELS = ("baseline", "restricted")
NETWORK_POLICY_NAME = "workspace-isolation"
# AWS, GCP, Azure and OpenStack all serve instance credentials here
METADATA_ENDPOINT = "169.254.169.254/32"
# kubespawner's label on notebook pods (kubespawner/spawner.py, _build_pod_labels)
NOTEBOOK_COMPONENT = "singleuser-server"


def pod_security_labels(levels: dict[str, str]) -> dict[str, str]:
    """The Namespace labels for ``{"enforce": "baseline", "warn": "restricted", ...}``.

    Each mode also gets ``-version: latest``, so the rules follow the cluster's version.
    """
    labels: dict[str, str] = {}
    for mode in POD_SECURITY_MODES:
        if mode in levels:
            labels[f"{POD_SECURITY_PREFIX}{mode}"] = levels[mode]
            labels[f"{POD_SECURITY_PREFIX}{mode}-version"] = "latest"
    return labels


def pod_security_patch(namespace: dict[str, Any], levels: dict[str, str]) -> dict[str, Any] | None:
    """A merge patch bringing ``namespace``'s Pod Security labels in line; None if they are."""
    current = (namespace.get("metadata") or {}).get("labels") or {}
    wanted = pod_security_labels(levels)
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    return {"metadata": {"labels": changed}} if changed else None


def make_network_policy(
    *, namespace: str, hub_namespace: str, user_label: str, slug: str, username: str
) -> dict[str, Any]:
    """The project's default NetworkPolicy (``workspace_project_network_policy``).

    ``user_label``: the ``hub.jupyter.org/username`` label of the user's notebook pods.
    Egress is open (DNS, the API server, the internet) except the metadata endpoint;
    ``ipBlock`` may or may not match in-cluster pod IPs depending on the network plugin,
    so in-cluster destinations are allowed by a namespace selector as well.
    """
    meta = _metadata(name=NETWORK_POLICY_NAME, namespace=namespace, slug=slug, username=username)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {}},
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": hub_namespace}
                            },
                            "podSelector": {
                                "matchLabels": {
                                    "component": NOTEBOOK_COMPONENT,
                                    USERNAME_LABEL: user_label,
                                }
                            },
                        },
                    ]
                }
            ],
            "egress": [
                {
                    "to": [
                        {"namespaceSelector": {}},
                        {"ipBlock": {"cidr": "0.0.0.0/0", "except": [METADATA_ENDPOINT]}},
                        {"ipBlock": {"cidr": "::/0"}},
                    ]
                }
            ],
        },
    }
