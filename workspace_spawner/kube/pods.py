"""KubeSpawner's own pod create and delete, with a 429 or a 5xx retried as a timeout is.

KubeSpawner sends each of them inside JupyterHub's ``exponential_backoff``, which tries
again when an attempt returns ``False``: it does so for a timeout, but raises any other
error at once (kubespawner/spawner.py, ``_make_create_pod_request`` and
``_make_delete_pod_request``). One 429 of API Priority and Fairness or one 500 of a busy
API server at the moment a class starts would fail that user's start, or leave the
server's pod behind at a stop. Here a transient status (:data:`.policy.TRANSIENT_STATUSES`)
is one more failed attempt, within KubeSpawner's own ``k8s_api_request_retry_timeout``;
a 409 of the create is KubeSpawner's to handle, as before. The answers are read as JSON
(:func:`.plain`), not deserialised into models nobody reads.

Rights: those KubeSpawner's requests need already (create and delete on pods).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from . import plain
from .policy import is_transient, within

__all__ = ["RetryingPodRequests"]


class RetryingPodRequests:
    """For a KubeSpawner subclass: its pod create and delete retry a transient status."""

    async def _make_create_pod_request(self, pod: Any, request_timeout: float) -> bool:
        """One attempt of KubeSpawner's pod create; ``False`` says "try again"."""
        try:
            # the answer as JSON, not deserialised into a V1Pod that nobody reads (the
            # largest model a start gets back: hub CPU for a class, issue 17)
            await within(
                request_timeout,
                plain(self.api.create_namespaced_pod(self.namespace, pod, _preload_content=False)),
            )
        except TimeoutError:
            return False
        except ApiException as e:
            if is_transient(e):
                self.log.warning(
                    "create pod %s/%s: %s %s; retrying",
                    self.namespace,
                    pod.metadata.name,
                    e.status,
                    e.reason,
                )
                return False
            if e.status == 409:
                # the pod of an earlier start is there: KubeSpawner's own handling, which
                # asks again to see the 409, stops that pod and tries again
                return await super()._make_create_pod_request(pod, request_timeout)
            # a refusal (quota, admission, an invalid pod) ends the start with its reason
            self.log.error(
                "create pod %s/%s: %s %s", self.namespace, pod.metadata.name, e.status, e.reason
            )
            raise
        return True

    async def _make_delete_pod_request(
        self, pod_name: str, delete_options: Any, grace_seconds: int, request_timeout: float
    ) -> bool:
        """One attempt of KubeSpawner's pod delete; ``False`` says "try again"."""
        self.log.info("Deleting pod %s/%s", self.namespace, pod_name)
        try:
            await within(
                request_timeout,
                plain(
                    self.api.delete_namespaced_pod(
                        name=pod_name,
                        namespace=self.namespace,
                        body=delete_options,
                        grace_period_seconds=grace_seconds,
                        _preload_content=False,
                    )
                ),
            )
        except TimeoutError:
            return False
        except ApiException as e:
            if e.status == 404:
                # KubeSpawner's: no pod is as good as a deleted one
                self.log.warning("No pod %s/%s to delete", self.namespace, pod_name)
                return True
            if not is_transient(e):
                raise
            self.log.warning(
                "delete pod %s/%s: %s %s; retrying", self.namespace, pod_name, e.status, e.reason
            )
            return False
        return True
