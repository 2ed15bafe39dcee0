"""helm-values/workspace-admission-policy.yaml decides as the API server would (issue 11).

The policy's CEL is evaluated with cel-python the way the API server evaluates a
ValidatingAdmissionPolicy
(https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/):
the request must match a resource rule and every match condition; then the variables,
then the validations in order, the first false one denying with its message. The real
API server's verdicts, CEL type checks included, are the real_cluster tests'
(tests/integration/test_security_real_cluster.py); this table runs everywhere, fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

POLICY_FILE = (
    Path(__file__).resolve().parents[2] / "helm-values" / "workspace-admission-policy.yaml"
)
HUB = "system:serviceaccount:jupyterhub:hub"
MANAGED = {"app.kubernetes.io/managed-by": "workspace-spawner", "hub.jupyter.org/username": "alice"}
GROUPS = {"rolebindings": "rbac.authorization.k8s.io", "networkpolicies": "networking.k8s.io"}


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(POLICY_FILE.read_text()) if d]


POLICY = _documents()[0]
_ENV = celpy.Environment()


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    return _ENV.program(_ENV.compile(expression)).evaluate(activation)


def admit(
    *,
    user: str,
    operation: str,
    resource: str,
    name: str,
    namespace: str = "",
    obj: dict | None = None,
    old: dict | None = None,
    namespace_object: dict | None = None,
) -> str | None:
    """None when the policy lets the request through, else the denial message."""
    group = GROUPS.get(resource, "")
    spec = POLICY["spec"]
    if not any(
        group in r["apiGroups"] and resource in r["resources"] and operation in r["operations"]
        for r in spec["matchConstraints"]["resourceRules"]
    ):
        return None
    request = {
        "userInfo": {"username": user},
        "operation": operation,
        "name": name,
        "namespace": namespace,
        "resource": {"group": group, "version": "v1", "resource": resource},
    }
    activation: dict[str, Any] = {
        "request": celpy.json_to_cel(request),
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
        "namespaceObject": celpy.json_to_cel(namespace_object),
    }
    if not all(_evaluate(c["expression"], activation) for c in spec["matchConditions"]):
        return None
    variables: dict[Any, Any] = {}
    for variable in spec["variables"]:
        activation["variables"] = celpy.celtypes.MapType(variables)
        variables[celpy.celtypes.StringType(variable["name"])] = _evaluate(
            variable["expression"], activation
        )
    activation["variables"] = celpy.celtypes.MapType(variables)
    for validation in spec["validations"]:
        if not _evaluate(validation["expression"], activation):
            return str(_evaluate(validation["messageExpression"], activation))
    return None


def ns(name: str, labels: dict | None = None, annotations: dict | None = None) -> dict:
    meta: dict[str, Any] = {"name": name}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def namespaced(resource: str, namespace: dict, operation: str = "CREATE") -> dict:
    name = namespace["metadata"]["name"]
    body = {"metadata": {"name": "x", "namespace": name}}
    return dict(
        resource=resource,
        name="x",
        namespace=name,
        operation=operation,
        namespace_object=namespace,
        obj=None if operation == "DELETE" else body,
        old=None if operation == "CREATE" else body,
    )


KUBE_SYSTEM = ns("kube-system", {"kubernetes.io/metadata.name": "kube-system"})
ALICE = ns("alice-workspace", {**MANAGED, "pod-security.kubernetes.io/enforce": "baseline"})
UNMANAGED = "which is not labelled app.kubernetes.io/managed-by=workspace-spawner"
RELAX = "may not set labels that relax the security of namespace alice-workspace"


def labelled(namespace: dict, changes: dict[str, str | None]) -> dict:
    labels = dict(namespace["metadata"].get("labels") or {})
    for key, value in changes.items():
        if value is None:
            labels.pop(key, None)
        else:
            labels[key] = value
    return ns(namespace["metadata"]["name"], labels, namespace["metadata"].get("annotations"))


DENIED_NAMESPACED = [
    (resource, operation)
    for resource in (
        "rolebindings",
        "resourcequotas",
        "limitranges",
        "serviceaccounts",
        "networkpolicies",
    )
    for operation in ("CREATE", "UPDATE", "DELETE")
]


@pytest.mark.parametrize("resource, operation", DENIED_NAMESPACED)
def test_no_write_outside_managed_namespaces(resource, operation):
    message = admit(user=HUB, **namespaced(resource, KUBE_SYSTEM, operation))
    assert message == (
        f"workspace-spawner: the hub may not write {resource} in namespace kube-system, {UNMANAGED}"
    )
    assert admit(user=HUB, **namespaced(resource, ALICE, operation)) is None


def test_service_accounts_in_the_hubs_own_namespace():
    hub_ns = ns("jupyterhub", {"kubernetes.io/metadata.name": "jupyterhub"})
    assert admit(user=HUB, **namespaced("serviceaccounts", hub_ns, "UPDATE")) is None
    assert admit(user=HUB, **namespaced("rolebindings", hub_ns)) is not None


@pytest.mark.parametrize(
    "operation, obj, old, denied",
    [
        # the hub makes and labels its own projects
        (
            "CREATE",
            ns("bob-workspace", {**MANAGED, "pod-security.kubernetes.io/enforce": "baseline"}),
            None,
            None,
        ),
        ("UPDATE", labelled(ALICE, {"pod-security.kubernetes.io/warn": "restricted"}), ALICE, None),
        ("DELETE", None, ALICE, None),
        # OpenShift: the namespace of the hub's own ProjectRequest, labelled afterwards
        (
            "UPDATE",
            ns("bob-workspace", MANAGED, {"openshift.io/requester": HUB}),
            ns("bob-workspace", {}, {"openshift.io/requester": HUB}),
            None,
        ),
        # a label OpenShift's syncer set to privileged stays when the hub labels the namespace
        (
            "UPDATE",
            labelled(
                ALICE,
                {
                    "pod-security.kubernetes.io/audit": "privileged",
                    "hub.jupyter.org/username": "alice2",
                },
            ),
            labelled(ALICE, {"pod-security.kubernetes.io/audit": "privileged"}),
            None,
        ),
        # namespaces it does not manage
        (
            "UPDATE",
            labelled(KUBE_SYSTEM, {"x": "y"}),
            KUBE_SYSTEM,
            f"the hub may not UPDATE namespace kube-system, {UNMANAGED}",
        ),
        (
            "UPDATE",
            labelled(KUBE_SYSTEM, {"app.kubernetes.io/managed-by": "workspace-spawner"}),
            KUBE_SYSTEM,
            f"the hub may not UPDATE namespace kube-system, {UNMANAGED}",
        ),
        ("DELETE", None, KUBE_SYSTEM, f"the hub may not DELETE namespace kube-system, {UNMANAGED}"),
        (
            "UPDATE",
            ns("bob-workspace", MANAGED, {"openshift.io/requester": "mallory"}),
            ns("bob-workspace", {}, {"openshift.io/requester": "mallory"}),
            f"the hub may not UPDATE namespace bob-workspace, {UNMANAGED}",
        ),
        (
            "CREATE",
            ns("bob-workspace", {}),
            None,
            "namespace bob-workspace must keep the label app.kubernetes.io/managed-by",
        ),
        (
            "UPDATE",
            labelled(ALICE, {"app.kubernetes.io/managed-by": None}),
            ALICE,
            "namespace alice-workspace must keep the label app.kubernetes.io/managed-by",
        ),
        # labels that relax security
        (
            "UPDATE",
            labelled(ALICE, {"pod-security.kubernetes.io/enforce": "privileged"}),
            ALICE,
            RELAX,
        ),
        (
            "UPDATE",
            labelled(ALICE, {"pod-security.kubernetes.io/warn": "privileged"}),
            ALICE,
            RELAX,
        ),
        ("UPDATE", labelled(ALICE, {"openshift.io/run-level": "0"}), ALICE, RELAX),
        (
            "UPDATE",
            labelled(ALICE, {"security.openshift.io/scc.podSecurityLabelSync": "false"}),
            ALICE,
            RELAX,
        ),
        (
            "CREATE",
            ns("bob-workspace", {**MANAGED, "pod-security.kubernetes.io/enforce": "privileged"}),
            None,
            RELAX.replace("alice", "bob"),
        ),
        (
            "UPDATE",
            labelled(ALICE, {"pod-security.kubernetes.io/enforce": None}),
            ALICE,
            "the hub may not remove the Pod Security level of namespace alice-workspace",
        ),
    ],
)
def test_namespace_writes(operation, obj, old, denied):
    name = (obj or old)["metadata"]["name"]
    message = admit(
        user=HUB, operation=operation, resource="namespaces", name=name, obj=obj, old=old
    )
    if denied is None:
        assert message is None
    else:
        assert message is not None and denied in message
        assert message.startswith("workspace-spawner: ")


def test_only_the_hub_is_judged():
    assert (
        admit(
            user="kubernetes-admin",
            operation="DELETE",
            resource="namespaces",
            name="kube-system",
            old=KUBE_SYSTEM,
        )
        is None
    )
    assert (
        admit(
            user="system:serviceaccount:jupyterhub:other", **namespaced("rolebindings", KUBE_SYSTEM)
        )
        is None
    )


def test_the_binding_denies_and_names_the_policy():
    binding = _documents()[1]
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"] == {
        "policyName": POLICY["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    assert POLICY["spec"]["failurePolicy"] == "Fail"
