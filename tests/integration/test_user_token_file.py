"""The user-token file is readable by the notebook user under every supported
securityContext (issue 11), in a pod run for real by the pod runner (on the real control
plane: the node agent's process runtime, the Secret read from the API with the node's
identity): the Secret volume and mount exactly as the spawner generates them, the kubelet's
file ownership and modes."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from podrunner_support import Pods, pods_for_real

from workspace_spawner.project import manifests as m
from workspace_spawner_testing.podrunner import Image

pytestmark = pytest.mark.pods_on_cluster

SECRET = "notebook-alice-workspace-token"
IMAGE = Image(uid=1000, gid=100, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pods]:
    for pods in pods_for_real(tmp_path_factory.mktemp("token"), IMAGE):
        pods.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": SECRET},
                "stringData": {"token": "sha256~the-users-token"},
            }
        )
        yield pods


@pytest.mark.parametrize(
    "context",
    [
        {"runAsUser": 1000, "runAsGroup": 100, "fsGroup": 100},  # z2jh: fsGid 100
        {"runAsUser": 1000, "runAsGroup": 100},  # fs_gid None, or anyuid
        {"runAsUser": 1000680000, "runAsGroup": 0},  # OpenShift: an arbitrary UID in group 0
    ],
    ids=["fsGroup", "no-fsGroup", "openshift-uid"],
)
def test_the_notebook_user_reads_the_token(runner: Pods, context: dict) -> None:
    name = f"token-{random.randint(0, 10**6)}"
    token_file = f"{m.USER_TOKEN_DIR}/token"
    volumes = [v for v in m.pod_volumes(token_secret=SECRET) if v["name"] == m.USER_TOKEN_VOLUME]
    mounts = [
        v for v in m.pod_volume_mounts(token_secret=SECRET) if v["name"] == m.USER_TOKEN_VOLUME
    ]
    runner.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": context,
                "volumes": volumes,
                "containers": [
                    {
                        "name": "notebook",
                        "image": "x",
                        "command": ["sh", "-c", f"cat {token_file}; echo; id -u"],
                        "volumeMounts": mounts,
                    }
                ],
            },
        }
    )
    deadline = time.monotonic() + 60
    while runner.status(name).get("phase") not in (
        "Succeeded",
        "Failed",
    ):
        assert time.monotonic() < deadline, "the pod did not finish"
        time.sleep(0.1)
    log = runner.log(name, "notebook")
    assert log.splitlines() == ["sha256~the-users-token", str(context["runAsUser"])], log
    runner.delete_pod(name, grace=0)
