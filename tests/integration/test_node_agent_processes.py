"""The node agent's process runtime on the real control plane (make test-cluster).

A pod bound to the runner node runs for real with what a kubelet gives it from the API,
under the Node authorizer and NodeRestriction: a Secret volume, a ConfigMap env var, the
projected ServiceAccount token the API server's admission adds (a token that
authenticates as the pod's ServiceAccount), and a claim whose hostPath PV (the
controller manager's host-path provisioner) is the directory the init container writes
and the main container reads. The pod ends by its restartPolicy, with the container's
termination message in its status.
"""

from __future__ import annotations

import base64
import json
import os
import random
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from podrunner_support import require_root

pytestmark = pytest.mark.real_cluster

TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SCRIPT = f"""
set -e
echo "secret: $(cat /secret/word)"
echo "config: $WORD"
echo "namespace: $(cat {TOKEN_DIR}/namespace)"
echo "token: $(cat {TOKEN_DIR}/token)"
echo "volume: $(cat /data/init.txt)"
echo "main was here" > /data/main.txt
echo "all read" > /dev/termination-log
"""


@pytest.fixture
def runner_node(tmp_path: Path) -> Iterator[Any]:
    from workspace_spawner_testing.demo import ProcessNode

    require_root("the process runtime")
    node = ProcessNode(
        admin_kubeconfig=Path(os.environ["WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG"]),
        node_kubeconfig=Path(os.environ["WORKSPACE_SPAWNER_TEST_RUNNER_NODE_KUBECONFIG"]),
        data_dir=tmp_path / "node",
        ip_prefix=f"127.{random.randint(100, 250)}.{random.randint(1, 250)}",
    )
    node.start(timeout=60)
    yield node
    node.stop()


def pod_manifest(name: str) -> dict:
    from workspace_spawner_testing.controlplane import RUNNER_NODE_NAME, RUNNER_TAINT

    data = [{"name": "data", "mountPath": "/data"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": RUNNER_NODE_NAME},
            "tolerations": [{"key": RUNNER_TAINT["key"], "operator": "Exists"}],
            "securityContext": {"fsGroup": 100},
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "secret", "secret": {"secretName": "words"}},
            ],
            "initContainers": [
                {
                    "name": "init",
                    "image": "busybox",
                    "command": ["sh", "-c", "echo 'init was here' > /data/init.txt"],
                    "volumeMounts": data,
                }
            ],
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sh", "-c", SCRIPT],
                    "env": [
                        {
                            "name": "WORD",
                            "valueFrom": {"configMapKeyRef": {"name": "words", "key": "word"}},
                        }
                    ],
                    "securityContext": {"runAsUser": 1000, "runAsGroup": 100},
                    "volumeMounts": [*data, {"name": "secret", "mountPath": "/secret"}],
                }
            ],
        },
    }


def wait(predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.3)


async def test_a_pod_on_the_runner_node_runs_with_what_the_api_gives_it(kube, runner_node):
    from workspace_spawner_testing.controlplane import RUNNER_NODE_NAME, Client

    admin = Client.from_kubeconfig(kube.admin_kubeconfig)
    ns = kube.namespace
    base = f"/api/v1/namespaces/{ns}"
    admin.request(
        "POST",
        f"{base}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "words"},
            "data": {"word": base64.b64encode(b"swordfish").decode()},
        },
    )
    admin.request(
        "POST",
        f"{base}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "words"},
            "data": {"word": "hello"},
        },
    )
    admin.request(
        "POST",
        f"{base}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    admin.request("POST", f"{base}/pods", pod_manifest("runs"))

    def ended() -> dict | None:
        pod = admin.request("GET", f"{base}/pods/runs")
        return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

    pod = wait(ended, timeout=120, what="the pod to end")
    log_path = runner_node.data_dir / "logs" / ns / "runs" / "main.log"
    log = log_path.read_text()
    assert pod["status"]["phase"] == "Succeeded", log
    assert pod["spec"]["nodeName"] == RUNNER_NODE_NAME
    (main,) = pod["status"]["containerStatuses"]
    assert main["state"]["terminated"]["exitCode"] == 0
    assert main["state"]["terminated"]["message"] == "all read"
    lines = dict(line.split(": ", 1) for line in log.splitlines() if ": " in line)
    assert lines["secret"] == "swordfish"
    assert lines["config"] == "hello"
    assert lines["namespace"] == ns
    assert lines["volume"] == "init was here"
    # the projected token is a real one, of the pod's ServiceAccount
    review = _self_subject_review(admin, lines["token"])
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:default"
    # the claim's files are in its PV's directory on this machine
    pvc = admin.request("GET", f"{base}/persistentvolumeclaims/data")
    pv = admin.request("GET", f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}")
    volume = Path(pv["spec"]["hostPath"]["path"])
    assert (volume / "main.txt").read_text() == "main was here\n"
    # and the pod's events are the kubelet's, from this node
    events = admin.request("GET", f"{base}/events")["items"]
    reasons = {e["reason"] for e in events if e["source"].get("host") == RUNNER_NODE_NAME}
    assert {"Pulled", "Created", "Started"} <= reasons, reasons


def _self_subject_review(admin: Any, token: str) -> dict:
    request = urllib.request.Request(
        admin.url + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        method="POST",
        data=json.dumps(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        ).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(admin.ca_file))
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return json.loads(answer.read())
