"""The volumes' pure builders and checks, against literal dicts."""

from __future__ import annotations

import pytest

from workspace_spawner.volumes import checks
from workspace_spawner.volumes import manifests as m

# -- checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/home/jovyan", "/home/jovyan"),
        ("/home/jovyan/", "/home/jovyan"),
        ("/opt//app-root/./src", "/opt/app-root/src"),
    ],
)
def test_check_absolute_path(path, expected):
    assert checks.check_absolute_path(path, setting="x") == expected


@pytest.mark.parametrize(
    "path, message",
    [
        ("home/jovyan", "x must be an absolute path"),
        ("", "x must be an absolute path"),
        ("/home/../etc", "x must not contain '..'"),
    ],
)
def test_check_absolute_path_refuses(path, message):
    with pytest.raises(ValueError, match=message):
        checks.check_absolute_path(path, setting="x")


@pytest.mark.parametrize(
    "path, expected", [("", ""), ("workspace", "workspace"), ("a/./b/", "a/b")]
)
def test_check_sub_path(path, expected):
    assert checks.check_sub_path(path, setting="s") == expected


@pytest.mark.parametrize("path", ["/workspace", "../other", "a/../../b"])
def test_check_sub_path_refuses(path):
    with pytest.raises(ValueError, match="s "):
        checks.check_sub_path(path, setting="s")


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", ""),
        ("/home/jovyan/", "/home/jovyan"),
        ("/opt/app-root/src", "/opt/app-root/src"),
    ],
)
def test_check_populate_source(value, expected):
    assert checks.check_populate_source(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ("/opt/../etc", "must not contain '..'"),
        ("relative/path", "must be an absolute path"),
        ("/workspace-volume/x", "must not be under /workspace-volume"),
    ],
)
def test_check_populate_source_refuses(value, message):
    with pytest.raises(ValueError, match=message):
        checks.check_populate_source(value)


@pytest.mark.parametrize("name", ["a/b", ".", ".."])
def test_check_file_name_refuses(name):
    with pytest.raises(ValueError, match="must be a file name without '/'"):
        checks.check_file_name(name, setting="volume_reset_marker")


def test_check_workspace_volumes_normalises():
    assert checks.check_workspace_volumes(
        {
            "datasets": {"mount_path": "/data/", "capacity": "50Gi"},
            "models": {
                "mount_path": "/models",
                "capacity": "1Ti",
                "storage_class": "fast",
                "access_modes": ["ReadWriteMany"],
                "sub_path": "m/",
            },
        }
    ) == {
        "datasets": {
            "mount_path": "/data",
            "capacity": "50Gi",
            "storage_class": None,
            "access_modes": ["ReadWriteOnce"],
            "sub_path": "",
        },
        "models": {
            "mount_path": "/models",
            "capacity": "1Ti",
            "storage_class": "fast",
            "access_modes": ["ReadWriteMany"],
            "sub_path": "m",
        },
    }


@pytest.mark.parametrize(
    "volumes, message",
    [
        ({"Data": {"mount_path": "/d", "capacity": "1Gi"}}, "cannot name a volume"),
        ({"home": {"mount_path": "/d", "capacity": "1Gi"}}, "cannot name a volume"),
        ({"data": {"mount_path": "/d"}}, "needs 'capacity'"),
        ({"data": {"capacity": "1Gi"}}, "needs 'mount_path'"),
        ({"data": {"mount_path": "d", "capacity": "1Gi"}}, "must be an absolute path"),
        ({"data": {"mount_path": "/d", "capacity": "lots"}}, "is not a Kubernetes quantity"),
        ({"data": {"mount_path": "/d", "capacity": "1Gi", "size": 1}}, "unknown keys \\['size'\\]"),
        ({"data": "/d"}, "must be a dict"),
    ],
)
def test_check_workspace_volumes_refuses(volumes, message):
    with pytest.raises(ValueError, match=message):
        checks.check_workspace_volumes(volumes)


def test_check_shared_volumes_defaults_to_read_only():
    assert checks.check_shared_volumes(
        {"courses": {"claim": "courses-rwx", "mount_path": "/shared/courses"}}
    ) == {
        "courses": {
            "claim": "courses-rwx",
            "mount_path": "/shared/courses",
            "read_only": True,
            "sub_path": "",
        }
    }


@pytest.mark.parametrize(
    "workspace, shared, message",
    [
        (
            {"data": {"mount_path": "/home/jovyan"}},
            {},
            "workspace_volumes\\['data'\\] and workspace_mount_path are both mounted at /home/jovyan",
        ),
        (
            {"a": {"mount_path": "/x"}},
            {"b": {"mount_path": "/x"}},
            "shared_volumes\\['b'\\] and workspace_volumes\\['a'\\]",
        ),
    ],
)
def test_check_mount_paths_refuses_two_volumes_on_one_path(workspace, shared, message):
    with pytest.raises(ValueError, match=message):
        checks.check_mount_paths(
            workspace_mount_path="/home/jovyan", workspace_volumes=workspace, shared_volumes=shared
        )


# -- PVCs -----------------------------------------------------------------------------------

BASE_PVC = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {
        "name": "claim-alice",
        "labels": {
            "hub.jupyter.org/username": "alice",
            "component": "singleuser-storage",
            "app.kubernetes.io/component": "singleuser-server",
        },
        "annotations": {
            "hub.jupyter.org/username": "alice",
            "volume.beta.kubernetes.io/storage-class": "old",
        },
    },
    "spec": {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "10Gi"}},
        "storageClassName": "old",
    },
}


def test_make_workspace_pvc_for_an_extra_volume():
    assert m.make_workspace_pvc(
        BASE_PVC,
        name="claim-alice-datasets",
        volume="datasets",
        capacity="50Gi",
        storage_class=None,
        access_modes=["ReadWriteMany"],
    ) == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "claim-alice-datasets",
            "labels": {
                "hub.jupyter.org/username": "alice",
                "component": "singleuser-storage",
                "app.kubernetes.io/component": "singleuser-server",
                "app.kubernetes.io/managed-by": "workspace-spawner",
                "workspace-spawner.jupyter.org/volume": "datasets",
            },
            "annotations": {"hub.jupyter.org/username": "alice"},
        },
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "50Gi"}}},
    }
    # the base is not changed
    assert BASE_PVC["metadata"]["name"] == "claim-alice"


def test_make_workspace_pvc_with_a_storage_class():
    pvc = m.make_workspace_pvc(
        BASE_PVC,
        name="claim-alice",
        volume="home",
        capacity="10Gi",
        storage_class="fast",
        access_modes=["ReadWriteOnce"],
    )
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "10Gi"}},
        "storageClassName": "fast",
    }
    assert pvc["metadata"]["labels"]["workspace-spawner.jupyter.org/volume"] == "home"


@pytest.mark.parametrize(
    "current, wanted, change",
    [
        ("10Gi", "20Gi", "grow"),
        ("10Gi", "10240Mi", "same"),
        ("20Gi", "10Gi", "shrink"),
        (None, "1Gi", "grow"),
        ("1G", "1Gi", "grow"),
    ],
)
def test_capacity_change(current, wanted, change):
    assert m.capacity_change(current=current, wanted=wanted) == change


def test_expansion_patch():
    assert m.expansion_patch("20Gi") == {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}


@pytest.mark.parametrize(
    "status, message, reason",
    [
        (
            403,
            'persistentvolumeclaims "claim-alice" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize',
            "its StorageClass does not allow volume expansion (allowVolumeExpansion)",
        ),
        (
            403,
            'User "system:serviceaccount:jhub:hub" cannot patch resource "persistentvolumeclaims"',
            "the hub may not patch PersistentVolumeClaims (grant it with helm-values/rbac-volumes.yaml)",
        ),
        (
            422,
            "spec.resources.requests.storage: Forbidden",
            "the API server rejected the new size: spec.resources.requests.storage: Forbidden",
        ),
        (503, "Service Unavailable", "the API server did not answer (Service Unavailable)"),
    ],
)
def test_expansion_refused_reason(status, message, reason):
    assert m.expansion_refused_reason(status=status, message=message) == reason


def test_pending_pvc_message_without_a_storage_class():
    pvc = {"metadata": {"name": "claim-alice"}, "spec": {}}
    events = [
        {
            "reason": "FailedBinding",
            "message": "no persistent volumes available for this claim and no storage class is set",
        }
    ]
    assert m.pending_pvc_message(pvc=pvc, events=events, waited=120.4) == (
        "The volume claim claim-alice is still Pending after 120 s (no persistent volumes available for this "
        "claim and no storage class is set). It names no StorageClass and the cluster seems to have no default "
        'one: mark a StorageClass as default (storageclass.kubernetes.io/is-default-class: "true") or set '
        "c.WorkspaceSpawner.storage_class."
    )


def test_pending_pvc_message_with_a_storage_class():
    pvc = {"metadata": {"name": "claim-bob"}, "spec": {"storageClassName": "gone"}}
    assert m.pending_pvc_message(pvc=pvc, events=[], waited=3) == (
        "The volume claim claim-bob is still Pending after 3 s. Check that StorageClass gone exists and that "
        "its provisioner works (kubectl describe pvc claim-bob)."
    )


def test_waits_for_first_consumer():
    assert m.waits_for_first_consumer([{"reason": "WaitForFirstConsumer"}])
    assert not m.waits_for_first_consumer([{"reason": "ProvisioningFailed"}])


# -- the pod --------------------------------------------------------------------------------


def test_pod_volume_and_mounts():
    assert m.make_pvc_volume(name="volume-claim-alice", claim="claim-alice") == {
        "name": "volume-claim-alice",
        "persistentVolumeClaim": {"claimName": "claim-alice"},
    }
    assert m.make_pvc_volume(name="shared-courses", claim="courses", read_only=True) == {
        "name": "shared-courses",
        "persistentVolumeClaim": {"claimName": "courses", "readOnly": True},
    }
    assert m.make_volume_mount(name="v", mount_path="/opt/app-root", sub_path="workspace") == {
        "name": "v",
        "mountPath": "/opt/app-root",
        "subPath": "workspace",
    }
    assert m.make_volume_mount(name="s", mount_path="/shared", read_only=True) == {
        "name": "s",
        "mountPath": "/shared",
        "readOnly": True,
    }


def test_setup_env_with_a_sub_path():
    assert m.setup_env(
        source="/opt/app-root",
        sub_path="workspace",
        reset_marker=".delete-volume",
        sync_marker="",
        sync=True,
        backup=True,
        backups_keep=2,
        reset_request="2026-11-21T10:00:00Z",
        reset_request_backup="false",
    ) == {
        "WORKSPACE_SOURCE": "/opt/app-root",
        "WORKSPACE_TARGET": "/workspace-volume/workspace",
        "WORKSPACE_RESET_MARKER": ".delete-volume",
        "WORKSPACE_SYNC_MARKER": "",
        "WORKSPACE_SYNC": "1",
        "WORKSPACE_BACKUP": "1",
        "WORKSPACE_BACKUPS_KEEP": "2",
        "WORKSPACE_BACKUP_DIR": ".volume-backups",
        "WORKSPACE_RESET_REQUEST": "2026-11-21T10:00:00Z",
        "WORKSPACE_RESET_REQUEST_BACKUP": "false",
    }


def test_setup_security_context_never_adds_privilege():
    notebook = {
        "runAsUser": 1000,
        "runAsGroup": 100,
        "privileged": True,
        "allowPrivilegeEscalation": True,
    }
    assert m.setup_security_context(notebook) == {
        "runAsUser": 1000,
        "runAsGroup": 100,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    # OpenShift: no user set, the namespace's arbitrary UID applies
    assert m.setup_security_context({}) == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_make_setup_container():
    assert m.make_setup_container(
        image="quay.io/jupyter/minimal-notebook:2026-11-01",
        image_pull_policy="IfNotPresent",
        volume_name="volume-claim-alice",
        env={"WORKSPACE_SOURCE": "/home/jovyan"},
        security_context={"allowPrivilegeEscalation": False},
        resources={"limits": {"memory": "1Gi"}},
        script="echo hi",
    ) == {
        "name": "setup-volume",
        "image": "quay.io/jupyter/minimal-notebook:2026-11-01",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", "echo hi", "setup-volume"],
        "env": [{"name": "WORKSPACE_SOURCE", "value": "/home/jovyan"}],
        "volumeMounts": [{"name": "volume-claim-alice", "mountPath": "/workspace-volume"}],
        "securityContext": {"allowPrivilegeEscalation": False},
        "resources": {"limits": {"memory": "1Gi"}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def test_setup_script_is_package_data():
    script = m.setup_script()
    assert script.startswith("# setup-volume:")
    assert "rsync" not in script.replace("no rsync", "")
    # passed inline as one argument of `sh -c`: Linux refuses an exec argument longer
    # than MAX_ARG_STRLEN (32 pages, 131072 bytes; execve(2), "Limits on size of
    # arguments and environment"), and the pod's command must exec
    assert len(script.encode()) < 131_072
    # read once per hub process, not for each pod manifest (issue 17: the hub's CPU per spawn)
    assert m.setup_script() is script


def test_find_mount():
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "notebook",
                    "volumeMounts": [
                        {"name": "home", "mountPath": "/home/jovyan/", "subPath": "w"},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [
                {"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}},
                {"name": "tmp", "emptyDir": {}},
            ],
        }
    }
    assert m.find_mount(pod=pod, container="notebook", mount_path="/home/jovyan") == {
        "volume": "home",
        "claim": "claim-alice",
        "sub_path": "w",
    }
    assert m.find_mount(pod=pod, container="notebook", mount_path="/tmp") == {
        "volume": "tmp",
        "claim": None,
        "sub_path": "",
    }
    assert m.find_mount(pod=pod, container="notebook", mount_path="/data") is None


@pytest.mark.parametrize(
    "storage_class, events, failed",
    [
        (None, [], True),  # no StorageClass and no default: it cannot bind
        ("standard", [], False),  # a provisioner not done yet
        ("standard", [{"type": "Normal", "reason": "Provisioning"}], False),
        ("standard", [{"type": "Normal", "reason": "ExternalProvisioning"}], False),
        ("standard", [{"type": "Warning", "reason": "ProvisioningFailed"}], True),
        (
            "standard",
            [
                {"type": "Warning", "reason": "ProvisioningFailed"},
                {"type": "Normal", "reason": "Provisioning"},
            ],
            False,  # tried again, at work
        ),
    ],
)
def test_binding_failed(storage_class, events, failed):
    pvc = {"metadata": {"name": "claim-a"}, "spec": {"storageClassName": storage_class}}
    assert m.binding_failed(pvc=pvc, events=events) is failed
