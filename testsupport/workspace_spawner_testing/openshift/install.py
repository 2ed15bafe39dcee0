"""OpenShift's pieces on the real control plane: the project API, its RBAC, SCC grants.

``OpenShift.start(cp)`` runs :class:`.apiserver.OpenShiftServer` on loopback, behind
TLS with a CA of its own, and registers it:

- an ``APIService`` ``v1.project.openshift.io`` whose Service is an ExternalName to
  127.0.0.1 (the kube-apiserver's aggregator dials ``externalName:port`` when
  ``--enable-aggregator-routing`` is off: ``ResolveCluster`` in
  k8s.io/apiserver/pkg/util/proxy; it checks the serving certificate for the name
  ``<service>.<namespace>.svc``);
- the cluster roles OpenShift ships for projects: ``self-provisioner`` (bound to
  every authenticated user, as OpenShift's ``self-provisioners`` binding),
  ``basic-user``, and the project rules aggregated into ``admin`` and ``view``;
- the SCC roles ``system:openshift:scc:<name>``, whose ``use`` verb is what
  ``oc adm policy add-scc-to-user`` grants (:meth:`OpenShift.add_scc_to_user`).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import admission, apiserver, ranges
from .upstream import Upstream

NAMESPACE = "openshift-apiserver"
SERVICE = "api"
API_SERVICE = f"{apiserver.VERSION}.{apiserver.GROUP}"
RBAC = "rbac.authorization.k8s.io/v1"
SCC_GROUP = "security.openshift.io"
# the SCCs a pod may be admitted under, as OpenShift 4.11+ ships them
SCCS = ("restricted-v2", "nonroot-v2", "anyuid")


class ControlPlaneLike(Protocol):
    """What this needs of the harness' ``ControlPlane``."""

    url: str
    ca_file: Path
    directory: Path | None

    @property
    def admin_token(self) -> str: ...

    def apply(self, obj: dict) -> dict: ...

    def write_kubeconfig(self, path: str | Path, *, user: str = ...) -> Path: ...

    def request(self, method: str, path: str, body: dict | None = None) -> Any: ...


def _cluster_role(name: str, rules: list[dict], labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels or {}},
        "rules": rules,
    }


def _binding(
    kind: str, name: str, role: str, subjects: list[dict], *, namespace: str | None = None
) -> dict:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


AUTHENTICATED = [
    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": apiserver.PASS_THROUGH_GROUP}
]
PROJECTS = {"apiGroups": [apiserver.GROUP], "resources": ["projects"]}


def rbac_objects() -> list[dict]:
    """OpenShift's project and SCC roles (oc get clusterrole <name> -o yaml on 4.x)."""
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    objects = [
        _cluster_role(
            "self-provisioner",
            [
                {
                    "apiGroups": [apiserver.GROUP],
                    "resources": ["projectrequests"],
                    "verbs": ["create"],
                }
            ],
        ),
        _binding("ClusterRoleBinding", "self-provisioners", "self-provisioner", AUTHENTICATED),
        _cluster_role(
            "basic-user",
            [
                {**PROJECTS, "verbs": ["list", "watch"]},
                {
                    "apiGroups": [apiserver.GROUP],
                    "resources": ["projectrequests"],
                    "verbs": ["list"],
                },
            ],
        ),
        _binding("ClusterRoleBinding", "basic-users", "basic-user", AUTHENTICATED),
        # On OpenShift the kube-apiserver authorizes "get project X" as a request in
        # namespace X; a plain one sees a cluster-scoped request, so it needs a
        # cluster-wide grant to pass it on. The aggregated server makes the real,
        # per-project check (apiserver.ProjectAPI._require).
        _cluster_role(
            "workspace-spawner-testing:projects-pass-through",
            [{**PROJECTS, "verbs": ["get", "delete", "patch", "update"]}],
        ),
        _binding(
            "ClusterRoleBinding",
            "workspace-spawner-testing:projects-pass-through",
            "workspace-spawner-testing:projects-pass-through",
            AUTHENTICATED,
        ),
        _cluster_role(
            "system:openshift:aggregate-to-admin",
            [{**PROJECTS, "verbs": ["delete", "get", "patch", "update"]}],
            {f"{aggregate}admin": "true"},
        ),
        _cluster_role(
            "system:openshift:aggregate-to-view",
            [{**PROJECTS, "verbs": ["get"]}],
            {f"{aggregate}view": "true"},
        ),
    ]
    for scc in SCCS:
        objects.append(
            _cluster_role(
                f"system:openshift:scc:{scc}",
                [
                    {
                        "apiGroups": [SCC_GROUP],
                        "resources": ["securitycontextconstraints"],
                        "resourceNames": [scc],
                        "verbs": ["use"],
                    }
                ],
            )
        )
    # every authenticated user and ServiceAccount may use restricted-v2 (OpenShift 4.11+)
    objects.append(
        _binding(
            "ClusterRoleBinding",
            "system:openshift:scc:restricted-v2",
            "system:openshift:scc:restricted-v2",
            AUTHENTICATED,
        )
    )
    return objects


@dataclass
class OpenShift:
    """The OpenShift layer of one control plane; ``stop()`` ends its server."""

    cp: ControlPlaneLike
    server: apiserver.OpenShiftServer
    ca_bundle: bytes
    started_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        cp: ControlPlaneLike,
        *,
        scc: bool = True,
        allowed_names: tuple[str, ...] = ("front-proxy-client",),
        timeout: float = 60.0,
    ) -> OpenShift:
        from ..controlplane import pki

        began = time.monotonic()
        assert cp.directory is not None
        directory = cp.directory / "pki" / "openshift"
        directory.mkdir(parents=True, exist_ok=True)
        ca = pki.make_ca(
            directory=directory,
            name="openshift-ca",
            common_name="workspace-spawner-testbed-openshift-ca",
        )
        serving = pki.issue(
            ca=ca,
            directory=directory,
            name="openshift-apiserver",
            common_name=f"{SERVICE}.{NAMESPACE}.svc",
            server=True,
            dns_names=(f"{SERVICE}.{NAMESPACE}.svc", "localhost"),
            ips=("127.0.0.1",),
        )
        upstream = Upstream(cp.url, cp.ca_file, cp.admin_token)
        server = apiserver.OpenShiftServer(
            upstream=upstream,
            cert=serving.cert,
            key=serving.key,
            client_ca=cp.directory / "pki" / "front-proxy-ca.crt",
            allowed_names=allowed_names,
            scc=scc,
        ).start_in_thread()
        layer = cls(cp, server, ca.cert.read_bytes())
        try:
            layer._register(timeout=timeout)
            if scc:
                layer._register_scc()
        except BaseException:
            server.stop_thread()
            raise
        layer.started_seconds = time.monotonic() - began
        return layer

    def stop(self) -> None:
        self.server.stop_thread()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    @property
    def ca_bundle_b64(self) -> str:
        return base64.b64encode(self.ca_bundle).decode()

    def _register(self, *, timeout: float) -> None:
        cp = self.cp
        cp.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        cp.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "127.0.0.1",
                    "ports": [{"name": "https", "port": self.server.port}],
                },
            }
        )
        for obj in rbac_objects():
            cp.apply(obj)
        cp.apply(
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": API_SERVICE},
                "spec": {
                    "group": apiserver.GROUP,
                    "version": apiserver.VERSION,
                    "service": {"namespace": NAMESPACE, "name": SERVICE, "port": self.server.port},
                    "caBundle": self.ca_bundle_b64,
                    "groupPriorityMinimum": 9900,
                    "versionPriority": 15,
                },
            }
        )
        self._wait(self._available, "APIService v1.project.openshift.io Available", timeout=timeout)

    def _register_scc(self) -> None:
        from .. import openshift_scc  # the deployments helper's module, on main soon

        self.cp.apply(admission.scc_crd())
        self._wait(
            lambda: self.cp.request("GET", admission.SCC_PATH) is not None,
            "SecurityContextConstraints served",
            timeout=30,
        )
        existing = {
            s["metadata"]["name"] for s in self.cp.request("GET", admission.SCC_PATH)["items"]
        }
        for scc in openshift_scc.DEFAULT_SCCS:
            if scc["metadata"]["name"] not in existing:
                self.cp.request("POST", admission.SCC_PATH, scc)
        for obj in admission.webhook_configurations(
            url=self.url, ca_bundle_b64=self.ca_bundle_b64, exempt=(NAMESPACE,)
        ):
            self.cp.apply(obj)
        # the namespaces made before the webhook existed get their ranges too, as
        # OpenShift's controller gives them to every namespace
        assert self.server.allocator is not None
        allocator, upstream = self.server.allocator, self.server.upstream

        async def give_ranges() -> None:
            for namespace in (await upstream.request("GET", "/api/v1/namespaces"))["items"]:
                meta = namespace["metadata"]
                if ranges.block_of(meta.get("annotations") or {}) is None:
                    await upstream.request(
                        "PATCH",
                        f"/api/v1/namespaces/{meta['name']}",
                        {"metadata": {"annotations": await allocator.annotations()}},
                        content_type="application/merge-patch+json",
                    )

        self.server.call(give_ranges())

    def _available(self) -> bool:
        service = self.cp.request(
            "GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{API_SERVICE}"
        )
        available = any(
            c["type"] == "Available" and c["status"] == "True"
            for c in service.get("status", {}).get("conditions", [])
        )
        groups = self.cp.request("GET", "/apis").get("groups", [])
        return available and any(g["name"] == apiserver.GROUP for g in groups)

    def _wait(self, ok: Any, what: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                if ok():
                    return
            except Exception as e:  # noqa: BLE001 - told if it never gets there
                last = e
            time.sleep(0.2)
        condition = ""
        try:
            service = self.cp.request(
                "GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{API_SERVICE}"
            )
            condition = str(service.get("status", {}).get("conditions"))
        except Exception as e:  # noqa: BLE001 - only for the message
            condition = str(e)
        raise RuntimeError(f"{what}: not after {timeout}s ({condition}; last error: {last})")

    def write_description(self, directory: Path, *, users: tuple[str, ...]) -> Path:
        """``openshift.json`` in ``directory``, for tests in another process: this
        server's URL and CA, the front-proxy CA, a kubeconfig per static token user
        (OpenShift's OAuth users stand-ins). Its path is what
        WORKSPACE_SPAWNER_TEST_OPENSHIFT names."""
        assert self.cp.directory is not None
        pki_dir = self.cp.directory / "pki"
        kubeconfigs = {
            user: str(self.cp.write_kubeconfig(directory / f"{user}.kubeconfig", user=user))
            for user in users
        }
        path = directory / "openshift.json"
        path.write_text(
            json.dumps(
                {
                    "url": self.url,
                    "ca": str(pki_dir / "openshift" / "openshift-ca.crt"),
                    "front_proxy_ca": {
                        "cert": str(pki_dir / "front-proxy-ca.crt"),
                        "key": str(pki_dir / "front-proxy-ca.key"),
                    },
                    "user_kubeconfigs": kubeconfigs,
                },
                indent=1,
            )
        )
        return path

    # -- what admins do with oc ---------------------------------------------------------

    def add_scc_to_user(self, scc: str, *, namespace: str, service_account: str) -> None:
        """``oc adm policy add-scc-to-user <scc> -z <service_account> -n <namespace>``."""
        self.cp.apply(scc_grant(scc, namespace=namespace, service_account=service_account))

    def add_role_to_user(self, role: str, *, user: str, project: str) -> None:
        """``oc adm policy add-role-to-user <role> <user> -n <project>``."""
        self.cp.apply(role_grant(role, user=user, project=project))


def scc_grant(scc: str, *, namespace: str, service_account: str = "", group: str = "") -> dict:
    """What ``oc adm policy add-scc-to-user <scc> -z <sa> -n <namespace>`` makes: a
    RoleBinding to the ``use`` role of that SCC (OpenShift 4); with ``group``, what
    ``add-scc-to-group <scc> <group>`` grants, for the pods of ``namespace``."""
    if scc not in SCCS:
        raise ValueError(f"unknown SCC {scc!r}: one of {', '.join(SCCS)}")
    if bool(service_account) == bool(group):
        raise ValueError("scc_grant: give one of service_account or group")
    role = f"system:openshift:scc:{scc}"
    subject = (
        {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
        if service_account
        else {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
    )
    return _binding(
        "RoleBinding", f"{role}:{service_account or group}", role, [subject], namespace=namespace
    )


def role_grant(role: str, *, user: str, project: str) -> dict:
    """What ``oc adm policy add-role-to-user <role> <user> -n <project>`` makes."""
    return _binding(
        "RoleBinding",
        f"{role}-{user}",
        role,
        [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        namespace=project,
    )
