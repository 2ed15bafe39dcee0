"""The volumes feature's step before the pod: the user's claims, created or adopted, grown, bound.

The hub's shared claim reflector (:mod:`workspace_spawner.kube.reflectors`) tells a new
user's start that there is no claim yet, so it creates one without reading first (a
409 reads the one there); a returning user's start reads its claim once, afresh, for
its owner and an admin's reset request. A claim not bound yet is waited for through
the reflector, without polling the API. A class
of users starting at once so costs what the objects need, not reads per user.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from kubespawner.slugs import escape_slug, is_valid_label, safe_slug
from traitlets import Dict, HasTraits

from ..constants import RESET_BACKUP_ANNOTATION, RESET_REQUEST_ANNOTATION, USERNAME_LABEL
from ..kube import KubeError, to_dict
from ..kube.policy import Deadline
from ..kube.reflectors import ClaimReflector, shared_claim_reflector
from ..kube.selectors import label_selector
from ..kube.volumes import ensure_pvc, list_pods, patch_pvc, read_pvc, read_pvc_events
from . import manifests as m
from .ownership import foreign_claim_message

# After this long unbound, the claim's events are read once: a claim of a StorageClass
# with volumeBindingMode WaitForFirstConsumer binds only once its pod is scheduled
# (https://kubernetes.io/docs/concepts/storage/storage-classes/#volume-binding-mode).
FIRST_CONSUMER_CHECK_SECONDS = 1.0


class ClaimSteps(HasTraits):
    """Create or adopt each claim of the user, grow it, wait until it can bind."""

    # this start's facts for the init container: created now, an admin's reset request
    _volume_setup = Dict()

    async def ensure_workspace_volumes(self) -> None:
        """Create or adopt the user's claims, grow them, and wait until they can bind."""
        self._volume_setup = {"created": False, "request": "", "request_backup": "", "snapshot": ""}
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
            await self._wait_for_bound(self._pvc_name_for(volume), pvc=pvc)
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
        name = self.user.name
        slugs = {
            self._username_label(),
            # every slug KubeSpawner has put in this label for this user: 7.x's label
            # scheme, its DNS-label scheme ({username} in names), and < 7's "escape"
            # https://github.com/jupyterhub/kubespawner/blob/7.1.0/kubespawner/slugs.py
            safe_slug(name, is_valid=is_valid_label),
            safe_slug(name),
            escape_slug(name),
        }
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

    async def _wait_for_bound(self, name: str, *, pvc: dict[str, Any]) -> None:
        """Until the claim reflector shows the claim Bound, or it binds with its pod.

        ``pvc`` is the claim as just created or read: a bound one is not waited for.
        Its events are read at most twice (after a second, and at the timeout) for what
        only they say: that it waits for its first consumer, or why it is Pending.
        """
        if (pvc.get("status") or {}).get("phase") == "Bound":
            return
        reflector = await self._claim_reflector()
        deadline = Deadline(self.volume_bind_timeout)
        self.emit_progress("Waiting for the volume to be bound")
        checked, delay = False, 0.02
        while True:
            # the reflector's copy: a local dict, kept current by its watch
            pvc = reflector.claims.get(f"{self.namespace}/{name}")
            if (pvc or {}).get("status", {}).get("phase") == "Bound":
                return
            if deadline.expired or (
                not checked and deadline.elapsed >= FIRST_CONSUMER_CHECK_SECONDS
            ):
                events = await self.kube_request(
                    partial(read_pvc_events, api=self.api, namespace=self.namespace, name=name),
                    what=f"list the events of PVC {name}",
                )
                if m.waits_for_first_consumer(events):
                    return  # bound when the scheduler places the pod
                checked = True
                if deadline.expired:
                    self._raise_pending(name, pvc=pvc, events=events, waited=deadline.elapsed)
            await asyncio.sleep(min(delay, deadline.remaining))
            delay = min(delay * 2, 1.0)

    def _raise_pending(
        self, name: str, *, pvc: dict[str, Any] | None, events: list[dict[str, Any]], waited: float
    ) -> None:
        if pvc is None:
            raise KubeError(f"The volume claim {name} disappeared while the server was starting")
        raise KubeError(m.pending_pvc_message(pvc=pvc, events=events, waited=waited))
