"""The direct object API every test bed offers: one contract, written once.

A test sets up and inspects cluster state with ``create``, ``get``, ``list``,
``patch`` and ``delete``, whichever test bed it runs on: the emulator answers
straight from its store (no HTTP, no authorisation), the real control plane's
:class:`~workspace_spawner_testing.controlplane.objects.ClusterObjects` through REST
as the admin. Each implements the five primitives (``_create`` ...); the calls,
their defaults and their meaning are here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["MERGE_PATCH", "ObjectApi", "Patch"]

MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Patch:
    """A patch as :meth:`ObjectApi.patch` was asked for it."""

    body: dict
    content_type: str = MERGE_PATCH
    subresource: str | None = None


class ObjectApi(ABC):
    """Kinds are named by plural (``configmaps``), singular or Kind (``StorageClass``);
    ``namespace`` is ignored for cluster-scoped kinds."""

    def create(self, obj: dict, *, namespace: str | None = None) -> dict:
        """Create ``obj`` (in ``namespace``, else its own ``metadata.namespace``)."""
        return self._create(obj, namespace)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when there is none."""
        return self._get(kind, name, namespace)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict]:
        """The objects of ``kind`` (in ``namespace``; None: all) matching the selectors."""
        return self._list(kind, namespace, label_selector, field_selector)

    def patch(
        self,
        kind: str,
        name: str,
        patch: dict,
        namespace: str | None = None,
        *,
        content_type: str = MERGE_PATCH,
        subresource: str | None = None,
    ) -> dict:
        """Patch the object (or its ``subresource``, such as ``status``)."""
        return self._patch(kind, name, namespace, Patch(patch, content_type, subresource))

    def delete(
        self, kind: str, name: str, namespace: str | None = None, *, grace: int | None = None
    ) -> dict:
        """Delete the object, with ``grace`` seconds for a pod."""
        return self._delete(kind, name, namespace, grace)

    @abstractmethod
    def _create(self, obj: dict, namespace: str | None) -> dict: ...

    @abstractmethod
    def _get(self, kind: str, name: str, namespace: str | None) -> dict | None: ...

    @abstractmethod
    def _list(self, kind: str, namespace: str | None, labels: str, fields: str) -> list[dict]: ...

    @abstractmethod
    def _patch(self, kind: str, name: str, namespace: str | None, patch: Patch) -> dict: ...

    @abstractmethod
    def _delete(self, kind: str, name: str, namespace: str | None, grace: int | None) -> dict: ...
