"""OpenShift mode: every namespace gets its SCC ranges, every pod goes through SCC admission.

The rules are :mod:`workspace_spawner_testing.openshift_scc` (pure, shared with the real
control plane's webhook); this module only connects them to the emulator's store:

- a new Namespace gets ``openshift.io/sa.scc.uid-range``, ``supplemental-groups`` and
  ``mcs``, a block of its own, as OpenShift's namespace-security-allocation controller
  gives every namespace (ProjectRequests included);
- a new Pod is admitted under the SCCs its ServiceAccount may use: those whose
  ``users``/``groups`` name it (restricted-v2 names ``system:authenticated``), and,
  when RBAC is installed, those it may ``use`` (``oc adm policy add-scc-to-user``);
  a denial is a 403 with OpenShift's message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import openshift_scc
from .errors import ApiError

if TYPE_CHECKING:
    from .apiserver import ApiServer, Operation
    from .emulator import Emulator

SCC_GROUP = "security.openshift.io"


class SccAdmission:
    """Registered on the API server's mutating chain in OpenShift mode."""

    def __init__(self, emulator: Emulator, api: ApiServer) -> None:
        self.emulator = emulator
        self.api = api
        self.allocated = 0
        api.mutating.append(self.admit)

    def seed(self) -> None:
        kind = self.api.registry.lookup("securitycontextconstraints")
        for scc in openshift_scc.DEFAULT_SCCS:
            self.api.create(kind, scc)

    def admit(self, op: Operation) -> None:
        if op.verb != "create":
            return
        if op.kind.plural == "namespaces":
            annotations = op.obj["metadata"].setdefault("annotations", {})
            for key, value in openshift_scc.namespace_annotations(self.allocated).items():
                annotations.setdefault(key, value)
            self.allocated += 1
        elif op.kind.plural == "pods":
            self._admit_pod(op)

    def _admit_pod(self, op: Operation) -> None:
        meta = op.obj["metadata"]
        namespace = meta["namespace"]
        account = (op.obj.get("spec") or {}).get("serviceAccountName") or "default"
        user, groups = openshift_scc.service_account_subject(namespace=namespace, name=account)
        ns = self.api.store.get(self.api.registry.lookup("namespaces"), "", namespace) or {}
        kind = self.api.registry.lookup("securitycontextconstraints")
        all_sccs = self.api.store.items(kind, None)
        usable = openshift_scc.usable_sccs(all_sccs, user=user, groups=groups)
        if self._rbac_installed():
            names = {s["metadata"]["name"] for s in usable}
            usable += [
                s
                for s in all_sccs
                if s["metadata"]["name"] not in names
                and self.emulator.authorizer(
                    user,
                    groups,
                    "use",
                    SCC_GROUP,
                    "securitycontextconstraints",
                    None,
                    namespace,
                    s["metadata"]["name"],
                )
            ]
        verdict = openshift_scc.admit_pod(
            op.obj,
            namespace_annotations=(ns.get("metadata") or {}).get("annotations") or {},
            sccs=usable,
        )
        if verdict.denial is not None:
            raise ApiError(
                403, verdict.denial, reason="Forbidden", kind="pods", name=meta.get("name", "")
            )
        op.obj.clear()
        op.obj.update(verdict.pod)

    def _rbac_installed(self) -> bool:
        # with the default allow-all authoriser every SCC would be usable by everyone
        return not getattr(self.emulator.authorizer, "allows_everything", False)
