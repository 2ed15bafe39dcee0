"""The volumes feature's step before the pod: the user's claims, created or adopted, grown, bound.

The hub's shared claim reflector (:mod:`workspace_spawner.kube.reflectors`) tells a new
user's start that there is no claim yet, so it creates one without reading first (a
409 reads the one there); a returning user's start reads its claim once, afresh, for
its owner and an admin's reset request. A claim not bound yet is waited for through
the reflector, woken by its watch when the claim changes (no poll, of the API or of
the reflector), while KubeSpawner creates the pod (the pod waits
for its claims as it does for KubeSpawner's own): binding and the pod's start overlap, as
they do for KubeSpawner. A class of users starting at once so costs what the objects
need, not reads per user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar

from traitlets import Dict, HasTraits

from ..constants import RESET_BACKUP_ANNOTATION, RESET_REQUEST_ANNOTATION, USERNAME_LABEL
from ..kube import KubeError, to_dict
from ..kube.policy import Deadline
from ..kube.reflectors import ClaimReflector, shared_claim_reflector
from ..kube.selectors import label_selector
from ..kube.volumes import ensure_pvc, list_pods, patch_pvc, read_pvc, read_pvc_events
from . import manifests as m
from .ownership import foreign_claim_message, username_slugs

T = TypeVar("T")


class ClaimSteps(HasTraits):
    """Create or adopt each claim of the user, grow it, wait until it can bind."""

    # this start's facts for the init container: created now, an admin's reset request
    _volume_setup = Dict()
    # this start's claims not bound yet: name -> the claim as created or read
    _claims_to_bind = Dict()

    async def ensure_workspace_volumes(self) -> None:
        """Create or adopt the user's claims and grow them (binding is waited for with the pod:
        :meth:`while_workspace_volumes_bind`)."""
        self._volume_setup = {"created": False, "request": "", "request_backup": "", "snapshot": ""}
        self._claims_to_bind = {}
        volumes = self._wanted_volumes()
        if not volumes:
            return
        claims = []
        for volume, capacity, storage_class, access_modes in volumes:
            pvc = await self._ensure_one_pvc(
                volume=volume,
                capacity=capacity,
                storage_class=storage_class,
                access_modes=access_modes,
            )
            if volume == m.HOME_VOLUME:
                await self._refuse_a_claim_in_use(pvc)
                annotations = pvc["metadata"].get("annotations") or {}
                self._volume_setup["request"] = annotations.get(RESET_REQUEST_ANNOTATION, "")
                self._volume_setup["request_backup"] = annotations.get(RESET_BACKUP_ANNOTATION, "")
            await self._expand_pvc(pvc=pvc, volume=volume, capacity=capacity)
            claims.append((volume, pvc))
        for volume, pvc in claims:
            if (pvc.get("status") or {}).get("phase") != "Bound":
                self._claims_to_bind[self._pvc_name_for(volume)] = pvc
        if self.storage_pvc_ensure and self.volume_populate_source is not None:
            await self.check_snapshot_api_once()
            if self._volume_setup["request"]:
                self.emit_progress(
                    "An administrator asked for a reset of the workspace volume: "
                    "it is done before the server starts"
                )

    def _wanted_volumes(self) -> list[tuple[str, str, str | None, list[str]]]:
        """(volume, capacity, storage class, access modes) of each claim this start needs."""
        volumes = []
        if self.storage_pvc_ensure:
            if self.storage_capacity is None:
                raise KubeError(
                    "storage_capacity is None, so the workspace volume cannot be created: "
                    "set c.WorkspaceSpawner.storage_capacity (e.g. '10Gi')"
                )
            volumes.append(
                (
                    m.HOME_VOLUME,
                    self.storage_capacity,
                    self.storage_class,
                    list(self.storage_access_modes),
                )
            )
        for key, spec in self.workspace_volumes.items():
            volumes.append((key, spec["capacity"], spec["storage_class"], spec["access_modes"]))
        return volumes

    async def _ensure_one_pvc(
        self, *, volume: str, capacity: str, storage_class: str | None, access_modes: list[str]
    ) -> dict[str, Any]:
        name, pvc = await self._find_pvc(volume)
        if pvc is not None:
            # an admin's restore put another claim in this one's place (adopted below,
            # with the checks of any claim found by name)
            name, pvc = await self.follow_restored_claim(name=name, pvc=pvc, volume=volume)
        if pvc is None:
            pvc, created = await self._create_pvc(
                name=name,
                volume=volume,
                capacity=capacity,
                storage_class=storage_class,
                access_modes=access_modes,
            )
            if volume == m.HOME_VOLUME:
                self._volume_setup["created"] = created
        else:
            created = False
        if not created:  # there before, or made in the meantime, by whoever
            pvc = await self._adopt_pvc(pvc, volume=volume)
        self._workspace_pvc_names()[volume] = name
        if volume == m.HOME_VOLUME:
            # KubeSpawner then neither creates a PVC nor looks for legacy names, and
            # saves pvc_name in the state
            self.pvc_name = name
            self._pvc_exists = True
        return pvc

    async def _find_pvc(self, volume: str) -> tuple[str, dict[str, Any] | None]:
        """The claim's name, and the claim if it exists (an older version's, adopted).

        A spawner without saved state (a user's first start) asks the hub's claim
        reflector, and reads only a claim it knows (a claim made a moment ago that it
        does not know yet answers the create with 409, which reads it). One with state
        reads the claim.
        """
        name = self._pvc_name_for(volume)
        if self._state_kubespawner_version is None and volume not in self._workspace_pvc_names():
            reflector = await self._claim_reflector()
            if f"{self.namespace}/{name}" not in reflector.claims:
                return name, None
        pvc = await self._read_pvc(name)
        legacy = self._legacy_pvc_name(volume) if pvc is None else None
        if legacy is None:
            return name, pvc
        old = await self._read_pvc(legacy)
        if old is not None and (
            volume == m.HOME_VOLUME
            or m.is_volume_of(old, volume=volume, slug=self._username_label())
        ):
            self.log.warning(
                "%s: adopting %s, the claim an older version made for volume %s",
                self._log_name,
                legacy,
                volume,
            )
            return legacy, old
        return name, None

    async def _create_pvc(
        self,
        *,
        name: str,
        volume: str,
        capacity: str,
        storage_class: str | None,
        access_modes: list[str],
    ) -> tuple[dict[str, Any], bool]:
        self.emit_progress(
            f"Creating workspace volume {name} ({capacity})"
            if volume == m.HOME_VOLUME
            else f"Creating volume {volume}: {name} ({capacity})"
        )
        body = m.make_workspace_pvc(
            to_dict(self.get_pvc_manifest()),
            name=name,
            volume=volume,
            capacity=capacity,
            storage_class=storage_class,
            access_modes=access_modes,
        )
        return await self.kube_request(
            partial(ensure_pvc, api=self.api, namespace=self.namespace, body=body),
            what=f"create PVC {name}",
        )

    async def _adopt_pvc(self, pvc: dict[str, Any], *, volume: str) -> dict[str, Any]:
        """An existing claim, checked before anything is written to it, and taken back."""
        name = pvc["metadata"]["name"]
        other = m.other_volume_label(pvc, volume=volume)
        if other is not None:
            raise KubeError(
                f"The claim {name} holds the workspace volume {other!r}, not {volume!r}, so it "
                f"is not mounted as {volume!r}. An admin can rename the volume in "
                "c.WorkspaceSpawner.workspace_volumes, or change pvc_name_template."
            )
        self.log.info("%s: adopting the existing PVC %s", self._log_name, name)
        # before anything is written to it: another user's claim is left alone
        self._refuse_foreign_claim(pvc, volume=volume)
        return await self.reclaim_retained_pvc(pvc)

    def _refuse_foreign_claim(self, pvc: dict[str, Any], *, volume: str) -> None:
        """Fail the start before another user's claim is mounted (see volumes/ownership.py)."""
        slugs = {self._username_label(), *username_slugs(self.user.name)}
        message = foreign_claim_message(pvc, username=self.user.name, slugs=slugs, volume=volume)
        if message:
            self.log.warning("%s: %s", self._log_name, message)
            raise KubeError(message)

    async def _refuse_a_claim_in_use(self, pvc: dict[str, Any]) -> None:
        """Fail at once when another server of the user runs on this single-node claim.

        Named servers share the user's claim by default (``claim-{username}``). A
        ReadWriteOnce claim can be mounted on one node only: a second server placed on
        another node would wait for a Multi-Attach error until ``start_timeout``. The
        start is refused, rather than the pod tied to the first one's node, because
        that node may have no room for it, a ReadWriteOncePod claim cannot be shared
        even on one node, and a clear message now beats a pod Pending for minutes.
        Only asked (one pod list) when the hub knows of another server of the user.
        """
        if not any(name != self.name for name in getattr(self.user, "spawners", {}) or {}):
            return
        selector = label_selector(
            {"component": self.component_label, USERNAME_LABEL: self._username_label()}
        )
        pods = await self.kube_request(
            partial(list_pods, api=self.api, namespace=self.namespace, label_selector=selector),
            what="list the user's pods",
        )
        other = m.mounted_by_other_server(pvc=pvc, pods=pods, pod_name=self.pod_name)
        if other is not None:
            raise KubeError(
                m.shared_claim_message(
                    claim=pvc["metadata"]["name"],
                    pod=other,
                    modes=list((pvc.get("spec") or {}).get("accessModes") or []),
                )
            )

    async def _claim_reflector(self) -> ClaimReflector:
        return await shared_claim_reflector(
            registry=self.__class__.reflectors,
            namespace=None if self.enable_user_namespaces else self.namespace,
            parent=self,
            timeout=self.k8s_api_request_retry_timeout,
        )

    async def _read_pvc(self, name: str) -> dict[str, Any] | None:
        """The claim, read afresh: who owns it and an admin's reset request must be current."""
        return await self.kube_request(
            partial(read_pvc, api=self.api, namespace=self.namespace, name=name),
            what=f"read PVC {name}",
        )

    def _username_label(self) -> str:
        """The value of KubeSpawner's username label on this user's objects."""
        return self._build_common_labels({})[USERNAME_LABEL]

    async def _expand_pvc(self, *, pvc: dict[str, Any], volume: str, capacity: str) -> None:
        name = pvc["metadata"]["name"]
        current = m.pvc_capacity(pvc)
        change = m.capacity_change(current=current, wanted=capacity)
        if change == "shrink":
            self.log.warning(
                "%s: PVC %s requests %s, more than the configured %s: claims never shrink, "
                "it keeps its size",
                self._log_name,
                name,
                current,
                capacity,
            )
            return
        if change == "same" or not self.storage_expand:
            return
        label = "Volume" if volume == m.HOME_VOLUME else f"Volume {volume}"
        patch = m.expansion_patch(capacity)
        try:
            # the server starts anyway at the old size: a few attempts only
            await self.kube_request(
                partial(patch_pvc, api=self.api, namespace=self.namespace, name=name, patch=patch),
                what=f"expand PVC {name}",
                attempts=3,
            )
        except KubeError as e:
            reason = m.expansion_refused_reason(status=e.status, message=str(e))
            self.log.warning("%s: not expanding PVC %s: %s", self._log_name, name, e)
            self.emit_progress(f"{label} {name} stays at {current}: {reason}")
            return
        self.emit_progress(f"{label} expanded to {capacity}")

    async def while_workspace_volumes_bind(self, start: Awaitable[T]) -> T:
        """``await start`` (the pod's start) while this start's claims bind; a claim still
        Pending after ``volume_bind_timeout`` fails the start with its cause.

        The pod is created at once, as KubeSpawner creates its own with its claim: the
        scheduler places it when its claims are bound (or binds a WaitForFirstConsumer
        claim by placing it), so binding and the pod's start overlap instead of
        following each other. A pod that runs has its claims bound, so the wait ends
        with the start.
        """
        claims = dict(self._claims_to_bind)
        if not claims:
            return await start
        bound = asyncio.ensure_future(self._wait_for_claims_bound(claims))
        started = asyncio.ensure_future(start)
        try:
            done, _ = await asyncio.wait({bound, started}, return_when=asyncio.FIRST_COMPLETED)
            if bound in done:
                bound.result()  # raises why a claim stays Pending
            return await started
        finally:
            pending = [task for task in (bound, started) if not task.done()]
            for task in pending:
                task.cancel()
            # a start given up (a claim Pending) ends before the spawner reports it
            await asyncio.gather(*pending, return_exceptions=True)

    async def _wait_for_claims_bound(self, claims: dict[str, dict[str, Any]]) -> None:
        reflector = await self._claim_reflector()
        self.emit_progress("Waiting for the volume to be bound")
        deadline = Deadline(self.volume_bind_timeout)
        for name, pvc in claims.items():
            await self._wait_for_bound(name, pvc=pvc, reflector=reflector, deadline=deadline)

    async def _wait_for_bound(
        self, name: str, *, pvc: dict[str, Any], reflector: ClaimReflector, deadline: Deadline
    ) -> None:
        """Until the claim reflector shows the claim Bound, or the deadline.

        At the deadline its events are read once, for what only they say: that it waits
        for its first consumer (the pod, not placed yet), that it cannot bind (no
        StorageClass, provisioning failed: the start fails with the cause), or neither (a
        provisioner still at work, as for a class's 500 claims at once). In the first and
        the last case KubeSpawner's own wait for the pod goes on, until ``start_timeout``:
        KubeSpawner itself never fails a start on a claim still being provisioned.
        """
        key = f"{self.namespace}/{name}"
        while True:
            # the reflector's copy: a local dict, kept current by its watch
            pvc = reflector.claims.get(key)
            if (pvc or {}).get("status", {}).get("phase") == "Bound":
                return
            if deadline.expired:
                if pvc is None:
                    self._raise_pending(name, pvc=pvc, events=[], waited=deadline.elapsed)
                await self._after_bind_timeout(name, pvc=pvc, waited=deadline.elapsed)
                return
            # no request and no poll: woken when the watch brings a change of this claim
            await reflector.changed(key, timeout=deadline.remaining)

    async def _after_bind_timeout(self, name: str, *, pvc: dict[str, Any], waited: float) -> None:
        """A claim Pending at ``volume_bind_timeout``: fail the start if its events say why
        it cannot bind; else say on the spawn page that the start waits for it."""
        try:
            events = await self.kube_request(
                partial(read_pvc_events, api=self.api, namespace=self.namespace, name=name),
                what=f"list the events of PVC {name}",
            )
        except (KubeError, TimeoutError) as e:
            # a busy API server: the events would only have explained the wait
            self.log.warning("%s: the events of PVC %s not read: %s", self._log_name, name, e)
            events = None
        if events is not None and m.waits_for_first_consumer(events):
            return  # bound when the scheduler places the pod
        if events is not None and m.binding_failed(pvc=pvc, events=events):
            self._raise_pending(name, pvc=pvc, events=events, waited=waited)
        last = events[-1]["message"] if events else "no event of it yet"
        self.emit_progress(
            f"The volume claim {name} is still Pending after {int(waited)} s ({last}); "
            "the server's start waits for it"
        )

    def _raise_pending(
        self, name: str, *, pvc: dict[str, Any] | None, events: list[dict[str, Any]], waited: float
    ) -> None:
        if pvc is None:
            raise KubeError(f"The volume claim {name} disappeared while the server was starting")
        raise KubeError(m.pending_pvc_message(pvc=pvc, events=events, waited=waited))
