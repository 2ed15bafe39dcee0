"""The workspace volumes' lifecycle against the Kubernetes API emulator."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from traitlets import TraitError

from workspace_spawner.constants import (
    MANAGED_BY_LABEL,
    RESET_BACKUP_ANNOTATION,
    RESET_REQUEST_ANNOTATION,
    VOLUME_NAME_LABEL,
)
from workspace_spawner.kube import KubeError
from workspace_spawner.volumes.mixin import VolumeSetupFailed

NS = "jupyterhub"


def pvc_writes(emulator, verb: str) -> list:
    return [
        r for r in emulator.requests if r.resource == "persistentvolumeclaims" and r.verb == verb
    ]


def messages(spawner) -> list[str]:
    return [e["message"] for e in spawner._progress_log.events]


async def start(spawner, timeout: float = 30):
    return await asyncio.wait_for(spawner.start(), timeout)


async def start_and_stop(spawner) -> None:
    await start(spawner)
    await spawner.stop(now=True)


def make_pvc(
    emulator, name: str, *, storage: str = "10Gi", annotations=None, storage_class=None
) -> None:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
            "spec": spec,
        }
    )


async def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# -- create, adopt, labels, mounts ------------------------------------------------------------


async def test_first_start_creates_the_labelled_pvc_and_mounts_it(make_spawner, emulator):
    spawner = make_spawner(uid=1000, gid=100, fs_gid=100)
    await start(spawner)
    pvc = emulator.get("PersistentVolumeClaim", "claim-alice", NS)
    labels = pvc["metadata"]["labels"]
    assert labels["component"] == "singleuser-storage"
    assert labels["hub.jupyter.org/username"] == "alice"
    assert labels[MANAGED_BY_LABEL] == "workspace-spawner"
    assert labels[VOLUME_NAME_LABEL] == "home"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert [
        p["metadata"]["name"]
        for p in emulator.list(
            "PersistentVolumeClaim",
            NS,
            label_selector="component=singleuser-storage,hub.jupyter.org/username=alice",
        )
    ] == ["claim-alice"]

    pod = emulator.get("Pod", spawner.pod_name, NS)
    assert {
        "name": "volume-claim-alice",
        "persistentVolumeClaim": {"claimName": "claim-alice"},
    } in pod["spec"]["volumes"]
    notebook = pod["spec"]["containers"][0]
    assert {"name": "volume-claim-alice", "mountPath": "/home/jovyan"} in notebook["volumeMounts"]
    (setup,) = [c for c in pod["spec"]["initContainers"] if c["name"] == "setup-volume"]
    assert setup["image"] == notebook["image"]
    assert setup["volumeMounts"] == [
        {"name": "volume-claim-alice", "mountPath": "/workspace-volume"}
    ]
    assert setup["securityContext"]["runAsUser"] == 1000
    assert setup["securityContext"]["runAsGroup"] == 100
    assert pod["spec"]["securityContext"]["fsGroup"] == 100

    assert messages(spawner)[0] == "Creating workspace volume claim-alice (10Gi)"
    assert spawner.get_state()["pvc_name"] == "claim-alice"
    assert spawner.get_state()["workspace_pvcs"] == {"home": "claim-alice"}
    await spawner.stop(now=True)


async def test_the_spawn_page_follows_the_init_container(make_spawner, emulator):
    spawner = make_spawner()
    summary = "Copying the image's files into the new volume: 12 files, 3456 bytes from /home/jovyan in 1 s"
    emulator.kubelet.slow_init_container(NS, spawner.pod_name, "setup-volume", 1.0)
    emulator.kubelet.set_termination_message(NS, spawner.pod_name, "setup-volume", summary + "\n")
    seen = []

    async def read_progress():
        async for event in spawner.progress():
            seen.append(event["message"])

    reader = asyncio.ensure_future(read_progress())
    await start(spawner)
    await asyncio.wait_for(reader, 10)
    expected = [
        "Creating workspace volume claim-alice (10Gi)",
        "Copying the image's files into the new volume",
        summary,
    ]
    # in this order, among KubeSpawner's pod events (and "Waiting for the volume to be bound")
    assert [m for m in seen if m in expected] == expected
    await spawner.stop(now=True)


async def test_sub_path_mount(make_spawner, emulator):
    spawner = make_spawner(workspace_mount_path="/opt/app-root", workspace_sub_path="workspace")
    await start(spawner)
    pod = emulator.get("Pod", spawner.pod_name, NS)
    assert {
        "name": "volume-claim-alice",
        "mountPath": "/opt/app-root",
        "subPath": "workspace",
    } in pod["spec"]["containers"][0]["volumeMounts"]
    env = {e["name"]: e["value"] for e in pod["spec"]["initContainers"][0]["env"]}
    assert env["WORKSPACE_SOURCE"] == "/opt/app-root"
    assert env["WORKSPACE_TARGET"] == "/workspace-volume/workspace"
    await spawner.stop(now=True)


async def test_the_charts_own_home_volume_for_the_claim_is_used_as_it_is(make_spawner, emulator):
    # Zero to JupyterHub with singleuser.storage.type: dynamic mounts {pvc_name} itself
    spawner = make_spawner(
        volumes=[
            {"name": "volume-{username}", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
        ],
        volume_mounts=[{"name": "volume-{username}", "mountPath": "/home/jovyan"}],
    )
    await start(spawner)
    pod = emulator.get("Pod", spawner.pod_name, NS)
    assert [v["name"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v] == [
        "volume-alice"
    ]
    setup = [c for c in pod["spec"]["initContainers"] if c["name"] == "setup-volume"][0]
    assert setup["volumeMounts"] == [{"name": "volume-alice", "mountPath": "/workspace-volume"}]
    await spawner.stop(now=True)


async def test_another_volume_on_the_mount_path_is_refused_with_the_fix(make_spawner):
    spawner = make_spawner(
        volumes=[{"name": "scratch", "emptyDir": {}}],
        volume_mounts=[{"name": "scratch", "mountPath": "/home/jovyan"}],
    )
    with pytest.raises(
        ValueError,
        match="Volume 'scratch' is already mounted at /home/jovyan.*singleuser.storage.type: none",
    ):
        await spawner.get_pod_manifest()


async def test_restart_adopts_the_pvc_and_never_creates_a_second(make_spawner, emulator):
    first = make_spawner()
    await start_and_stop(first)
    state = first.get_state()
    emulator.clear_requests()
    # a restarted hub with a changed template: the saved name wins
    again = make_spawner(state=state, pvc_name_template="home-{username}")
    await start(again)
    assert pvc_writes(emulator, "create") == []
    pod = emulator.get("Pod", again.pod_name, NS)
    assert {
        "name": "volume-claim-alice",
        "persistentVolumeClaim": {"claimName": "claim-alice"},
    } in pod["spec"]["volumes"]
    assert not any(m.startswith("Creating") for m in messages(again))
    await again.stop(now=True)
    # a hub that lost its state adopts the claim by name
    emulator.clear_requests()
    fresh = make_spawner()
    await start_and_stop(fresh)
    assert pvc_writes(emulator, "create") == []
    assert len(emulator.list("PersistentVolumeClaim", NS)) == 1


async def test_named_servers_share_the_users_volume_by_default(make_spawner, emulator):
    named = make_spawner(servername="gpu")
    assert named.pvc_name == "claim-alice"
    own = make_spawner(servername="gpu", pvc_name_template="claim-{username}--{servername}")
    assert own.pvc_name == "claim-alice--gpu"


# -- expansion --------------------------------------------------------------------------------


async def test_raised_capacity_patches_the_claim(make_spawner, emulator):
    await start_and_stop(make_spawner())
    emulator.clear_requests()
    spawner = make_spawner(storage_capacity="20Gi")
    await start(spawner)
    assert len(pvc_writes(emulator, "patch")) == 1
    pvc = emulator.get("PersistentVolumeClaim", "claim-alice", NS)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "Volume expanded to 20Gi" in messages(spawner)
    await spawner.stop(now=True)


async def test_a_class_that_cannot_expand_keeps_the_size_and_says_why(make_spawner, emulator):
    emulator.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "fixed"},
            "provisioner": "emulator.local/hostpath",
            "allowVolumeExpansion": False,
        }
    )
    await start_and_stop(make_spawner(storage_class="fixed"))
    spawner = make_spawner(storage_class="fixed", storage_capacity="20Gi")
    await start(spawner)
    assert (
        emulator.get("PersistentVolumeClaim", "claim-alice", NS)["spec"]["resources"]["requests"][
            "storage"
        ]
        == "10Gi"
    )
    assert (
        "Volume claim-alice stays at 10Gi: its StorageClass does not allow volume expansion (allowVolumeExpansion)"
        in messages(spawner)
    )
    await spawner.stop(now=True)


async def test_expansion_switched_off(make_spawner, emulator):
    await start_and_stop(make_spawner())
    emulator.clear_requests()
    await start_and_stop(make_spawner(storage_capacity="20Gi", storage_expand=False))
    assert pvc_writes(emulator, "patch") == []


async def test_a_lower_capacity_never_shrinks(make_spawner, emulator, caplog):
    await start_and_stop(make_spawner(storage_capacity="20Gi"))
    emulator.clear_requests()
    spawner = make_spawner(storage_capacity="10Gi")
    with caplog.at_level(logging.WARNING):
        await start(spawner)
    assert pvc_writes(emulator, "patch") == []
    assert (
        emulator.get("PersistentVolumeClaim", "claim-alice", NS)["spec"]["resources"]["requests"][
            "storage"
        ]
        == "20Gi"
    )
    assert (
        "PVC claim-alice requests 20Gi, more than the configured 10Gi: claims never shrink"
        in caplog.text
    )
    await spawner.stop(now=True)


# -- more volumes -----------------------------------------------------------------------------


async def test_extra_and_shared_volumes(make_spawner, emulator):
    make_pvc(emulator, "courses-rwx", storage="100Gi")
    spawner = make_spawner(
        workspace_volumes={
            "datasets": {"mount_path": "/home/jovyan/datasets", "capacity": "50Gi"},
            "models": {
                "mount_path": "/models",
                "capacity": "5Gi",
                "access_modes": ["ReadWriteMany"],
                "sub_path": "m",
            },
        },
        shared_volumes={"courses": {"claim": "courses-rwx", "mount_path": "/shared/courses"}},
    )
    await start(spawner)
    datasets = emulator.get("PersistentVolumeClaim", "claim-alice--datasets", NS)
    assert datasets["metadata"]["labels"][VOLUME_NAME_LABEL] == "datasets"
    assert datasets["metadata"]["labels"]["hub.jupyter.org/username"] == "alice"
    assert datasets["metadata"]["labels"]["component"] == "singleuser-storage"
    assert datasets["spec"]["resources"]["requests"]["storage"] == "50Gi"
    models = emulator.get("PersistentVolumeClaim", "claim-alice--models", NS)
    assert models["spec"]["accessModes"] == ["ReadWriteMany"]
    pod = emulator.get("Pod", spawner.pod_name, NS)
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "volume-claim-alice--datasets", "mountPath": "/home/jovyan/datasets"} in mounts
    assert {"name": "volume-claim-alice--models", "mountPath": "/models", "subPath": "m"} in mounts
    assert {"name": "shared-courses", "mountPath": "/shared/courses", "readOnly": True} in mounts
    assert {
        "name": "shared-courses",
        "persistentVolumeClaim": {"claimName": "courses-rwx", "readOnly": True},
    } in pod["spec"]["volumes"]
    # the shared claim is never touched
    assert emulator.get("PersistentVolumeClaim", "courses-rwx", NS)["metadata"].get("labels") in (
        None,
        {},
    )
    assert spawner.get_state()["workspace_pvcs"] == {
        "home": "claim-alice",
        "datasets": "claim-alice--datasets",
        "models": "claim-alice--models",
    }
    await spawner.stop(now=True)


async def test_deleting_the_user_deletes_the_extra_volumes_but_not_shared_ones(
    make_spawner, emulator
):
    make_pvc(emulator, "courses-rwx")
    volumes = {"datasets": {"mount_path": "/data", "capacity": "1Gi"}}
    shared = {"courses": {"claim": "courses-rwx", "mount_path": "/courses"}}
    spawner = make_spawner(workspace_volumes=volumes, shared_volumes=shared)
    await start_and_stop(spawner)
    # a named server sharing the user's claims deletes nothing
    await make_spawner(
        servername="gpu", workspace_volumes=volumes, shared_volumes=shared
    ).delete_forever()
    assert len(emulator.list("PersistentVolumeClaim", NS)) == 3
    await make_spawner(
        state=spawner.get_state(), workspace_volumes=volumes, shared_volumes=shared
    ).delete_forever()
    await wait_until(
        lambda: (
            [p["metadata"]["name"] for p in emulator.list("PersistentVolumeClaim", NS)]
            == ["courses-rwx"]
        )
    )


# -- the admin's reset request ----------------------------------------------------------------


async def test_reset_annotation_is_passed_on_and_cleared_after_the_init_container(
    make_spawner, emulator
):
    make_pvc(
        emulator,
        "claim-alice",
        annotations={
            RESET_REQUEST_ANNOTATION: "2026-11-21T10:00:00Z",
            RESET_BACKUP_ANNOTATION: "true",
        },
    )
    spawner = make_spawner()
    await start(spawner)
    pod = emulator.get("Pod", spawner.pod_name, NS)
    env = {e["name"]: e["value"] for e in pod["spec"]["initContainers"][0]["env"]}
    assert env["WORKSPACE_RESET_REQUEST"] == "2026-11-21T10:00:00Z"
    assert env["WORKSPACE_RESET_REQUEST_BACKUP"] == "true"

    def cleared() -> bool:
        annotations = (
            emulator.get("PersistentVolumeClaim", "claim-alice", NS)["metadata"].get("annotations")
            or {}
        )
        return (
            RESET_REQUEST_ANNOTATION not in annotations
            and RESET_BACKUP_ANNOTATION not in annotations
        )

    await wait_until(cleared)
    assert any("An administrator asked for a reset" in m for m in messages(spawner))
    await spawner.stop(now=True)


async def test_reset_annotation_stays_when_the_init_container_fails(make_spawner, emulator):
    make_pvc(emulator, "claim-alice", annotations={RESET_REQUEST_ANNOTATION: "r1"})
    spawner = make_spawner(start_timeout=3)
    emulator.kubelet.fail_init_container(NS, spawner.pod_name, "setup-volume", 1)
    with pytest.raises(VolumeSetupFailed):
        await start(spawner)
    annotations = emulator.get("PersistentVolumeClaim", "claim-alice", NS)["metadata"][
        "annotations"
    ]
    assert annotations[RESET_REQUEST_ANNOTATION] == "r1"
    # the start fails as soon as the reflector has the failure; the watcher task that
    # shows it on the spawn page reads the same pod a moment later
    await wait_until(
        lambda: any(
            m.startswith("The workspace volume could not be prepared") for m in messages(spawner)
        )
    )
    await spawner.stop(now=True)


async def test_a_newer_reset_request_is_not_cleared(make_spawner, emulator):
    make_pvc(emulator, "claim-alice", annotations={RESET_REQUEST_ANNOTATION: "r1"})
    spawner = make_spawner()
    await spawner.ensure_workspace_volumes()
    emulator.patch(
        "PersistentVolumeClaim",
        "claim-alice",
        {"metadata": {"annotations": {RESET_REQUEST_ANNOTATION: "r2"}}},
        NS,
    )
    await spawner._clear_reset_request("r1")
    annotations = emulator.get("PersistentVolumeClaim", "claim-alice", NS)["metadata"][
        "annotations"
    ]
    assert annotations[RESET_REQUEST_ANNOTATION] == "r2"


# -- pending claims and API faults --------------------------------------------------------------


async def test_a_pending_pvc_fails_the_spawn_naming_the_claim_and_the_cause(make_spawner, emulator):
    emulator.delete("StorageClass", "standard")
    spawner = make_spawner(volume_bind_timeout=1)
    with pytest.raises(KubeError) as error:
        await start(spawner)
    text = str(error.value)
    assert text.startswith("The volume claim claim-alice is still Pending after 1 s")
    assert "no persistent volumes available for this claim and no storage class is set" in text
    assert "the cluster seems to have no default one" in text
    assert "Waiting for the volume to be bound" in messages(spawner)


async def test_a_claim_still_provisioning_at_the_bind_timeout_is_waited_for(make_spawner, emulator):
    """A busy provisioner (a class's 500 claims at once) binds after volume_bind_timeout:
    nothing says the claim cannot bind, so the start waits for it with the pod, as
    KubeSpawner's does (the real tier at N=500 failed 201 such starts)."""
    emulator.storage.provision_seconds = 2.5
    try:
        spawner = make_spawner(volume_bind_timeout=1)
        await start(spawner)
    finally:
        emulator.storage.provision_seconds = 0.01
    assert any(
        "The volume claim claim-alice is still Pending after 1 s" in text
        and "the server's start waits for it" in text
        for text in messages(spawner)
    ), messages(spawner)
    assert await spawner.poll() is None
    await spawner.stop(now=True)


async def test_unreadable_events_at_the_bind_timeout_do_not_fail_the_start(make_spawner, emulator):
    """The events only explain a Pending claim: a loaded API server that does not answer
    their list in time fails no start (the real tier at N=500 failed 326 so)."""
    # the hub's shared reflectors listed and watching already (another user's start)
    other = make_spawner("bob")
    await start(other)
    emulator.storage.provision_seconds = 2.5
    emulator.inject_fault(verb="list", resource="events", status=503, count=1000)
    try:
        spawner = make_spawner(volume_bind_timeout=1, k8s_api_request_retry_timeout=1)
        await start(spawner)
    finally:
        emulator.faults.clear()
        emulator.storage.provision_seconds = 0.01
    assert any("no event of it yet" in text for text in messages(spawner)), messages(spawner)
    await spawner.stop(now=True)
    await other.stop(now=True)


async def test_the_pod_is_created_while_its_new_claim_binds(make_spawner, emulator):
    # a provisioner that takes 1.5 s: the pod is created at once, as KubeSpawner creates
    # its own, and the scheduler places it once the claim is bound
    emulator.storage.provision_seconds = 1.5
    try:
        spawner = make_spawner()
        await start(spawner)
    finally:
        emulator.storage.provision_seconds = 0.01
    created = {r.resource: r.time for r in emulator.requests if r.verb == "create"}
    assert created["pods"] - created["persistentvolumeclaims"] < 1.0
    # binding seen in the claim reflector: the claim's events were not read
    assert [
        r.path
        for r in emulator.requests
        if "involvedObject.name" in r.query.get("fieldSelector", "")
    ] == []
    assert "Waiting for the volume to be bound" in messages(spawner)
    await spawner.stop(now=True)


async def test_a_start_failing_after_its_claims_create_leaves_the_claim_in_the_saved_state(
    make_spawner, emulator
):
    """A start fails after the claim was created (the pod create refused); JupyterHub then
    stops the server, clears its state and saves it (User.stop): the saved state names the
    claim, and the next start, under a changed template, mounts it and creates none."""
    emulator.inject_fault(verb="create", resource="pods", status=403, count=1)
    spawner = make_spawner()
    with pytest.raises(Exception, match="403"):
        await start(spawner)
    assert [r.status for r in pvc_writes(emulator, "create")] == [201]
    # what JupyterHub's User.stop does after a failed start
    await spawner.stop(now=True)
    spawner.clear_state()
    state = spawner.get_state()
    assert state["workspace_pvcs"] == {"home": "claim-alice"}
    assert state["pvc_name"] == "claim-alice"

    emulator.clear_requests()
    again = make_spawner(state=state, pvc_name_template="other-{username}")
    await start(again)
    assert pvc_writes(emulator, "create") == []
    pod = emulator.get("Pod", again.pod_name, NS)
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["claim-alice"]
    assert emulator.get("PersistentVolumeClaim", "other-alice", NS) is None
    await again.stop(now=True)


@pytest.mark.parametrize(
    "resource, status",
    [
        ("persistentvolumeclaims", 500),
        ("persistentvolumeclaims", 429),
        ("pods", 500),
        ("events", 429),
    ],
)
async def test_a_shared_reflectors_first_list_is_retried_on_a_transient_status(
    make_spawner, emulator, resource, status
):
    """The hub's shared claim, pod or event reflector's first list answered 500 (or 429)
    once: the start goes on, as ResourceReflector's watch would (issue 17's fault run
    failed 7 starts so, and one 429 of the pods' list 45)."""
    emulator.inject_fault(verb="list", resource=resource, status=status, count=1)
    spawner = make_spawner()
    await start(spawner)
    assert [r.status for r in emulator.requests if r.verb == "list" and r.resource == resource][
        :2
    ] == [status, 200]
    assert emulator.get("PersistentVolumeClaim", "claim-alice", NS) is not None
    await spawner.stop(now=True)


async def test_pvc_create_is_retried_when_the_api_is_briefly_unavailable(make_spawner, emulator):
    emulator.inject_fault(verb="create", resource="persistentvolumeclaims", status=503, count=2)
    spawner = make_spawner()
    await start(spawner)
    assert [r.status for r in pvc_writes(emulator, "create")] == [503, 503, 201]
    await spawner.stop(now=True)


async def test_pvc_create_refused_fails_the_spawn_with_the_reason(make_spawner, emulator):
    emulator.inject_fault(
        verb="create",
        resource="persistentvolumeclaims",
        status=403,
        count=1,
        message="quota exceeded",
    )
    spawner = make_spawner()
    with pytest.raises(
        KubeError, match="Could not create PVC claim-alice in jupyterhub: .*HTTP 403"
    ):
        await start(spawner)
    assert emulator.get("Pod", spawner.pod_name, NS) is None


async def test_expansion_patch_faults_leave_the_size_and_the_spawn_goes_on(make_spawner, emulator):
    await start_and_stop(make_spawner())
    emulator.inject_fault(verb="patch", resource="persistentvolumeclaims", status=500, count=10)
    spawner = make_spawner(storage_capacity="20Gi")
    await start(spawner)
    assert len(pvc_writes(emulator, "patch")) == 3
    assert any(
        m.startswith("Volume claim-alice stays at 10Gi: the API server did not answer")
        for m in messages(spawner)
    )
    await spawner.stop(now=True)


async def test_forbidden_expansion_names_the_missing_right(make_spawner, emulator):
    await start_and_stop(make_spawner())
    emulator.inject_fault(verb="patch", resource="persistentvolumeclaims", status=403, count=1)
    spawner = make_spawner(storage_capacity="20Gi")
    await start(spawner)
    assert (
        "Volume claim-alice stays at 10Gi: the hub may not patch PersistentVolumeClaims (grant it with helm-values/rbac-volumes.yaml)"
        in messages(spawner)
    )
    await spawner.stop(now=True)


# -- switched off ---------------------------------------------------------------------------


async def test_switched_off_makes_no_pvc_request(make_spawner, emulator):
    spawner = make_spawner(storage_pvc_ensure=False)
    await start(spawner)
    assert [r for r in emulator.requests if r.resource == "persistentvolumeclaims"] == []
    pod = emulator.get("Pod", spawner.pod_name, NS)
    assert "setup-volume" not in [c["name"] for c in pod["spec"].get("initContainers") or []]
    assert all("persistentVolumeClaim" not in v for v in pod["spec"]["volumes"])
    await spawner.stop(now=True)


# -- bad config fails when the spawner is configured ---------------------------------------------


@pytest.mark.parametrize(
    "traits, message",
    [
        (
            {"storage_capacity": "ten gigs"},
            "storage_capacity: 'ten gigs' is not a Kubernetes quantity",
        ),
        ({"workspace_mount_path": "home/jovyan"}, "workspace_mount_path must be an absolute path"),
        ({"volume_populate_source": "/opt/../etc"}, "volume_populate_source must not contain '..'"),
        (
            {"workspace_volumes": {"data": {"mount_path": "/home/jovyan", "capacity": "1Gi"}}},
            "are both mounted at /home/jovyan",
        ),
        ({"workspace_sub_path": "../x"}, "workspace_sub_path must not contain '..'"),
        ({"volume_reset_marker": "a/b"}, "volume_reset_marker must be a file name"),
    ],
)
async def test_bad_config_is_refused(make_spawner, traits, message):
    with pytest.raises(TraitError, match=message):
        make_spawner(**traits)


async def test_two_volumes_on_one_path_in_config(make_spawner):
    from traitlets.config import Config

    config = Config()
    config.WorkspaceSpawner.shared_volumes = {"c": {"claim": "x", "mount_path": "/data"}}
    config.WorkspaceSpawner.workspace_volumes = {"d": {"mount_path": "/data/", "capacity": "1Gi"}}
    with pytest.raises(TraitError, match="are both mounted at /data"):
        make_spawner(config=config)
