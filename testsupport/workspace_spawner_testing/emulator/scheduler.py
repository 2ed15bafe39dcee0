"""The scheduler: binds each unscheduled pod to a Ready node that fits it.

An in-process controller over the store, as the emulator's other controllers (the
provisioner, the namespace and snapshot controllers) are, rather than kube-scheduler's
``pods/binding`` subresource over HTTP: nothing outside the emulator schedules, and a
binding here is what the subresource does (``spec.nodeName`` and the PodScheduled
condition, pkg/registry/core/pod/storage/storage.go ``assignPod``) plus the
``Scheduled`` event. What it honours (kube-scheduler's filter plugins, a subset):

- the pod's PersistentVolumeClaims are bound (VolumeBinding, immediate binding);
- the node is Ready and not ``spec.unschedulable`` (NodeUnschedulable);
- the pod tolerates the node's NoSchedule and NoExecute taints (TaintToleration);
- the node's labels match the pod's ``nodeSelector`` (NodeAffinity; no affinity terms).

Of the nodes that fit, the one with the fewest pods (spreading, as
NodeResourcesBalancedAllocation roughly does with requests this small). Until a pod
fits it is Pending with PodScheduled False, Unschedulable, and a FailedScheduling event
(https://kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler/).
"""

from __future__ import annotations

import asyncio
import collections

from .apiserver import ApiServer, now_iso
from .events import record_event
from .store import Change

SCHEDULER = "default-scheduler"
WAIT_SECONDS = 1.0


class Scheduler:
    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.pods = api.registry.lookup("pods")
        self.nodes = api.registry.lookup("nodes")
        self.pvcs = api.registry.lookup("persistentvolumeclaims")
        self._waiting: dict[str, asyncio.Task] = {}  # pods that did not fit, by uid
        api.store.listeners.append(self.on_change)

    def cancel(self) -> None:
        for task in self._waiting.values():
            task.cancel()
        self._waiting.clear()

    def on_change(self, change: Change) -> None:
        if change.kind.key != self.pods.key or change.type != "ADDED":
            return
        pod = change.obj
        if pod["spec"].get("nodeName") or pod["spec"].get("schedulerName") != SCHEDULER:
            return
        # most pods fit at once: bound here, without a task
        if self.schedule(pod, warn=True):
            return
        uid = pod["metadata"]["uid"]
        self._waiting[uid] = asyncio.get_running_loop().create_task(self._wait(pod))

    def current(self, pod: dict) -> dict | None:
        meta = pod["metadata"]
        now = self.api.store.get(self.pods, meta["namespace"], meta["name"])
        if now is None or now["metadata"]["uid"] != meta["uid"]:
            return None
        return now

    async def _wait(self, pod: dict) -> None:
        """Try again on every change (a claim binds, a node comes) until it fits."""
        try:
            while self.current(pod) is not None:
                await self.api.store.wait_for_change(WAIT_SECONDS)
                if self.schedule(pod, warn=False):
                    return
        finally:
            self._waiting.pop(pod["metadata"]["uid"], None)

    def schedule(self, pod: dict, *, warn: bool) -> bool:
        """Bind the pod if it fits somewhere (True, or it is gone); else, with ``warn``,
        say why once."""
        current = self.current(pod)
        if current is None or current["spec"].get("nodeName"):
            return True
        why = self._unbound_claims(current)
        node = None if why else self._pick_node(current)
        if node is None:
            if warn:
                self._unschedulable(current, why or self._why_no_node(current))
            return False
        self._bind(current, node)
        return True

    def _unbound_claims(self, pod: dict) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is None:
                continue
            pvc = self.api.store.get(self.pvcs, namespace, claim)
            if (pvc or {}).get("status", {}).get("phase") != "Bound":
                return "pod has unbound immediate PersistentVolumeClaims"
        return None

    def _fits(self, pod: dict, node: dict) -> str | None:
        """None, or kube-scheduler's reason this node does not fit."""
        conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") != "True":
            return "node(s) were not ready"
        spec = node.get("spec") or {}
        if spec.get("unschedulable"):
            return "node(s) were unschedulable"
        tolerations = pod["spec"].get("tolerations") or []
        for taint in spec.get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not any(
                _tolerates(t, taint) for t in tolerations
            ):
                value = f": {taint['value']}" if taint.get("value") else ""
                return f"node(s) had untolerated taint {{{taint['key']}{value}}}"
        labels = node["metadata"].get("labels") or {}
        selector = pod["spec"].get("nodeSelector") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            return "node(s) didn't match Pod's node affinity/selector"
        return None

    def _pick_node(self, pod: dict) -> str | None:
        fitting = [
            n["metadata"]["name"]
            for n in self.api.store.items(self.nodes)
            if self._fits(pod, n) is None
        ]
        if not fitting:
            return None
        if len(fitting) == 1:
            return fitting[0]
        # each node's pods from the store's spec.nodeName index, not a decode of every pod
        load = {
            name: len(self.api.store.texts(self.pods, equal=(("spec.nodeName", name),)))
            for name in fitting
        }
        return min(fitting, key=lambda name: (load[name], name))

    def _why_no_node(self, pod: dict) -> str:
        nodes = self.api.store.items(self.nodes)
        if not nodes:
            return "no nodes available to schedule pods"
        reasons = collections.Counter(self._fits(pod, n) for n in nodes)
        return ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))

    def _unschedulable(self, pod: dict, why: str) -> None:
        total = len(self.api.store.items(self.nodes))
        message = f"0/{total} nodes are available: {why}."
        pod.setdefault("status", {})["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastTransitionTime": now_iso(),
                "lastProbeTime": None,
            }
        ]
        self.api.write(self.pods, pod)
        record_event(
            self.api,
            involved=pod,
            reason="FailedScheduling",
            message=f"{message} preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling.",
            type_="Warning",
            component=SCHEDULER,
        )

    def _bind(self, pod: dict, node: str) -> None:
        pod["spec"]["nodeName"] = node
        pod.setdefault("status", {})["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": now_iso(),
                "lastProbeTime": None,
            }
        ]
        bound = self.api.write(self.pods, pod)
        meta = bound["metadata"]
        record_event(
            self.api,
            involved=bound,
            reason="Scheduled",
            message=f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
            component=SCHEDULER,
        )


def _tolerates(toleration: dict, taint: dict) -> bool:
    """k8s.io/api/core/v1 Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if not toleration.get("key") and toleration.get("operator") != "Exists":
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return True
    return toleration.get("value", "") == taint.get("value", "")
