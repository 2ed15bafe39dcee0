"""Shared reflectors of the kinds KubeSpawner does not watch itself: PersistentVolumeClaims.

KubeSpawner keeps one pod reflector and one event reflector per hub (per namespace,
or one for all namespaces with ``enable_user_namespaces``), shared by every
spawner: a list, then a watch, instead of requests per spawn
(kubespawner/reflector.py). The claim reflector is the same thing for claims, built
on the same :class:`kubespawner.reflector.ResourceReflector` and kept in the same
registry (``KubeSpawner.reflectors``), so a class of users starting at once costs one
list and one watch of claims, not reads per user; the spawner reads its claims, and
waits for them to be bound, from it.

Rights: list and watch on persistentvolumeclaims (Zero to JupyterHub's hub Role has
them).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kubespawner.reflector import ResourceReflector
from traitlets import Float

from . import KubeError
from .policy import retrying

__all__ = ["ClaimReflector", "shared_claim_reflector"]


class ClaimReflector(ResourceReflector):
    """The claims of a namespace (or of all namespaces), kept current by a watch."""

    kind = "persistentvolumeclaims"

    # how long the first list may be retried (the spawner's k8s_api_request_retry_timeout)
    first_list_timeout = Float(30.0)

    _listed_version: str | None = None

    @property
    def claims(self) -> dict[str, dict[str, Any]]:
        """``"namespace/name"`` -> the claim, as the API sent it."""
        return self.resources

    async def _list_and_update(self, resource_version=None):
        # ResourceReflector lists once in start() and again when its watch task begins;
        # the watch can go on from the first list's version, which saves one list of
        # every claim per hub. Later lists (after a watch ended or failed) are real.
        version, self._listed_version = self._listed_version, None
        if version is not None and resource_version == "0":
            return version
        if self.first_load_future.done():
            # the watch's own lists: ResourceReflector retries them with its backoff
            version = await super()._list_and_update(resource_version)
        else:
            # the first list, which every spawner starting now waits for: a 429 or a 500
            # is retried under the one policy, as ResourceReflector retries its watch,
            # rather than failing the whole class's starts and forgetting the reflector
            version = await retrying(
                partial(super()._list_and_update, resource_version),
                what=f"list {self.kind}",
                timeout=self.first_list_timeout,
                attempt_timeout=self.request_timeout,
                log=self.log,
            )
        if resource_version is None:
            self._listed_version = version
        return version


async def shared_claim_reflector(
    *,
    registry: dict[Any, Any],
    namespace: str | None,
    parent: Any,
    timeout: float,
) -> ClaimReflector:
    """The hub's claim reflector for ``namespace`` (None: all namespaces), started once.

    ``registry`` is ``KubeSpawner.reflectors``: spawners starting at once find the one
    being started there and wait for its first list. A reflector that cannot start
    (no right to list or watch claims) is forgotten, so the next start tries again,
    and the start fails saying what right is missing. A transient failure of the first
    list (429, 500, ...) is retried for ``timeout`` seconds first.
    """
    key = ("persistentvolumeclaims", namespace)
    reflector = registry.get(key)
    if reflector is None:
        method = (
            "list_persistent_volume_claim_for_all_namespaces"
            if namespace is None
            else "list_namespaced_persistent_volume_claim"
        )
        reflector = ClaimReflector(
            parent=parent,
            namespace=namespace or "",
            omit_namespace=namespace is None,
            list_method_name=method,
            on_failure=lambda: registry.pop(key, None),
            first_list_timeout=timeout,
        )
        registry[key] = reflector
        try:
            await reflector.start()
        except Exception as e:
            registry.pop(key, None)
            raise _start_error(e, namespace=namespace) from e
        return reflector
    try:
        await reflector.first_load_future
    except Exception as e:
        raise _start_error(e, namespace=namespace) from e
    return reflector


def _start_error(error: Exception, *, namespace: str | None) -> KubeError:
    where = f"in {namespace}" if namespace else "in all namespaces"
    status = getattr(error, "status", None)
    return KubeError(
        f"Could not watch the volume claims {where}: {error}. The hub needs list and watch on "
        "persistentvolumeclaims (Zero to JupyterHub's hub Role grants them)",
        status=status,
    )
