"""The emulator with the pod runner as its kubelet."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from ..emulator import Emulator
from ..emulator.apiserver import ApiServer
from ..emulator.errors import ApiError
from ..emulator.store import Change
from .layout import Image
from .runner import PodRunner, check_sandbox

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


class ProcessEmulator(Emulator):
    """An Emulator whose pods really run (see :class:`PodRunner`).

    It also publishes the ``kube-root-ca.crt`` ConfigMap in every namespace, as
    kube-controller-manager's root CA publisher does, because pods mount it
    (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#root-ca-certificate-configmap);
    the emulator serves plain HTTP, so its content is empty.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str],
        images: Mapping[str, Image] | None = None,
        ip_prefix: str = "127.0.0",
        **kwargs: Any,
    ) -> None:
        check_sandbox()
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.images = images
        self.ip_prefix = ip_prefix

    def make_kubelet(self, api: ApiServer) -> PodRunner:
        api.store.listeners.append(lambda change: self._publish_root_ca(api, change))
        return PodRunner(
            api,
            data_dir=self.data_dir,
            images=self.images,
            ip_prefix=self.ip_prefix,
            add_token=self._add_token,
        )

    def snapshot_data(self) -> PodRunner:
        # the runner keeps each claim's files: snapshots and restores copy them
        return self.kubelet_impl

    @property
    def runner(self) -> PodRunner:
        return self.kubelet_impl

    def _add_token(self, token: str, user: str, groups: list[str]) -> None:
        self.add_token(token, user=user, groups=groups)

    def _publish_root_ca(self, api: ApiServer, change: Change) -> None:
        if change.kind.plural != "namespaces" or change.type != "ADDED":
            return
        namespace = change.obj["metadata"]["name"]

        def publish() -> None:
            try:
                api.create(
                    api.registry.lookup("configmaps"),
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace},
                        "data": {"ca.crt": ""},
                    },
                    namespace=namespace,
                )
            except ApiError:
                pass  # already there, or the namespace is going away

        asyncio.get_running_loop().call_soon(publish)
